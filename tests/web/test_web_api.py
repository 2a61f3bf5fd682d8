"""The HTTP API against a real server on a loopback port."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from webclient import get, multipart, npy_bytes, post_form, request

import emrestore

DM3 = "formats/test_STEM_image.dm3"


def noisy_image(shape=(200, 300), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[-2], : shape[-1]]
    clean = 100 + 50 * np.sin(x / 7.0) * np.cos(y / 5.0)
    return (clean + rng.normal(0, 10, size=shape)).astype(np.float32)


def fetch_tif(server, url: str, tmp_path: Path, name: str = "result.tif") -> emrestore.EMImage:
    reply = get(server.url, url)
    assert reply.status == 200
    assert reply.headers["content-type"] == "image/tiff"
    path = tmp_path / name
    path.write_bytes(reply.body)
    return emrestore.read(path)


def assert_error(reply, status: int, *words: str) -> str:
    assert reply.status == status, reply.body
    message = reply.json()["error"]
    assert "Traceback" not in message and 'File "' not in message
    for word in words:
        assert word in message, message
    return message


# ------------------------------------------------------------------ the main path
def test_restore_dm3_keeps_calibration(server, shared, models_dir, tmp_path):
    source = shared(DM3)
    reply = post_form(server.url, "/api/restore", files={"file": (source.name, source.read_bytes())})
    assert reply.status == 200, reply.body
    result = reply.json()
    assert {"model", "shape", "pixel_size", "unit", "input_png", "result_png", "result_tif"} <= set(result)
    # STEM at 0.2485 nm/px is morphology scale -> lrstem, chosen from the file's metadata
    assert result["model"] == "lrstem"
    assert "0.249 nm/px" in result["model_reason"]
    assert result["shape"] == [68, 68]
    assert result["pixel_size"] == pytest.approx(0.2485, abs=1e-4)
    assert result["unit"] == "nm"

    restored = fetch_tif(server, result["result_tif"], tmp_path)
    assert restored.shape == (68, 68)
    assert restored.pixel_size == pytest.approx(0.2485, abs=1e-4)
    assert restored.unit == "nm" and restored.modality == "stem"
    record = restored.metadata["restoration"]
    assert record["model"] == "lrstem" and record["input_file"] == "test_STEM_image.dm3"
    # the same numbers as the library gives with the same model
    expected = emrestore.restore(emrestore.read(source), model=models_dir / "lrstem.onnx", progress=False)
    np.testing.assert_allclose(restored.data, expected.data, rtol=1e-5, atol=1e-4)
    assert not np.allclose(restored.data, emrestore.read(source).data)

    for key in ("input_png", "result_png"):
        png = get(server.url, result[key])
        assert png.status == 200 and png.headers["content-type"] == "image/png"
        image = Image.open(io.BytesIO(png.body))
        assert image.size == (68, 68) and image.mode == "L"
    assert result["model_chosen_by"] == "automatic"

    # what the page draws from: the frames as raw float32, and their robust display ranges
    original = emrestore.read(source).data
    for key, data in (("input", original), ("result", restored.data)):
        raw = get(server.url, result[f"{key}_f32"])
        assert raw.status == 200 and raw.headers["content-type"] == "application/octet-stream"
        shown = result[f"{key}_display"]
        assert shown["shape"] == [68, 68]
        np.testing.assert_array_equal(np.frombuffer(raw.body, "<f4").reshape(68, 68), data)
        low, high = np.percentile(data, [0.5, 99.5])
        assert (shown["range"]["low"], shown["range"]["high"]) == pytest.approx((low, high), rel=1e-6)
        assert (shown["range"]["min"], shown["range"]["max"]) == (float(data.min()), float(data.max()))


def test_hspy_download_keeps_calibration_and_is_written_once(server, shared, tmp_path):
    source = shared(DM3)
    result = post_form(server.url, "/api/restore", files={"file": (source.name, source.read_bytes())}).json()
    job_folder = server.store.root / result["job"]
    assert not (job_folder / "result.hspy").exists()  # written only for those who ask
    replies = []
    threads = [threading.Thread(target=lambda: replies.append(get(server.url, result["result_hspy"] + "?download=1")))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [r.status for r in replies] == [200, 200]
    assert replies[0].body == replies[1].body
    assert replies[0].headers["content-disposition"] == "attachment; filename=test_STEM_image_restored.hspy"
    path = tmp_path / "restored.hspy"
    path.write_bytes(replies[0].body)
    restored = emrestore.read(path)
    assert restored.shape == (68, 68) and restored.unit == "nm" and restored.modality == "stem"
    assert restored.pixel_size == pytest.approx(0.2485, abs=1e-4)
    assert restored.metadata["restoration"]["model"] == "lrstem"
    np.testing.assert_array_equal(restored.data, fetch_tif(server, result["result_tif"], tmp_path).data)
    assert sorted(p.name for p in job_folder.iterdir()) == ["result.f32", "result.hspy", "result.png", "result.tif"]
    # an upload has no HyperSpy file
    upload = result["input_png"].split("/")[3]
    assert_error(get(server.url, f"/api/files/{upload}/result.hspy"), 404)


def test_job_reports_its_phase_and_progress(server, gate):
    """While the network runs the job says "restoring", with tiles counted; done, no phase."""
    data = np.stack([noisy_image((48, 64), seed=s) for s in range(3)])
    job = post_form(server.url, "/api/restore", {"wait": "0"}, {"file": ("s.npy", npy_bytes(data))}).json()["job"]
    try:
        assert gate.inside.acquire(timeout=120)
        status = get(server.url, f"/api/jobs/{job}").json()
        assert status["state"] == "running" and status["phase"] == "restoring"
        # one tile per frame: the page counts frames
        assert (status["frames"], status["tiles_total"], status["tiles_done"]) == (3, 3, 0)
    finally:
        gate.release.set()
    deadline = time.monotonic() + 120  # never reached unless the job is stuck
    while (status := get(server.url, f"/api/jobs/{job}").json())["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status["state"] == "done" and status["phase"] == "" and status["tiles_done"] == 3
    # a series is shown as its montage, as in the PNG
    assert status["result"]["result_display"]["shape"] == [2 * 48 + 2, 2 * 64 + 2]


def test_download_names_come_from_the_upload_but_never_make_paths(server, tmp_path):
    data = noisy_image((64, 80))
    reply = post_form(server.url, "/api/restore",
                      files={"file": ("../../etc/Probe 7 (HAADF).npy", npy_bytes(data))})
    assert reply.status == 200, reply.body
    url = reply.json()["result_tif"]
    download = get(server.url, url + "?download=1")
    assert download.status == 200
    assert download.headers["content-disposition"] == "attachment; filename=Probe_7_HAADF_restored.tif"
    inline = get(server.url, url)
    assert "attachment" not in inline.headers.get("content-disposition", "")
    # only server-made names exist in the server's folder; nothing escaped it
    names = {p.name for p in server.store.root.rglob("*") if p.is_file()}
    assert names == {"upload.npy", "input.png", "input.f32", "result.tif", "result.png", "result.f32"}
    assert not (tmp_path.parent / "etc").exists()


def test_model_and_tile_can_be_chosen(server, models_dir, tmp_path):
    data = noisy_image((200, 300))
    files = {"file": ("frame.npy", npy_bytes(data))}
    tiled = post_form(server.url, "/api/restore", {"model": "hrstem", "tile": "160"}, files).json()
    whole = post_form(server.url, "/api/restore", {"model": "hrstem", "tile": "whole"}, files).json()
    assert tiled["model"] == whole["model"] == "hrstem" and tiled["model_reason"] == "chosen by the user"
    assert tiled["model_chosen_by"] == whole["model_chosen_by"] == "user"
    assert (tiled["tile"], whole["tile"]) == (160, 0)
    a = fetch_tif(server, tiled["result_tif"], tmp_path, "a.tif")
    b = fetch_tif(server, whole["result_tif"], tmp_path, "b.tif")
    assert a.pixel_size is None  # an .npy carries no calibration, and none is invented
    # receptive field 9 px < overlap/4: tiled and whole-image results agree
    np.testing.assert_allclose(a.data, b.data, rtol=1e-4, atol=1e-3)
    expected = emrestore.restore(data, model=models_dir / "hrstem.onnx", tile=0, progress=False)
    np.testing.assert_allclose(b.data, expected, rtol=1e-5, atol=1e-4)


def test_inspect_then_restore_with_progress(server):
    data = noisy_image((200, 300))
    info = post_form(server.url, "/api/inspect", files={"file": ("scan.npy", npy_bytes(data))}).json()
    assert info["shape"] == [200, 300] and info["frames"] == 1 and info["dtype"] == "float32"
    assert info["pixel_size"] is None and info["model"] == "hrstem"
    assert "pixel size unknown" in info["model_reason"]
    assert get(server.url, info["input_png"]).status == 200

    started = post_form(server.url, "/api/restore", {"upload": info["upload"], "tile": "160", "wait": "0"})
    assert started.status == 202
    job_url = started.json()["status_url"]
    deadline = time.monotonic() + 120  # never reached unless the job is stuck
    while (status := get(server.url, job_url).json())["state"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status["state"] == "done", status
    # 200 x 300 px in 160-px tiles with 64 px overlap: 2 rows x 3 columns
    assert status["tiles_total"] == status["tiles_done"] == 6
    assert status["result"]["input_png"] == info["input_png"]
    assert get(server.url, status["result"]["result_png"]).status == 200


def test_series_is_restored_frame_by_frame(server, tmp_path):
    data = np.stack([noisy_image((48, 64), seed=s) for s in range(3)])
    result = post_form(server.url, "/api/restore", files={"file": ("series.npy", npy_bytes(data))}).json()
    assert result["shape"] == [3, 48, 64]
    assert fetch_tif(server, result["result_tif"], tmp_path).shape == (3, 48, 64)


def test_models_and_config(server):
    reply = get(server.url, "/api/models")
    assert reply.status == 200
    models = {m["name"]: m for m in reply.json()["models"]}
    assert set(models) >= {"hrstem", "lrstem", "hrsem"}
    assert models["hrsem"]["modality"] == "sem"
    assert all("file" not in m for m in models.values())  # no server paths
    config = get(server.url, "/api/config").json()
    assert config["max_upload_bytes"] == 512 * 10**6
    assert ".dm3" in config["extensions"] and ".ser" in config["extensions"]
    assert ".emi" not in config["extensions"]


def test_page_and_static_files(server):
    page = get(server.url, "/")
    assert page.status == 200 and b"Drop an image" in page.body
    for name in ("app.js", "style.css"):
        assert get(server.url, f"/static/{name}").status == 200
    assert get(server.url, "/static/../app.py").status == 404
    assert get(server.url, "/static/%2e%2e/app.py").status == 404


# ------------------------------------------------------------------ errors
def test_junk_upload_is_a_plain_422(server):
    reply = post_form(server.url, "/api/restore", files={"file": ("scan.dm3", b"this is not a DM3 file" * 20)})
    message = assert_error(reply, 422, "scan.dm3", "Fix:")
    assert str(server.store.root) not in message and "upload.dm3" not in message
    assert not any(server.store.root.iterdir())  # the failed upload was deleted


@pytest.mark.parametrize("filename, status, words", [
    ("notes.txt", 415, ("'.txt'", ".dm4")),
    ("no_extension", 415, ("no extension",)),
    ("acquisition.emi", 400, (".ser",)),
])
def test_unreadable_file_types(server, filename, status, words):
    assert_error(post_form(server.url, "/api/restore", files={"file": (filename, b"x" * 100)}), status, *words)


def test_bad_requests(server):
    files = {"file": ("a.npy", npy_bytes(noisy_image((32, 32))))}
    assert_error(post_form(server.url, "/api/restore", {"model": "best"}), 400, "No file")
    assert_error(post_form(server.url, "/api/restore", {"model": "nope"}, files), 400, "Unknown model", "hrstem")
    assert_error(post_form(server.url, "/api/restore", {"model": "../../x.onnx"}, files), 400, "Unknown model")
    assert_error(post_form(server.url, "/api/restore", {"tile": "big"}, files), 400, "whole number")
    assert_error(post_form(server.url, "/api/restore", {"tile": "-5"}, files), 400, "tile size")
    assert_error(post_form(server.url, "/api/restore", {"upload": "0" * 32}), 404, "expired")
    assert_error(get(server.url, "/api/jobs/../../etc"), 404)
    assert_error(get(server.url, "/api/files/" + "0" * 32 + "/result.tif"), 404)
    assert_error(get(server.url, "/api/nothing"), 404, "nothing at this address")
    assert_error(get(server.url, "/api/restore"), 405)


def test_oversize_upload_is_413(make_server):
    server = make_server(max_upload_mb=0.5)
    reply = post_form(server.url, "/api/restore", files={"file": ("big.npy", npy_bytes(noisy_image((600, 600))))})
    assert_error(reply, 413, "1.44 MB", "0.5 MB", "--max-upload-mb")
    # without a Content-Length (chunked upload) the limit holds while reading
    body, content_type = multipart(files={"file": ("big.npy", npy_bytes(noisy_image((600, 600))))})
    chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
    reply = request(server.url, "POST", "/api/restore", body=chunks,
                    headers={"Content-Type": content_type, "Transfer-Encoding": "chunked"})
    assert_error(reply, 413, "too large", "0.5 MB")
    assert get(server.url, "/api/models").status == 200  # the server is fine afterwards


def test_server_fault_is_500_json_without_traceback(server, monkeypatch):
    from emrestore.web import jobs as jobs_module

    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail at /srv/emrestore/x.py line 3")

    monkeypatch.setattr(jobs_module, "_progress", broken)
    reply = post_form(server.url, "/api/restore", files={"file": ("a.npy", npy_bytes(noisy_image((32, 32))))})
    message = assert_error(reply, 500, "RuntimeError", "server's log")
    assert "secret" not in message


def test_without_models_restore_is_503(make_server):
    server = make_server(models={})
    assert get(server.url, "/api/models").json() == {"models": []}
    reply = post_form(server.url, "/api/restore", files={"file": ("a.npy", npy_bytes(noisy_image((32, 32))))})
    assert_error(reply, 503, "--models-dir")


def test_foreign_host_names_are_refused(server):
    reply = get(server.url, "/api/models", headers={"Host": "attacker.example:8000"})
    assert_error(reply, 403, "localhost")
    assert get(server.url, "/api/models", headers={"Host": "localhost"}).status == 200


# ------------------------------------------------------------------ concurrency and clean-up
def test_two_restorations_run_at_once_and_the_api_stays_responsive(server, gate):
    """Both jobs are inside the network at the same time, and GET /api/models answers meanwhile."""
    files = {"file": ("a.npy", npy_bytes(noisy_image((40, 40))))}
    jobs = [post_form(server.url, "/api/restore", {"wait": "0"}, files).json()["job"] for _ in range(2)]
    try:
        for _ in jobs:  # both workers reach the network before either may finish
            assert gate.inside.acquire(timeout=120)
        states = [get(server.url, f"/api/jobs/{job}").json()["state"] for job in jobs]
        assert states == ["running", "running"]
        assert get(server.url, "/api/models").status == 200
    finally:
        gate.release.set()
    for job in jobs:
        deadline = time.monotonic() + 120  # never reached unless a job is stuck
        while (status := get(server.url, f"/api/jobs/{job}").json())["state"] != "done":
            assert status["state"] == "running" and time.monotonic() < deadline
            time.sleep(0.05)


def test_parallel_synchronous_requests(server):
    replies = {}

    def call(seed):
        data = noisy_image((96, 96), seed=seed)
        replies[seed] = post_form(server.url, "/api/restore", files={"file": (f"f{seed}.npy", npy_bytes(data))})

    threads = [threading.Thread(target=call, args=(seed,)) for seed in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(replies) == [0, 1, 2]
    assert all(reply.status == 200 for reply in replies.values())
    assert len({reply.json()["result_tif"] for reply in replies.values()}) == 3


def test_results_are_deleted_after_the_keep_time(make_server):
    server = make_server(keep_minutes=0.01)  # 0.6 s
    result = post_form(server.url, "/api/restore", files={"file": ("a.npy", npy_bytes(noisy_image((32, 32))))}).json()
    assert get(server.url, result["result_tif"]).status == 200
    deadline = time.monotonic() + 120  # the sweeper runs every few seconds; only a stuck one fails
    while any(server.store.root.iterdir()):
        assert time.monotonic() < deadline, "expired results were not deleted"
        time.sleep(0.1)
    assert_error(get(server.url, result["result_tif"]), 404, "expired")


def test_stopping_deletes_the_temporary_folder(make_server):
    server = make_server()
    post_form(server.url, "/api/restore", files={"file": ("a.npy", npy_bytes(noisy_image((32, 32))))})
    root = server.store.root
    assert any(root.iterdir())
    server.stop()
    assert not root.exists()
    server.stop()  # stopping twice is harmless (the fixture stops it again)


def test_raw_request_without_multipart(server):
    reply = request(server.url, "POST", "/api/restore", body=b"just bytes",
                    headers={"Content-Type": "application/octet-stream"})
    assert_error(reply, 400, "No file", "-F file=@")


def test_reader_warnings_are_passed_on_as_notes(server):
    rgb = np.zeros((40, 50, 3), np.uint8)
    rgb[..., 0] = np.arange(50, dtype=np.uint8)[None, :] * 5
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    info = post_form(server.url, "/api/inspect", files={"file": ("colour.png", buffer.getvalue())}).json()
    assert info["shape"] == [40, 50]
    assert len(info["notes"]) == 1 and "colour.png" in info["notes"][0], info["notes"]
    assert "upload.png" not in info["notes"][0]
    restored = post_form(server.url, "/api/restore", {"upload": info["upload"]})
    assert restored.status == 200, restored.body  # a PNG upload does not collide with its preview


def test_sem_data_bar_note(server, shared):
    source = shared("formats/test_tiff_Zeiss_SEM_512pix.tif")
    info = post_form(server.url, "/api/inspect", files={"file": (source.name, source.read_bytes())}).json()
    assert info["shape"] == [350, 512] and info["modality"] == "sem"
    assert info["pixel_size"] == pytest.approx(11.65, rel=1e-4) and info["unit"] == "nm"
    assert any("data bar (34 px" in note for note in info["notes"]), info["notes"]
    # 11.65 nm/px SEM asks for lrsem, which is not installed here: hrsem (same modality) is used
    assert info["model"] == "hrsem" and "lrsem model is not installed" in info["model_reason"]


def test_reason_quotes_pixel_sizes_in_sensible_units(server, tmp_path):
    coarse = emrestore.EMImage(noisy_image((64, 64)), pixel_size=2.6103e-6, unit="m", modality="sem")
    path = emrestore.write(coarse, tmp_path / "coarse.tif")
    info = post_form(server.url, "/api/inspect", files={"file": (path.name, path.read_bytes())}).json()
    assert "SEM at 2.61 µm/px" in info["model_reason"] and "e+" not in info["model_reason"]


def test_tia_ser_alone_is_enough(server, shared, tmp_path):
    source = shared("formats/128x128-TEM_search_1.ser")
    result = post_form(server.url, "/api/restore", files={"file": (source.name, source.read_bytes())}).json()
    assert result["shape"] == [128, 128] and result["unit"] == "nm"
    assert result["pixel_size"] == pytest.approx(5.26121, rel=1e-4)
    assert fetch_tif(server, result["result_tif"], tmp_path).pixel_size == pytest.approx(5.26121, rel=1e-4)

"""The web app's uncertainty map (emrestore.web.uncertainty): computed on request, once, then served."""

from __future__ import annotations

import threading

import numpy as np
from webclient import get, npy_bytes, post_form

import emrestore

MAP_FILES = ("uncertainty.f32", "uncertainty.tif")


def lattice() -> np.ndarray:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:96, :128]
    clean = 200 + 80 * np.cos(2 * np.pi * x / 6) * np.cos(2 * np.pi * y / 6)
    return rng.poisson(clean).astype(np.float32)


def restore_lattice(server) -> dict:
    reply = post_form(server.url, "/api/restore", files={"file": ("lattice.npy", npy_bytes(lattice()))})
    assert reply.status == 200, reply.body
    return reply.json()


def map_files(server, result) -> list[str]:
    return sorted(p.name for p in (server.store.root / result["job"]).iterdir() if p.name in MAP_FILES)


def assert_error(reply, status: int, *words: str) -> None:
    assert reply.status == status, (reply.status, reply.body)
    message = reply.json()["error"]
    for word in words:
        assert word in message, message


def test_a_restoration_does_not_compute_the_map(server):
    result = restore_lattice(server)
    assert map_files(server, result) == []
    assert not any(key.startswith("uncertainty_") and key != "uncertainty_url" for key in result)
    assert "uncertainty" not in result
    assert result["uncertainty_url"] == f"/api/jobs/{result['job']}/uncertainty"
    page = get(server.url, "/")
    assert b'id="compute-uncertainty"' in page.body and b"cv-uncertainty" in page.body


def test_the_request_computes_the_map_once_and_serves_it_afterwards(server, models_dir, tmp_path):
    result = restore_lattice(server)
    first = post_form(server.url, result["uncertainty_url"])
    assert first.status == 200, first.body
    described = first.json()
    assert described["job"] == result["job"]
    assert described["uncertainty"]["units"].startswith("input intensity units")
    assert map_files(server, result) == list(MAP_FILES)
    tif = server.store.root / result["job"] / "uncertainty.tif"
    written = (tif.stat().st_ino, tif.stat().st_mtime_ns)
    # served from the files: nothing is written again (an atomic rewrite would be a new inode)
    again = post_form(server.url, result["uncertainty_url"])
    assert again.status == 200 and again.json() == described
    assert (tif.stat().st_ino, tif.stat().st_mtime_ns) == written
    # the job's result now carries the map too
    status = get(server.url, f"/api/jobs/{result['job']}").json()
    assert {key: status["result"][key] for key in described if key != "job"} == {
        key: value for key, value in described.items() if key != "job"}

    reply = get(server.url, described["uncertainty_tif"] + "?download=1")
    assert reply.status == 200 and reply.headers["content-type"] == "image/tiff"
    assert "lattice_uncertainty.tif" in reply.headers["content-disposition"]
    (tmp_path / "u.tif").write_bytes(reply.body)
    umap = emrestore.read(tmp_path / "u.tif")
    assert umap.shape == (96, 128) and np.ptp(umap.data) > 0 and np.all(umap.data >= 0)
    assert umap.metadata["uncertainty"]["method"].startswith("uncertainty")
    assert umap.metadata["uncertainty_of"] == "lattice_restored.tif"
    # the same map as the library's for the same restoration
    _, expected = emrestore.restore(lattice(), model=models_dir / f"{result['model']}.onnx",
                                    uncertainty=True, progress=False)
    np.testing.assert_array_equal(umap.data, expected.total)
    raw = get(server.url, described["uncertainty_f32"])
    assert raw.status == 200
    frame = np.frombuffer(raw.body, "<f4").reshape(described["uncertainty_display"]["shape"])
    np.testing.assert_array_equal(frame, umap.data)


def test_requests_at_the_same_time_share_one_computation(server):
    result = restore_lattice(server)
    replies = []
    threads = [threading.Thread(target=lambda: replies.append(post_form(server.url, result["uncertainty_url"])))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [r.status for r in replies] == [200, 200, 200]
    assert replies[0].json() == replies[1].json() == replies[2].json()


def test_downloading_the_tiff_computes_the_map_first(server, tmp_path):
    result = restore_lattice(server)
    url = f"/api/files/{result['job']}/uncertainty.tif"
    reply = get(server.url, url + "?download=1")
    assert reply.status == 200 and reply.headers["content-type"] == "image/tiff"
    assert map_files(server, result) == list(MAP_FILES)
    (tmp_path / "u.tif").write_bytes(reply.body)
    assert emrestore.read(tmp_path / "u.tif").shape == (96, 128)
    # an upload has no uncertainty map
    upload = result["input_png"].split("/")[3]
    assert_error(get(server.url, f"/api/files/{upload}/uncertainty.tif"), 404, "no file")


def test_unknown_expired_or_unfinished_jobs_get_a_clear_error(server):
    assert_error(post_form(server.url, f"/api/jobs/{'0' * 32}/uncertainty"), 404, "does not exist or has expired")
    assert_error(post_form(server.url, "/api/jobs/not-an-id/uncertainty"), 404, "expired")
    result = restore_lattice(server)
    upload = result["input_png"].split("/")[3]
    # an upload id is not a restoration
    assert_error(post_form(server.url, f"/api/jobs/{upload}/uncertainty"), 404, "restoration")
    # the input is read again for the map: once its upload expired, the map cannot be made
    server.store.remove(upload)
    assert_error(post_form(server.url, result["uncertainty_url"]), 404, "uploaded file", "expired")
    server.store.remove(result["job"])
    assert_error(post_form(server.url, result["uncertainty_url"]), 404, "restoration", "expired")
    assert_error(get(server.url, f"/api/files/{result['job']}/uncertainty.tif"), 404, "expired")


def test_a_running_job_has_no_map_yet(server, gate):
    started = post_form(server.url, "/api/restore", {"wait": "0"}, {"file": ("l.npy", npy_bytes(lattice()))})
    job = started.json()["job"]
    try:
        assert gate.inside.acquire(timeout=120)
        assert_error(post_form(server.url, f"/api/jobs/{job}/uncertainty"), 409, "has not finished yet")
    finally:
        gate.release.set()

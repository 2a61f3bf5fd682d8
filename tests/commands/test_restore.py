"""`emrestore restore` and `emrestore models` on the command line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import emrestore
from emrestore.cli import main


def _tiff(path, shape=(48, 40), pixel=0.05):
    rng = np.random.default_rng(0)
    emrestore.write(emrestore.EMImage(rng.poisson(50, shape).astype(np.float32), pixel_size=pixel,
                                      unit="nm", modality="stem", metadata={"voltage_kV": 200.0}), path)
    return path


def test_restore_file_keeps_calibration_and_records_provenance(shared, tmp_path, stats_model, capsys):
    source = shared("formats/test_STEM_image.dm3")
    assert main(["restore", str(source), "-o", str(tmp_path / "out"), "--model", str(stats_model)]) == 0
    out = tmp_path / "out" / "test_STEM_image_restored.tif"
    restored = emrestore.read(out)
    original = emrestore.read(source)
    assert restored.shape == original.shape
    assert restored.pixel_size == original.pixel_size and restored.unit == "nm"
    assert restored.modality == "stem" and restored.metadata["voltage_kV"] == pytest.approx(200.0)
    assert restored.metadata["restoration"]["model"] == "stats_model"
    assert "stats_model" in capsys.readouterr().out


@pytest.mark.parametrize("fmt", ["hspy", "png"])
def test_restore_other_formats(tmp_path, stats_model, fmt):
    source = _tiff(tmp_path / "a.tif")
    assert main(["restore", str(source), "--model", str(stats_model), "--format", fmt]) == 0
    back = emrestore.read(tmp_path / f"a_restored.{fmt}")
    assert back.pixel_size == 0.05 and back.unit == "nm"
    assert back.metadata["restoration"]["model"] == "stats_model"


def test_output_file_name_for_one_input(tmp_path, stats_model, capsys):
    source = _tiff(tmp_path / "a.tif")
    out = tmp_path / "clean.hspy"
    assert main(["restore", str(source), "--model", str(stats_model), "-o", str(out)]) == 0
    assert out.is_file() and emrestore.read(out).pixel_size == 0.05  # a file, format from its suffix
    second = _tiff(tmp_path / "b.tif")
    assert main(["restore", str(source), str(second), "--model", str(stats_model), "-o",
                 str(tmp_path / "x.tif")]) == 2
    assert "names one file" in capsys.readouterr().err
    assert not (tmp_path / "x.tif").exists()


def test_folder_with_a_bad_file_goes_on_and_fails(tmp_path, stats_model, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    _tiff(folder / "good1.tif")
    _tiff(folder / "good2.tif", shape=(33, 65))
    (folder / "broken.dm3").write_bytes(b"junk" * 10)
    (folder / "notes.txt").write_text("not an image")
    status = main(["restore", str(folder), "-o", str(tmp_path / "out"), "--model", str(stats_model)])
    assert status != 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good1_restored.tif", "good2_restored.tif"]
    err = capsys.readouterr().err
    assert "broken.dm3" in err and "notes.txt" not in err


def test_glob_and_refusal_to_overwrite(tmp_path, stats_model, capsys):
    _tiff(tmp_path / "x1.tif")
    _tiff(tmp_path / "x2.tif")
    assert main(["restore", str(tmp_path / "x*.tif"), "--model", str(stats_model)]) == 0
    assert (tmp_path / "x1_restored.tif").exists() and (tmp_path / "x2_restored.tif").exists()
    assert main(["restore", str(tmp_path / "x1.tif"), "--model", str(stats_model)]) != 0
    assert "already exists" in capsys.readouterr().err
    assert main(["restore", str(tmp_path / "x1.tif"), "--model", str(stats_model), "--overwrite"]) == 0
    # a later run over the folder does not restore the outputs again
    from emrestore.restoration.inputs import expand_inputs

    files, _ = expand_inputs([str(tmp_path)])
    assert sorted(p.name for p in files) == ["x1.tif", "x2.tif"]


def test_emi_and_its_ser_are_restored_once(shared, tmp_path):
    from emrestore.restoration.inputs import expand_inputs

    for name in ("128x128-TEM_search.emi", "128x128-TEM_search_1.ser"):
        shutil.copy(shared(f"formats/{name}"), tmp_path / name)
    files, _ = expand_inputs([str(tmp_path)])
    assert [p.name for p in files] == ["128x128-TEM_search.emi"]


def test_unmatched_glob_and_unknown_model(tmp_path, capsys):
    assert main(["restore", str(tmp_path / "nothing*.dm4")]) != 0
    assert "no file matches" in capsys.readouterr().err
    _tiff(tmp_path / "a.tif")
    assert main(["restore", str(tmp_path / "a.tif"), "--model", "nonsense"]) != 0
    err = capsys.readouterr().err
    assert "Unknown model" in err and len(err.strip().splitlines()) == 1


def test_models_json_lists_shipped_models(capsys):
    assert main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    from emrestore.restoration import shipped_models

    assert [m["name"] for m in listed] == [m.name for m in shipped_models()]


# --- outputs: checks before the restoration, OS errors, collisions, interrupts (issue 21) ---


def _npy(path, shape=(40, 48), seed=0):
    np.save(path, np.random.default_rng(seed).poisson(50, shape).astype(np.float32))
    return path


def _errors(err):
    return [line for line in err.splitlines() if "error:" in line]


def _no_part_files(*folders):
    return all(not any(".part" in p.name for p in folder.iterdir()) for folder in folders)


def _never_restore(monkeypatch):
    import emrestore.restoration

    def restore(*args, **kwargs):
        raise AssertionError("the restoration ran although the output cannot be written")

    monkeypatch.setattr(emrestore.restoration, "restore", restore)


def test_a_full_disk_is_found_before_the_restoration(tmp_path, stats_model, monkeypatch, capsys):
    import shutil

    source = _npy(tmp_path / "a.npy")
    _never_restore(monkeypatch)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10**9, 10**9 - 4096, 4096))
    assert main(["restore", str(source), "--model", str(stats_model)]) == 2
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1 and "disk is full" in errors[0] and "Fix:" in errors[0]


def test_read_only_output_folder(tmp_path, stats_model, monkeypatch, capsys):
    source = _npy(tmp_path / "a.npy")
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        if os.access(out, os.W_OK):
            pytest.skip("running as root: a 0o500 folder stays writable (the RLIMIT_FSIZE tests cover OS errors)")
        _never_restore(monkeypatch)
        assert main(["restore", str(source), "-o", str(out), "--model", str(stats_model)]) == 2
        errors = _errors(capsys.readouterr().err)
        assert len(errors) == 1 and "no permission" in errors[0] and "Fix:" in errors[0]
        assert list(out.iterdir()) == []
    finally:
        out.chmod(0o700)


LIMITED_RESTORE = """
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
    from emrestore.cli import main
    sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("fmt", ["tif", "hspy"])
def test_a_disk_filling_up_fails_one_file_and_the_batch_goes_on(tmp_path, stats_model, fmt):
    """A real EFBIG (file-size limit) on the write: one line, no segfault (HSPY), no .part, the rest goes on."""
    big = _npy(tmp_path / "big.npy", (256, 256))  # ~256 KiB restored: over the limit
    small = _npy(tmp_path / "small.npy", (24, 24), seed=1)  # ~3 KiB: under it
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(LIMITED_RESTORE), "40000", "restore", str(big), str(small),
         "-o", str(out), "--model", str(stats_model), "--format", fmt],
        check=False, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])  # not -11 (h5py's segfault)
    assert "Traceback" not in proc.stderr
    errors = _errors(proc.stderr)
    assert len(errors) == 1 and "big.npy" in errors[0] and "limit" in errors[0] and "Fix:" in errors[0]
    assert sorted(p.name for p in out.iterdir()) == [f"small_restored.{fmt}"]
    assert emrestore.read(out / f"small_restored.{fmt}").shape == (24, 24)


def test_a_255_byte_input_name_fails_before_the_restoration_and_the_batch_goes_on(tmp_path, stats_model,
                                                                                  capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    long_name = "x" * 251 + ".npy"  # 255 bytes: <stem>_restored.tif would be 264
    _npy(folder / long_name)
    _npy(folder / ("y" * 240 + ".npy"))  # its output fits (253 bytes), its temporary name must too
    _npy(folder / "z.npy")
    status = main(["restore", str(folder), "--model", str(stats_model)])
    assert status == 2
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1 and "name is too long" in errors[0] and "Fix:" in errors[0]
    assert (folder / "z_restored.tif").is_file() and (folder / ("y" * 240 + "_restored.tif")).is_file()
    assert _no_part_files(folder)


def test_o_naming_the_input_an_existing_file_or_a_symlink_loop(tmp_path, stats_model, capsys):
    source = _npy(tmp_path / "a.npy")
    tif = _tiff(tmp_path / "b.tif")
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    loop_tif = tmp_path / "loop.tif"
    loop_tif.symlink_to("loop.tif")
    cases = [([str(source), "-o", str(source)], "input"),
             ([str(tif), "-o", str(tif), "--overwrite"], "input"),
             ([str(source), "-o", str(notes)], "existing file"),
             ([str(source), "-o", str(loop)], "loop"),
             ([str(source), "-o", str(loop_tif), "--overwrite"], "loop")]
    for args, words in cases:
        assert main(["restore", *args, "--model", str(stats_model)]) == 2, args
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and words in err and "Fix:" in err, (args, err)
    assert notes.read_text() == "keep me"
    assert np.load(source).shape == (40, 48)
    # an output name that is a symlink loop inside the output folder
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_restored.tif").symlink_to("a_restored.tif")
    assert main(["restore", str(source), "-o", str(out), "--model", str(stats_model), "--overwrite"]) == 2
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1 and "loop" in errors[0]


def test_out_of_memory_is_one_line_and_the_batch_goes_on(tmp_path, stats_model, monkeypatch, capsys):
    import emrestore.restoration

    first = _npy(tmp_path / "first.npy")
    second = _npy(tmp_path / "second.npy", seed=1)
    real = emrestore.restoration.restore

    def restore(image, *args, **kwargs):
        if "first" in str(image.source):
            raise MemoryError
        return real(image, *args, **kwargs)

    monkeypatch.setattr(emrestore.restoration, "restore", restore)
    assert main(["restore", str(first), str(second), "--model", str(stats_model)]) == 2
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1 and "first.npy" in errors[0] and "not enough memory" in errors[0]
    assert "--tile" in errors[0]
    assert (tmp_path / "second_restored.tif").is_file() and not (tmp_path / "first_restored.tif").exists()


def test_inputs_with_the_same_stem_never_share_an_output(tmp_path, stats_model, capsys):
    """a.npy, a.png, a.tif used to be written, in turn, to a_restored.tif, all reported done."""
    folder = tmp_path / "in"
    folder.mkdir()
    _npy(folder / "a.npy", (40, 48))
    rng = np.random.default_rng(2)
    for name, shape in (("a.png", (24, 40)), ("a.tif", (32, 56))):
        emrestore.write(emrestore.EMImage(rng.poisson(50, shape).astype(np.float32), pixel_size=0.05, unit="nm",
                                          modality="stem"), folder / name)
    out = tmp_path / "out"
    for _ in range(2):  # the same names again with --overwrite
        assert main(["restore", str(folder), "-o", str(out), "--model", str(stats_model), "--overwrite"]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert len(lines) == 3
        shapes = {p.name: emrestore.read(p).shape for p in out.iterdir()}
        assert shapes == {"a_restored.tif": (40, 48), "a.png_restored.tif": (24, 40),
                          "a.tif_restored.tif": (32, 56)}
    # three folders' a.tif into one output folder: the third has no free name and is refused
    sources = []
    for index in range(3):
        (tmp_path / f"d{index}").mkdir()
        sources.append(str(_tiff(tmp_path / f"d{index}" / "a.tif", shape=(40 + 8 * index, 40))))
    out2 = tmp_path / "out2"
    assert main(["restore", *sources, "-o", str(out2), "--model", str(stats_model), "--overwrite"]) == 2
    captured = capsys.readouterr()
    errors = _errors(captured.err)
    assert len(errors) == 1 and "d2" in errors[0] and "already written by" in errors[0]
    assert {p.name: emrestore.read(p).shape for p in out2.iterdir()} == {"a_restored.tif": (40, 40),
                                                                         "a.tif_restored.tif": (48, 40)}


def test_an_empty_input_name_is_refused(tmp_path, stats_model, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _npy(tmp_path / "a.npy")
    for blank in ("", "   "):
        assert main(["restore", blank, "--model", str(stats_model)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "empty name" in err and "Fix:" in err
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".json" and p.suffix != ".onnx") == ["a.npy"]


def test_a_folder_with_nothing_to_restore_says_why(tmp_path, stats_model, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["restore", str(empty), "--model", str(stats_model)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "nothing to restore" in err and "empty" in err
    done = tmp_path / "done"
    done.mkdir()
    _tiff(done / "a_restored.tif")
    _tiff(done / "b_restored.tif")
    assert main(["restore", str(done), "--model", str(stats_model)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "2 earlier outputs" in err


BLOCKING_RESTORE = """
    import sys, time
    from pathlib import Path
    import emrestore.io.tiff as tiff
    import emrestore.restoration as restoration

    phase = sys.argv[1]

    def wait_forever():
        while True:
            time.sleep(0.02)

    if phase == "restoring":
        def restore(*args, **kwargs):
            print("restoring now", file=sys.stderr, flush=True)
            wait_forever()
        restoration.restore = restore
    else:
        def write_tiff(image, path):  # half a file in the temporary path, then wait
            with open(path, "wb") as stream:
                stream.write(b"II*\\0" + bytes(4096))
            wait_forever()
        tiff.write_tiff = write_tiff
    from emrestore.cli import main
    sys.exit(main(sys.argv[2:]))
"""


def _wait_for(condition, proc, what, limit_s=120.0):
    """Poll until ``condition()``; a generous limit only guards against a hang."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert proc.poll() is None, f"the process ended before {what}: {proc.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, f"no {what} within {limit_s} s"
        time.sleep(0.02)


@pytest.mark.parametrize(("signame", "phase", "status"), [("SIGTERM", "writing", 143), ("SIGINT", "writing", 130),
                                                          ("SIGTERM", "restoring", 143)])
def test_a_signal_mid_write_or_mid_restoration_leaves_no_part_file(tmp_path, stats_model, signame, phase, status):
    source = _npy(tmp_path / "a.npy")
    out = tmp_path / "out"
    out.mkdir()
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(BLOCKING_RESTORE), phase, "restore",
                                 str(source), "-o", str(out), "--model", str(stats_model)],
                                stdout=subprocess.DEVNULL, stderr=err, text=True)
    try:
        if phase == "writing":
            _wait_for(lambda: any(".part" in p.name for p in out.iterdir()), proc, "a .part file")
        else:
            _wait_for(lambda: "restoring now" in log.read_text(), proc, "the restoration")
        proc.send_signal(getattr(signal, signame))
        assert proc.wait(timeout=120) == status
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = log.read_text().strip().splitlines()
    assert "Traceback" not in log.read_text()
    assert lines[-1].startswith("emrestore restore: ") and signame in lines[-1]
    assert list(out.iterdir()) == []


def test_sigterm_during_a_real_restoration(tmp_path, stats_model):
    """Unpatched: SIGTERM once the tile progress shows; whenever it lands, no .part is left."""
    source = _npy(tmp_path / "big.npy", (1536, 1536))
    out = tmp_path / "out"
    out.mkdir()
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "emrestore", "restore", str(source), "-o", str(out),
                                 "--model", str(stats_model), "--tile", "64", "--overlap", "16"],
                                stdout=subprocess.DEVNULL, stderr=err, text=True)
    try:
        _wait_for(lambda: "tiles" in log.read_text() or proc.poll() is not None, proc, "the tile progress")
        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    print("exit status", returncode)
    assert returncode in (143, 0), log.read_text()[-2000:]  # 0: it had finished before the signal landed
    assert "Traceback" not in log.read_text()
    assert _no_part_files(out)
    if returncode == 143:
        assert log.read_text().strip().splitlines()[-1] == "emrestore restore: stopped by SIGTERM."
    for written in out.iterdir():  # a result, if any, is complete
        assert emrestore.read(written).shape == (1536, 1536)


def test_a_file_that_hangs_its_parser_costs_one_error_and_the_batch_goes_on(shared, tmp_path, stats_model,
                                                                            capsys):
    # a damaged HyperSpy header that makes h5py loop forever (found by the reader fuzzing)
    folder = tmp_path / "in"
    folder.mkdir()
    data = bytearray(shared("formats/example2_v3.1.hspy").read_bytes())
    data[2140:2140 + 3391] = bytes(3391)
    (folder / "a_damaged.hspy").write_bytes(bytes(data))
    _tiff(folder / "b_good.tif")
    status = main(["restore", str(folder), "-o", str(tmp_path / "out"), "--model", str(stats_model),
                   "--read-timeout", "10"])  # long enough for the good file on a loaded machine
    assert status == 2
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["b_good_restored.tif"]
    err = capsys.readouterr().err
    assert "a_damaged.hspy" in err and "took longer than 10 s" in err


def test_max_pixels_refuses_a_large_declared_image(tmp_path, stats_model, capsys):
    _tiff(tmp_path / "frame.tif", shape=(64, 80))
    status = main(["restore", str(tmp_path / "frame.tif"), "--model", str(stats_model), "--max-pixels", "1000"])
    assert status == 2
    assert "64 × 80" in capsys.readouterr().err
    assert main(["restore", str(tmp_path / "frame.tif"), "--model", str(stats_model), "--max-pixels", "0"]) == 2


def test_device_choices_default_to_auto(tmp_path, stats_model, capsys):
    source = _npy(tmp_path / "a.npy")
    assert main(["restore", str(source), "--model", str(stats_model), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["status"] == "restored"
    restored = emrestore.read(tmp_path / "a_restored.tif")
    assert restored.metadata["restoration"]["device"] in ("cpu", "cuda")
    with pytest.raises(SystemExit):
        main(["restore", str(source), "--device", "gpu"])
    assert "invalid choice" in capsys.readouterr().err


def test_blockwise_options_are_checked(tmp_path, stats_model, capsys):
    source = _npy(tmp_path / "a.npy")
    assert main(["restore", str(source), "--chunk", "100"]) == 2
    assert "multiple of 16" in capsys.readouterr().err
    assert main(["restore", str(source), "--blockwise", "--format", "png"]) == 2
    assert "tiled TIFF" in capsys.readouterr().err
    assert main(["restore", str(source), "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "both were given" in capsys.readouterr().err
    assert not (tmp_path / "a_restored.tif").exists()


def test_chunk_restores_block_by_block_into_a_calibrated_tiled_tiff(tmp_path, stats_model, capsys):
    import tifffile

    rng = np.random.default_rng(3)
    frame = rng.poisson(60, (300, 260)).astype(np.float32)
    emrestore.write(emrestore.EMImage(frame, pixel_size=0.07, unit="nm", modality="stem"), tmp_path / "a.hspy")
    assert main(["restore", str(tmp_path / "a.hspy"), "--model", str(stats_model), "--chunk", "128",
                 "-o", str(tmp_path / "blocks"), "--json"]) == 0
    record = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert record["status"] == "restored"
    assert main(["restore", str(tmp_path / "a.hspy"), "--model", str(stats_model), "-o", str(tmp_path / "whole")]) == 0
    blocks = emrestore.read(tmp_path / "blocks" / "a_restored.tif")
    whole = emrestore.read(tmp_path / "whole" / "a_restored.tif")
    assert (blocks.pixel_size, blocks.unit, blocks.modality) == (0.07, "nm", "stem")
    assert blocks.metadata["restoration"]["blockwise"] == {"chunk_px": 128, "halo_px": 32}
    # block by block equals whole up to the whole-frame steps, which need the whole frame
    restorer = emrestore.load_model(str(stats_model), progress=False)
    finished = restorer.whole_frame_steps(restorer.normalisation(frame)[0], blocks.data)
    assert np.abs(finished - whole.data).max() < 1e-5 * frame.std()
    with tifffile.TiffFile(tmp_path / "blocks" / "a_restored.tif") as tif:
        assert tif.pages[0].is_tiled and tif.pages[0].tilewidth == 128
    assert not [p for p in (tmp_path / "blocks").iterdir() if ".part" in p.name]

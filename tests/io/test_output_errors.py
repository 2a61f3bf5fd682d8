"""Output errors: every OS error on writing is an OutputWriteError with cause and fix, no crash, no .part left."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import emrestore
from emrestore.errors import OutputExistsError, OutputWriteError


def _image(shape=(64, 64)):
    data = np.random.default_rng(0).normal(100, 10, shape).astype(np.float32)
    return emrestore.EMImage(data, pixel_size=0.1, unit="nm", modality="stem", metadata={"voltage_kV": 300.0})


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def _run_limited(script: str, limit_bytes: int, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run ``script`` in a child whose file-size limit is ``limit_bytes``: writes past it fail with EFBIG.

    A real operating-system error on a real write, like a disk filling up, without root.
    """
    def limit() -> None:
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], preexec_fn=limit,
                          check=False, capture_output=True, text=True, timeout=timeout, env=env)


WRITE_UNDER_LIMIT = """
    import json, sys
    import numpy as np
    import emrestore
    data = np.random.default_rng(0).normal(100, 10, (256, 256)).astype(np.float32)
    image = emrestore.EMImage(data, pixel_size=0.1, unit="nm", metadata={"note": "x" * 100})
    try:
        emrestore.write(image, sys.argv[1])
    except Exception as error:
        print(json.dumps({"type": type(error).__name__, "oserror": isinstance(error, OSError),
                          "message": str(error)}))
        sys.exit(3)
"""


@pytest.mark.parametrize("suffix", [".tif", ".hspy", ".png", ".npy"])
def test_a_full_disk_is_an_output_write_error_not_a_crash(tmp_path, suffix):
    """HSPY used to crash the interpreter (h5py segfault); TIFF and NumPy raised a bare OSError."""
    out = tmp_path / f"frame{suffix}"
    proc = _run_limited(WRITE_UNDER_LIMIT, 16_000, str(out))
    assert proc.returncode == 3, (proc.returncode, proc.stderr[-2000:])  # not -11 (SIGSEGV)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["type"] == "OutputWriteError" and report["oserror"]
    assert "limit" in report["message"] and "Fix:" in report["message"]
    assert "\n" not in report["message"]
    assert not out.exists() and _leftovers(tmp_path) == []


def test_hspy_still_round_trips_through_memory(tmp_path):
    image = _image((40, 30))
    out = emrestore.write(image, tmp_path / "a.hspy")
    back = emrestore.read(out)
    assert back.shape == (40, 30) and back.pixel_size == pytest.approx(0.1)
    assert back.metadata["voltage_kV"] == pytest.approx(300.0)
    np.testing.assert_array_equal(back.data, image.data)


def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: a 0o500 folder stays writable (the file-size tests cover OS errors)")
        with pytest.raises(OutputWriteError, match="no permission") as caught:
            emrestore.write(_image(), folder / "a.tif")
        assert isinstance(caught.value, OSError) and "Fix:" in str(caught.value)
        from emrestore.io.atomic import check_output_path

        with pytest.raises(OutputWriteError, match="no permission"):
            check_output_path(folder / "a.tif", probe=True)
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_name_too_long_is_an_output_write_error(tmp_path):
    with pytest.raises(OutputWriteError, match="name is too long") as caught:
        emrestore.write(_image(), tmp_path / ("x" * 300 + ".tif"))
    assert "Fix:" in str(caught.value) and isinstance(caught.value, OSError)


def test_a_long_but_valid_name_is_written(tmp_path):
    """The temporary name (``.<stem>.XXXXXXXX.part.tif``) used to exceed the limit when the name did not."""
    name = "y" * 246 + ".tif"  # 250 bytes: fits; 265 with the old temporary-name decoration
    out = emrestore.write(_image(), tmp_path / name)
    assert out.name == name and emrestore.read(out).shape == (64, 64)
    assert _leftovers(tmp_path) == []


def test_symlink_loop_and_broken_paths(tmp_path):
    loop = tmp_path / "loop.tif"
    loop.symlink_to(loop.name)
    with pytest.raises(OutputWriteError, match="loop"):
        emrestore.write(_image(), loop, overwrite=True)
    dangling = tmp_path / "dangling.tif"
    dangling.symlink_to("nowhere.tif")
    with pytest.raises(OutputWriteError, match="does not exist"):
        emrestore.write(_image(), dangling, overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputWriteError, match="not a folder"):
        emrestore.write(_image(), tmp_path / "file" / "a.tif")
    with pytest.raises(OutputWriteError, match="does not exist"):
        emrestore.write(_image(), tmp_path / "missing" / "a.tif")
    (tmp_path / "folder.tif").mkdir()
    with pytest.raises(OutputWriteError, match="is a folder"):
        emrestore.write(_image(), tmp_path / "folder.tif", overwrite=True)


def test_the_input_is_never_replaced(tmp_path):
    source = emrestore.write(_image(), tmp_path / "a.tif")
    image = emrestore.read(source)
    with pytest.raises(OutputExistsError, match="input file"):
        emrestore.write(image, tmp_path / "." / "a.tif", overwrite=True)
    link = tmp_path / "link.tif"
    link.symlink_to(source)
    with pytest.raises(OutputExistsError, match="input file"):
        emrestore.write(image, link, overwrite=True)


@pytest.mark.parametrize(("code", "words"), [
    (errno.EROFS, "read-only"),
    (errno.EACCES, "no permission"),
    (errno.EPERM, "no permission"),
    (errno.ENOSPC, "disk is full"),
    (errno.EDQUOT, "quota"),
    (errno.EFBIG, "file-size limit"),
    (errno.ENAMETOOLONG, "name is too long"),
    (errno.ELOOP, "loop"),
    (errno.EIO, "input/output error"),
])
def test_each_os_error_is_named_in_plain_words(tmp_path, code, words):
    from emrestore.io.atomic import output_write_error

    error = output_write_error(OSError(code, os.strerror(code)), tmp_path / "a.tif")
    assert isinstance(error, OutputWriteError) and isinstance(error, OSError)
    assert words in error.cause and error.fix and "a.tif" in error.cause


def test_free_space_is_checked_before_writing(tmp_path, monkeypatch):
    import shutil

    from emrestore.io.atomic import check_free_space, estimate_output_bytes

    image = _image((1000, 1000))
    needed = estimate_output_bytes(image, ".tif")
    assert needed > 4_000_000 and estimate_output_bytes(image, ".png") < needed
    check_free_space(tmp_path / "a.tif", needed)  # this disk has room
    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10**9, 10**9 - 5000, 5000))
    with pytest.raises(OutputWriteError, match="disk is full"):
        check_free_space(tmp_path / "a.tif", needed)


INTERRUPT_PHASES = """
    import json, os, signal, sys, tempfile
    from pathlib import Path
    import numpy as np
    import emrestore
    import emrestore.io.tiff as tiff
    from emrestore.cli import sigterm_as_interrupt

    signum = getattr(signal, sys.argv[2])
    folder = Path(sys.argv[1])
    image = emrestore.EMImage(np.ones((64, 64), np.float32), pixel_size=0.1, unit="nm")

    def hit():
        os.kill(os.getpid(), signum)

    def after(original):
        def wrapped(*args, **kwargs):
            result = original(*args, **kwargs)
            hit()
            return result
        return wrapped

    def before(original):
        def wrapped(*args, **kwargs):
            hit()
            return original(*args, **kwargs)
        return wrapped

    targets = {"create": (tempfile, "mkstemp", after), "write": (tiff, "write_tiff", after),
               "fsync": (os, "fsync", after), "replace": (os, "replace", before)}
    results = {}
    for phase, (module, name, wrap) in targets.items():
        original = getattr(module, name)
        setattr(module, name, wrap(original))
        try:
            with sigterm_as_interrupt():
                emrestore.write(image, folder / f"{phase}.tif")
            results[phase] = "finished"
        except KeyboardInterrupt as error:
            results[phase] = type(error).__name__
        finally:
            setattr(module, name, original)
    print(json.dumps(results))
"""


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_an_interrupt_at_any_point_of_a_write_leaves_no_part_file(tmp_path, signame):
    """Each phase of the atomic write (create, write, fsync, rename) hit by a real signal."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(INTERRUPT_PHASES), str(tmp_path), signame],
                          check=False, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = "Terminated" if signame == "SIGTERM" else "KeyboardInterrupt"
    assert results == dict.fromkeys(("create", "write", "fsync", "replace"), expected)
    assert _leftovers(tmp_path) == []
    # before the rename nothing is written; a signal during the rename lets it finish
    assert sorted(p.name for p in tmp_path.iterdir()) == ["replace.tif"]
    assert emrestore.read(tmp_path / "replace.tif").shape == (64, 64)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_bytes_written_from_memory_fail_cleanly_on_a_full_device():
    """/dev/full answers every write with ENOSPC: the copy out of memory raises a plain OSError."""
    from emrestore.io.atomic import memory_file, output_write_error

    with pytest.raises(OSError) as caught, memory_file("/dev/full", chunk=4096) as buffer:
        buffer.write(b"x" * 100_000)
    assert caught.value.errno == errno.ENOSPC
    assert "disk is full" in str(output_write_error(caught.value, "/dev/full"))

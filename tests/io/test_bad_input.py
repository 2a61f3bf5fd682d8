"""Every kind of bad input gives its own error, with the cause and the fix."""

from __future__ import annotations

import numpy as np
import pytest

import emrestore
from emrestore.errors import (
    CorruptFileError,
    EmptyFileError,
    EMRestoreError,
    InputNotFoundError,
    NonFiniteDataError,
    NotAnImageError,
    UnsupportedFormatError,
)


def _hspy(path, data, axes):
    from rsciio.hspy import file_writer

    from emrestore.io.signal import image_to_signal

    signal = image_to_signal(emrestore.EMImage(np.ones((2, 2))))
    signal["data"] = data
    signal["axes"] = axes
    file_writer(str(path), signal, show_progressbar=False)
    return path


def _axis(name, size, navigate, index):
    return {"name": name, "units": "nm" if not navigate else "", "scale": 0.1, "offset": 0.0,
            "size": size, "navigate": navigate, "index_in_array": index}


def test_missing_file(tmp_path):
    with pytest.raises(InputNotFoundError, match="does not exist"):
        emrestore.read(tmp_path / "nope.dm3")


def test_a_fifo_or_a_folder_named_like_an_image_is_refused_at_once(tmp_path, capsys):
    """A FIFO named *.tif used to block `info`/`restore` forever (nothing ever writes to it)."""
    import os
    import subprocess
    import sys

    fifo = tmp_path / "frame.tif"
    os.mkfifo(fifo)
    with pytest.raises(InputNotFoundError, match="not a regular file"):
        emrestore.read(fifo)
    folder = tmp_path / "stack.dm4"
    folder.mkdir()
    with pytest.raises(InputNotFoundError, match="is a folder"):
        emrestore.read(folder)
    # the command line: one line, non-zero, and it returns (a hang would hit the timeout)
    proc = subprocess.run([sys.executable, "-m", "emrestore", "info", str(fifo)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0 and "not a regular file" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_unsupported_extension(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(UnsupportedFormatError, match=r"'\.txt' is not supported.*\.dm3"):
        emrestore.read(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.dm4"
    path.touch()
    with pytest.raises(EmptyFileError, match="0 bytes"):
        emrestore.read(path)


@pytest.mark.parametrize("relative", [
    "formats/test_STEM_image.dm3", "formats/fei_example_tem_stack.emd", "formats/HAADFscan.mrc",
    "formats/test_tiff_Zeiss_SEM_512pix.tif", "formats/example2_v3.1.hspy",
    "formats/128x128-TEM_search_1.ser", "formats/jpg_no_exif_tags.jpg",
])
def test_truncated_file(shared, tmp_path, relative):
    source = shared(relative)
    path = tmp_path / ("truncated_" + source.name)
    path.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(CorruptFileError, match="truncated|could not be"):
        emrestore.read(path)


@pytest.mark.parametrize("suffix", [".dm3", ".dm4", ".emd", ".mrc", ".tif", ".hspy", ".ser", ".png", ".npy"])
def test_random_bytes(tmp_path, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(np.random.default_rng(3).bytes(4096))
    with pytest.raises(CorruptFileError) as info:
        emrestore.read(path)
    assert "Fix:" in str(info.value)


def test_emi_without_its_ser(shared, tmp_path):
    path = tmp_path / "alone.emi"
    path.write_bytes(shared("formats/128x128-TEM_search.emi").read_bytes())
    with pytest.raises(CorruptFileError, match=r"\.ser"):
        emrestore.read(path)


def test_spectrum_is_not_an_image(tmp_path):
    path = _hspy(tmp_path / "spectrum.hspy", np.ones(100), [_axis("Energy", 100, False, 0)])
    with pytest.raises(NotAnImageError, match="spectrum"):
        emrestore.read(path)


def test_spectrum_image_is_not_an_image(tmp_path):
    axes = [_axis("y", 4, True, 0), _axis("x", 5, True, 1), _axis("Energy", 50, False, 2)]
    path = _hspy(tmp_path / "si.hspy", np.ones((4, 5, 50)), axes)
    with pytest.raises(NotAnImageError, match="spectrum image"):
        emrestore.read(path)


def test_4d_stem_is_not_an_image(tmp_path):
    axes = [_axis("y", 3, True, 0), _axis("x", 4, True, 1),
            _axis("ky", 8, False, 2), _axis("kx", 8, False, 3)]
    path = _hspy(tmp_path / "4d.hspy", np.ones((3, 4, 8, 8)), axes)
    with pytest.raises(NotAnImageError, match="4D-STEM") as info:
        emrestore.read(path)
    assert "virtual" in str(info.value)


@pytest.mark.parametrize("shape", [(10,), (2, 3, 4, 5)])
def test_npy_wrong_dimensions(tmp_path, shape):
    path = tmp_path / "bad.npy"
    np.save(path, np.ones(shape))
    with pytest.raises(NotAnImageError):
        emrestore.read(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_pixels(tmp_path, bad):
    data = np.ones((8, 8), dtype=np.float32)
    data[2, 3] = bad
    path = tmp_path / "nan.npy"
    np.save(path, data)
    with pytest.raises(NonFiniteDataError, match="1 NaN or infinite") as info:
        emrestore.read(path)
    assert "nan_to_num" in str(info.value)
    assert np.isnan(emrestore.read(path, allow_nonfinite=True).data).sum() == int(np.isnan(bad))


def test_nonfinite_tiff(tmp_path):
    import tifffile

    data = np.ones((8, 8), dtype=np.float32)
    data[0, 0] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", data)
    with pytest.raises(NonFiniteDataError):
        emrestore.read(tmp_path / "nan.tif")


def test_every_error_is_an_emrestore_error():
    for cls in (CorruptFileError, EmptyFileError, InputNotFoundError, NonFiniteDataError,
                NotAnImageError, UnsupportedFormatError):
        assert issubclass(cls, EMRestoreError)

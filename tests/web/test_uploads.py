"""emrestore.web.uploads: what may be uploaded, and reading it within the server's limits."""

from __future__ import annotations

import numpy as np
import pytest

from emrestore.errors import ParameterError
from emrestore.web.errors import WebError
from emrestore.web.uploads import (
    UPLOAD_EXTENSIONS,
    UploadReader,
    client_message,
    safe_stem,
    upload_extension,
)


def test_names_from_the_client_never_make_paths():
    assert safe_stem("../../etc/passwd.dm3") == "passwd"
    assert safe_stem("C:\\data\\Probe 7 (HAADF).dm4") == "Probe_7_HAADF"
    assert safe_stem("...") == safe_stem(None) == "image"
    assert len(safe_stem("x" * 300 + ".tif")) == 80
    assert upload_extension("Scan.DM4") == ".dm4"


@pytest.mark.parametrize(("name", "status"), [("meta.emi", 400), ("notes.txt", 415), ("noextension", 415),
                                              ("folder.zspy", 415)])
def test_files_that_cannot_be_read_alone_are_refused(name, status):
    with pytest.raises(WebError) as caught:
        upload_extension(name)
    assert caught.value.status == status
    assert ".zspy" not in UPLOAD_EXTENSIONS and ".emi" not in UPLOAD_EXTENSIONS


def test_the_reader_checks_pixels_and_names_the_clients_file(tmp_path):
    path = tmp_path / "upload.npy"
    np.save(path, np.ones((2, 30, 40), np.float32))
    reader = UploadReader(max_pixels=2 * 30 * 40, read_timeout_s=60)
    image, notes = reader.read_with_notes(path, "series.npy")
    assert image.shape == (2, 30, 40) and notes == []
    limits = reader.read_limits()
    assert (limits.max_pixels, limits.timeout_s, limits.isolate) == (2400, 60, True)
    with pytest.raises(WebError) as caught:
        UploadReader(max_pixels=2000).read(path, "series.npy")
    assert caught.value.status == 413 and "series.npy" in str(caught.value) and "--max-pixels" in str(caught.value)
    (tmp_path / "upload.dm3").write_bytes(b"not a DM3 file" * 10)
    with pytest.raises(WebError) as caught:
        reader.read(tmp_path / "upload.dm3", "scan.dm3")
    assert caught.value.status == 422 and "upload.dm3" not in str(caught.value)
    assert client_message(f"{tmp_path}/upload.dm3 is broken", tmp_path / "upload.dm3", "x/scan.dm3") == \
        "scan.dm3 is broken"


@pytest.mark.parametrize(("options", "words"), [({"max_pixels": 0}, "pixel limit"),
                                                ({"read_timeout_s": 0}, "read timeout")])
def test_limits_must_be_positive(options, words):
    with pytest.raises(ParameterError, match=words):
        UploadReader(**options)

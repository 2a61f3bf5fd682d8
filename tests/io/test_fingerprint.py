"""file_sha256: the one home of file fingerprints (model cards, fine-tuning inputs)."""

import hashlib

from emrestore.io.fingerprint import file_sha256
from emrestore.restoration import find_model


def test_file_sha256_hashes_every_chunk(tmp_path):
    data = bytes(range(256)) * 9000  # > 2 MiB: several 1 MiB chunks
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    path.write_bytes(data[:-1] + b"\x00")
    assert file_sha256(path) != hashlib.sha256(data).hexdigest()


def test_model_fingerprint_is_the_file_hash():
    info = find_model("hrstem")
    assert info.sha256() == hashlib.sha256(info.onnx_path.read_bytes()).hexdigest()

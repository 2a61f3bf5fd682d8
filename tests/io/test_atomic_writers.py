"""The atomic writers every output goes through: content, suffix kept, nothing left on error."""

import numpy as np
import pytest

from emrestore.io.atomic import (
    save_npz_atomic,
    write_atomic,
    write_bytes_atomic,
    write_text_atomic,
)


def test_text_bytes_and_npz_arrive_whole_and_replace_the_old_file(tmp_path) -> None:
    path = tmp_path / "out.json"
    path.write_text("old")
    write_text_atomic(path, "{\"a\": \"é\"}")
    assert path.read_text(encoding="utf-8") == "{\"a\": \"é\"}"
    assert write_bytes_atomic(tmp_path / "b.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    save_npz_atomic(tmp_path / "a.npz", x=np.arange(3))
    with np.load(tmp_path / "a.npz") as stored:
        assert np.array_equal(stored["x"], np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "b.bin", "out.json"]


def test_the_writer_sees_the_suffix_and_an_error_leaves_nothing_behind(tmp_path) -> None:
    path = tmp_path / "figure.png"
    path.write_bytes(b"before")
    seen = []

    def failing(temp):
        seen.append(temp)
        temp.write_bytes(b"half")
        raise RuntimeError("writer failed")

    with pytest.raises(RuntimeError):
        write_atomic(path, failing)
    assert seen[0].suffix == ".png" and seen[0].parent == tmp_path and not seen[0].exists()
    assert path.read_bytes() == b"before"
    assert [p.name for p in tmp_path.iterdir()] == ["figure.png"]

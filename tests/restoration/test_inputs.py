"""Which files a list of inputs names: folders, globs, earlier outputs, and why nothing was found."""

from emrestore.restoration.inputs import expand_inputs, nothing_found


def test_folder_skips_outputs_and_unreadable_files_and_globs_match(tmp_path):
    for name in ("a.tif", "b.tif", "a_restored.tif", "a_uncertainty.tif", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    files, unmatched = expand_inputs([str(tmp_path), str(tmp_path / "b.tif")])
    assert [p.name for p in files] == ["a.tif", "b.tif"] and unmatched == []  # b once
    files, unmatched = expand_inputs([str(tmp_path / "*.tif"), str(tmp_path / "*.dm4")])
    assert len(files) == 4 and unmatched == [str(tmp_path / "*.dm4")]
    files, _ = expand_inputs([str(tmp_path / "missing.tif")])
    assert [p.name for p in files] == ["missing.tif"]  # left for read() to report


def test_nothing_found_says_why(tmp_path):
    assert nothing_found(str(tmp_path / "*.dm4")).endswith("no file matches.")
    assert "the folder is empty" in nothing_found(str(tmp_path))
    (tmp_path / "x_restored.tif").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    files, unmatched = expand_inputs([str(tmp_path)])
    assert files == [] and unmatched == [str(tmp_path)]
    reason = nothing_found(str(tmp_path))
    assert "1 earlier output (*_restored.*)" in reason and "1 subfolder" in reason

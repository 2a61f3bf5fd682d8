"""The bank format's one reader: bank.json and the pixel size stored with each sample."""

import numpy as np

from emrestore.datasets.bank import (
    BANK_FILE,
    load_sample,
    read_bank_config,
    render_bank,
    sample_path,
    stored_pixel_size_nm,
)


def test_the_config_render_bank_wrote_reads_back(tmp_path) -> None:
    result = render_bank("lrsem", 2, 32, 4, tmp_path, progress=False)
    assert read_bank_config(tmp_path) == result["config"]
    with np.load(sample_path(tmp_path, 1)) as stored:
        pixel = stored_pixel_size_nm(stored["params"])
    assert pixel == load_sample(sample_path(tmp_path, 1))["params"]["pixel_size_nm"] > 0


def test_a_missing_or_broken_config_reads_as_none(tmp_path) -> None:
    assert read_bank_config(tmp_path) is None
    (tmp_path / BANK_FILE).write_text("{not json")
    assert read_bank_config(tmp_path) is None
    (tmp_path / BANK_FILE).write_text("[1, 2]")
    assert read_bank_config(tmp_path) is None


def test_a_pixel_size_that_is_not_there_reads_as_none() -> None:
    assert stored_pixel_size_nm(np.array('{"tag": "lrsem"}')) is None
    assert stored_pixel_size_nm(np.array("not json")) is None
    assert stored_pixel_size_nm('{"pixel_size_nm": 0.5}') == 0.5

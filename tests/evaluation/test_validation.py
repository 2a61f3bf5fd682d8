"""The evaluation set carries the true column positions its renderer returned."""

import numpy as np
import pytest

from emrestore.datasets.bank import render_sample
from emrestore.errors import ParameterError
from emrestore.evaluation.columns import column_truth
from emrestore.evaluation.validation import validation_pairs
from emrestore.io.atomic import save_npz_atomic


def test_an_atomic_set_carries_the_renderers_columns_and_reads_them_back(tmp_path) -> None:
    rendered = validation_pairs("hrstem", n=3, size=48, seed=5, cache_dir=tmp_path, progress=False)
    cached = validation_pairs("hrstem", n=3, size=48, seed=5, cache_dir=tmp_path, progress=False)
    for i in range(3):
        sample = render_sample("hrstem", 48, 5, i, pairs=True)
        assert len(sample["columns"]) > 0
        for valset in (rendered, cached):
            assert np.array_equal(valset.columns[i], sample["columns"])
            assert np.array_equal(valset.targets[i], sample["target"])
    assert np.array_equal(rendered.dark_columns, cached.dark_columns)
    truth = column_truth(cached)
    assert [t.dark for t in truth] == list(cached.dark_columns)
    assert all(np.array_equal(t.xy, xy) for t, xy in zip(truth, rendered.columns))


def test_a_set_without_columns_says_so(tmp_path) -> None:
    valset = validation_pairs("lrsem", n=3, size=32, seed=1, cache_dir=tmp_path, progress=False)
    again = validation_pairs("lrsem", n=3, size=32, seed=1, cache_dir=tmp_path, progress=False)
    assert valset.columns is None and again.columns is None and again.dark_columns is None
    with pytest.raises(ParameterError, match="no atomic-column positions"):
        column_truth(again)


def test_a_cache_written_before_sets_carried_columns_is_rendered_again(tmp_path) -> None:
    valset = validation_pairs("hrstem", n=3, size=32, seed=2, cache_dir=tmp_path, progress=False)
    (path,) = tmp_path.glob("valset_hrstem_*.npz")
    save_npz_atomic(path, inputs=valset.inputs, targets=valset.targets, doses=valset.doses,
                    pixel_size_nm=valset.pixel_size_nm)  # the old format: no columns
    again = validation_pairs("hrstem", n=3, size=32, seed=2, cache_dir=tmp_path, progress=False)
    assert all(np.array_equal(a, b) for a, b in zip(again.columns, valset.columns))
    with np.load(path) as stored:
        assert "column_offsets" in stored


def test_the_hrtem_set_key_names_the_potential_its_frames_were_rendered_with(monkeypatch):
    # the hrtem renderer's "auto" potential is Lobato with abTEM installed and Molière without:
    # other frames, so a set cached in one environment must not be read back in the other
    from emrestore.evaluation import validation
    from emrestore.optics import potential

    keys = {}
    for installed in (True, False):
        monkeypatch.setattr(potential, "abtem_available", lambda installed=installed: installed)
        keys[installed] = {tag: validation.evaluation_set_key(tag, 64, 256, 7) for tag in ("hrtem", "hrstem", "lrtem")}
    assert keys[True]["hrtem"] != keys[False]["hrtem"]
    assert keys[True]["hrstem"] == keys[False]["hrstem"] and keys[True]["lrtem"] == keys[False]["lrtem"]
    assert len({keys[False][t] for t in keys[False]}) == 3
    assert validation.evaluation_set_key("hrtem", 64, 256, 7) != validation.evaluation_set_key("hrtem", 64, 256, 8)

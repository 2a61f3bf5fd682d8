"""The network's fixed pattern on its 4-px grid is removed, and nothing else is changed."""

from __future__ import annotations

import numpy as np
import pytest

from emrestore.errors import ParameterError
from emrestore.restoration import load_model
from emrestore.restoration.grid_pattern import (
    SUB,
    cell_sums,
    grid_cell,
    remove_grid_pattern,
    strongest_grid_spot,
    tile_cell,
)


def _frame(n=256, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    signal = 60 + 30 * np.cos(2 * np.pi * xx / 9.3) * np.cos(2 * np.pi * yy / 11.7) + 0.1 * xx
    return rng.poisson(signal).astype(np.float32)


def test_cell_sums_are_the_frames_sums_at_each_cell_position():
    frame = np.random.default_rng(1).normal(size=(61, 47))
    sums, counts = cell_sums(frame, 16)
    assert sums[3, 5] == pytest.approx(frame[3::16, 5::16].sum()) and counts[3, 5] == frame[3::16, 5::16].size
    assert counts.sum() == frame.size and sums.sum() == pytest.approx(frame.sum())


def test_the_grid_spot_measure_sees_a_pattern_and_refuses_what_it_cannot_measure():
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 1, (128, 128))
    assert strongest_grid_spot(noise) < 10 < strongest_grid_spot(noise + tile_cell(rng.normal(0, 0.3, (4, 4)), noise.shape))
    for bad in (noise[:, :100], noise[:126, :126]):
        with pytest.raises(ParameterError, match="square"):
            strongest_grid_spot(bad)


def test_a_fixed_pattern_is_removed_and_the_inputs_own_4px_lattice_is_kept():
    rng = np.random.default_rng(2)
    cell = rng.normal(0, 0.2, (4, 4))
    for shape in ((256, 256), (203, 157)):  # whole cells or not
        pattern = tile_cell(cell - cell.mean(), shape)
        clean = 50 + 5 * np.sin(np.arange(shape[1]) / 13.0)[None, :] * np.ones((shape[0], 1))
        noisy = clean + rng.normal(0, 4, shape)
        fixed = remove_grid_pattern(noisy, clean + pattern, 4)
        assert np.abs(fixed - clean).max() < 0.1 * np.abs(pattern).max()
        # a 4-px lattice the input shows (and the restoration lost) is given back; noise is not
        lattice = 2.0 * np.cos(np.pi * np.arange(shape[0]) / 2)[:, None] * np.ones((1, shape[1]))
        fixed = remove_grid_pattern(noisy + lattice, clean + pattern, 4)
        assert np.abs(fixed - clean - lattice).max() < 0.15 * 2.0
    assert remove_grid_pattern(noisy, clean, 1) is clean           # no grid at full resolution
    small = np.ones((12, 40))
    assert remove_grid_pattern(small, small + 1, 4) is not None and (grid_cell(small, small, 4) == 0).all()
    with pytest.raises(ParameterError, match="shape"):
        remove_grid_pattern(noisy, clean[:-1], 4)
    with pytest.raises(ParameterError, match="period"):
        remove_grid_pattern(noisy, clean, 0)
    assert SUB >= 2


@pytest.mark.parametrize("tag", ["lrtem", "hrstem"])
def test_the_shipped_networks_grid_spots_are_gone_from_the_restored_spectrum(tag):
    restorer = load_model(tag, progress=False)
    frame = _frame()
    data, network = restorer.network_output(frame)
    restored = remove_grid_pattern(data, network, restorer.info.size_multiple)
    assert strongest_grid_spot(network) > 50          # the network's own output carries sharp grid spots
    assert strongest_grid_spot(restored) < 10         # the restored frame does not (fainter ones are left)
    assert strongest_grid_spot(restorer.restore_array(frame)) < 10   # nor after every whole-frame step
    # and nothing else moved: the change repeats every 4 px and is far below the noise
    change = restored - network
    assert np.allclose(change, tile_cell(change[:4, :4], change.shape), atol=1e-4)
    assert np.sqrt(np.mean(change**2)) < 0.05 * np.sqrt(frame.mean())
    assert restorer.provenance()["grid_pattern_removed_px"] == 4
    assert "grid_pattern_removed_px" not in restorer.provenance(blockwise=True)

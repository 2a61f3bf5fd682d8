"""The network's fixed pattern on its 4-px grid is removed, and nothing else is changed."""

from __future__ import annotations

import numpy as np
import pytest

from emrestore.errors import ParameterError
from emrestore.restoration import load_model
from emrestore.restoration.grid_pattern import SUB, cell_sums, grid_cell, remove_grid_pattern, tile_cell
from emrestore.restoration.tiling import pad_to_multiple, restore_tiled


def _grid_peak(image: np.ndarray, period: int = 4) -> float:
    """Largest power at a grid frequency (k/p, l/p) ≠ 0 over the mean of the 24 bins around it."""
    n = image.shape[0]
    power = np.abs(np.fft.fft2(image - image.mean())) ** 2
    worst = 0.0
    for k in range(period):
        for m in range(period):
            if k or m:
                u, v = k * n // period, m * n // period
                around = [power[(u + a) % n, (v + b) % n] for a in range(-2, 3) for b in range(-2, 3) if a or b]
                worst = max(worst, power[u, v] / np.mean(around))
    return worst


def _frame(n=256, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    signal = 60 + 30 * np.cos(2 * np.pi * xx / 9.3) * np.cos(2 * np.pi * yy / 11.7) + 0.1 * xx
    return rng.poisson(signal).astype(np.float32)


def test_cell_sums_of_the_parts_add_up_to_the_whole_frame():
    frame = np.random.default_rng(1).normal(size=(61, 47))
    whole = cell_sums(frame, 16)
    parts = [cell_sums(frame[r:r + 20, c:c + 12], 16, (r, c)) for r in range(0, 61, 20) for c in range(0, 47, 12)]
    assert np.allclose(sum(p[0] for p in parts), whole[0]) and (sum(p[1] for p in parts) == whole[1]).all()
    assert whole[1].sum() == frame.size


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
    data, mean, std = restorer.normalisation(frame)
    _, _, grid = restorer._plan(*data.shape)
    padded, _ = pad_to_multiple(data, 4, minimum=16)
    network = restore_tiled(padded, restorer.predictor(mean, std, restorer.frame_level(data)), grid,
                            restorer.batch_size)[:256, :256]
    restored = restorer.restore_array(frame)
    assert _grid_peak(network) > 50          # the network's own output carries sharp grid spots
    assert _grid_peak(restored) < 10         # the restored frame does not (fainter ones are left)
    # and nothing else moved: the change repeats every 4 px and is far below the noise
    change = restored - network
    assert np.allclose(change, tile_cell(change[:4, :4], change.shape), atol=1e-4)
    assert np.sqrt(np.mean(change**2)) < 0.05 * np.sqrt(frame.mean())
    assert restorer.provenance()["grid_pattern_removed_px"] == 4
    assert "grid_pattern_removed_px" not in restorer.provenance(blockwise=True)

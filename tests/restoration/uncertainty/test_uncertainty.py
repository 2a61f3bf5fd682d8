"""The uncertainty map: it is high where a restoration removed or invented structure, low
where it did not, ranks a known error, and reaches the API and the command line."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage, stats

import emrestore
from emrestore.cli import main
from emrestore.errors import ParameterError
from emrestore.noise_estimate import spectral_noise_variance
from emrestore.restoration.uncertainty import (
    DEFAULT_CALIBRATION,
    MapCalibration,
    combine,
    dihedral_spread,
    local_structure,
    noise_variance,
    renoise_spread,
    uncertainty_map,
)
from emrestore.restoration.uncertainty.noise_model import NoiseVariance

SIZE = 128
#: The test "restorers" below are exact except where they are told to fail: no error per
#: unit of detail, no scale (a shipped model's card carries its own, measured values).
EXACT = MapCalibration(0.0, 1.0, "test restorer")


def _lattice(period: float = 6.0, amplitude: float = 40.0, size: int = SIZE) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return amplitude * np.cos(2 * np.pi * xx / period) * np.cos(2 * np.pi * yy / period)


def _frame(truth: np.ndarray, seed: int = 0) -> np.ndarray:
    """Poisson counts around ``truth`` (counts ≈ ADU, gain 1)."""
    return np.random.default_rng(seed).poisson(np.clip(truth, 1, None)).astype(np.float32)


def test_map_is_high_where_structure_was_removed_and_low_elsewhere():
    truth = 200.0 + _lattice()
    x = _frame(truth)
    restored = truth.copy()
    restored[:, : SIZE // 2] = 200.0  # the left half's lattice "restored away"
    m = uncertainty_map(x, restored.astype(np.float32), calibration=EXACT)
    left, right = m.total[16:-16, 16:48], m.total[16:-16, 80:-16]
    assert 15.0 < np.median(left) < 25.0  # the removed lattice's RMS (40/2 = 20) ...
    # ... and nothing where nothing was removed: there the residual is noise, within the
    # scatter of its window estimate, so not significant
    assert np.median(right) < 0.1 * np.median(left)
    removed = m.components["removed"]
    assert 15.0 < np.median(removed[16:-16, 16:48]) < 25.0 and np.median(removed[16:-16, 80:-16]) == 0.0
    assert m.total.shape == x.shape and m.total.dtype == np.float32


def test_map_flags_structure_invented_in_vacuum():
    truth = np.full((SIZE, SIZE), 100.0)
    x = _frame(truth, seed=1)
    restored = truth.copy()
    restored[32:96, 32:96] += _lattice(amplitude=30.0)[32:96, 32:96]  # blobs that are not in the input
    m = uncertainty_map(x, restored.astype(np.float32))
    assert np.median(m.total[48:80, 48:80]) > 4 * np.median(m.total[:, :16])
    assert np.median(m.components["removed"][48:80, 48:80]) > 10.0  # the blobs' RMS is 15
    # the signed part says "strengthened", not "weakened", there
    assert np.median(m.components["along_restored"][48:80, 48:80]) < 0


def test_map_ranks_a_known_error():
    """Where the removed fraction of the lattice grows left → right, the map follows it."""
    truth = 300.0 + _lattice(period=5.0, amplitude=60.0)
    fraction = np.linspace(0.0, 1.0, SIZE)[None, :]
    restored = truth - fraction * _lattice(period=5.0, amplitude=60.0)
    x = _frame(truth, seed=2)
    m = uncertainty_map(x, restored.astype(np.float32), calibration=EXACT)
    true_error = np.sqrt(ndimage.gaussian_filter((restored - truth) ** 2, m.window_px))
    rho = stats.spearmanr(m.total[16:-16, 16:-16].ravel(), true_error[16:-16, 16:-16].ravel())[0]
    assert rho > 0.8


def test_total_weights_the_residual_by_the_local_detail():
    """``combine``: the removed amplitude itself where the restoration is flat, the geometric
    mean with the detail where there is detail, the spreads in quadrature."""
    removed = np.array([0.0, 3.0, 3.0, 3.0])
    structure = np.array([20.0, 0.0, 12.0, 48.0])
    total = combine(removed, structure)
    assert total[0] == 0.0 and total[1] == pytest.approx(3.0)
    assert total[2] == pytest.approx(np.sqrt(3.0 * np.hypot(12.0, 3.0)))
    assert total[1] < total[2] < total[3]
    assert combine(removed, structure, [np.full(4, 4.0)])[1] == pytest.approx(5.0)
    # a model's calibration: its error per unit of detail where nothing was removed, and a scale
    calibrated = combine(removed, structure, calibration=MapCalibration(0.5, 2.0))
    assert calibrated[0] == pytest.approx(2.0 * 0.5 * 20.0)
    assert calibrated[1] == pytest.approx(2.0 * 3.0)
    assert calibrated[2] == pytest.approx(2.0 * np.sqrt(0.25 * 144.0 + 3.0 * np.hypot(12.0, 3.0)))
    # the detail is the restoration's local RMS: the lattice's 20 where it is, ~0 where flat
    y = 200.0 + _lattice()
    y[:, : SIZE // 2] = 200.0
    detail = local_structure(y, 4.0)
    assert np.median(detail[16:-16, 80:-16]) == pytest.approx(20.0, rel=0.1)
    assert np.median(detail[16:-16, 8:40]) < 0.05
    m = uncertainty_map(_frame(y, seed=6), y.astype(np.float32))
    assert "structure" in m.components and m.record()["method"] == "uncertainty-3"
    assert m.calibration == DEFAULT_CALIBRATION and m.record()["calibration"]["scale"] == DEFAULT_CALIBRATION.scale


def test_a_good_restoration_gets_a_map_below_the_noise():
    truth = 400.0 + _lattice()
    x = _frame(truth, seed=3)
    m = uncertainty_map(x, truth.astype(np.float32), calibration=EXACT)
    # the residual is pure noise: within its window estimate's own scatter nearly everywhere
    assert np.mean(m.components["removed"] > 0) < 0.05
    assert np.median(m.total) < 0.1 * np.sqrt(400.0)
    assert np.mean(m.components["excess"] > 0) > 0.2  # where the plain excess sees "something"
    assert m.noise[0]["gain"] >= 0
    # with a model's calibration the map is its typical error for that much detail (20 ADU)
    typical = uncertainty_map(x, truth.astype(np.float32), calibration=MapCalibration(0.3, 1.0))
    assert np.median(typical.total) == pytest.approx(0.3 * 20.0, rel=0.15)


def test_dihedral_spread_is_zero_for_a_symmetric_restorer_and_not_for_an_oriented_one():
    x = _frame(200.0 + _lattice(), seed=4)

    def blur(a):  # Gaussian blur: commutes with every flip and rotation
        return ndimage.gaussian_filter(a.astype(np.float64), 1.5, mode="reflect")

    def oriented(a):  # blur along x only: changes under a transpose
        return ndimage.gaussian_filter1d(a.astype(np.float64), 3.0, axis=1, mode="reflect")

    assert np.max(dihedral_spread(x, blur, 8)) < 1e-6 * float(x.std())
    assert np.max(dihedral_spread(x, lambda a: a, 4)) == 0.0
    assert np.median(dihedral_spread(x, oriented, 8)) > 0.05 * float(x.std())
    with pytest.raises(ParameterError):
        dihedral_spread(x, blur, 3)


def test_renoise_spread_follows_the_noise_the_restorer_passes_through():
    y = np.full((64, 64), 100.0, np.float32)
    noise = NoiseVariance(gain=1.0, intercept=0.0, floor=1.0)
    passing = renoise_spread(y, lambda a: a, noise, 2, 4.0, seed=0)  # identity: keeps all the noise
    blocking = renoise_spread(y, lambda a: np.full_like(a, 100.0), noise, 2, 4.0, seed=0)
    assert np.median(passing) == pytest.approx(10.0, rel=0.1)
    assert np.max(blocking) == 0.0


def test_noise_floor_from_the_spectrum_ignores_a_lattice():
    rng = np.random.default_rng(5)
    noise = 7.0 * rng.standard_normal((SIZE, SIZE))
    assert spectral_noise_variance(noise + 500.0) == pytest.approx(49.0, rel=0.1)
    assert spectral_noise_variance(noise + 500.0 + _lattice(period=3.0, amplitude=80.0)) == pytest.approx(
        49.0, rel=0.15)
    model = noise_variance((noise + 500.0 + _lattice(period=3.0, amplitude=80.0)).astype(np.float32),
                           np.full((SIZE, SIZE), 500.0, np.float32))
    assert float(model(np.array(500.0))) == pytest.approx(49.0, rel=0.3)


def test_bad_arguments_are_refused():
    x = np.ones((64, 64), np.float32)
    with pytest.raises(ParameterError):
        uncertainty_map(x, np.ones((64, 32), np.float32))
    with pytest.raises(ParameterError):
        uncertainty_map(x, x, dihedral=4)  # no restorer to run the copies
    with pytest.raises(ParameterError):
        uncertainty_map(x, x, window=0)


def test_restore_returns_the_map_for_arrays_images_and_series(stats_model):
    x = _frame(200.0 + _lattice(size=64), seed=6)
    restored, m = emrestore.restore(x, model=str(stats_model), uncertainty=True, dihedral=4, renoise=1,
                                    progress=False)
    assert restored.shape == m.total.shape == x.shape
    assert set(m.components) >= {"excess", "neighbour_structure", "dihedral", "renoise"}
    assert np.ptp(m.total) > 0 and np.all(m.total >= 0)
    image = emrestore.EMImage(np.stack([x, x[::-1]]), pixel_size=0.05, unit="nm", modality="stem")
    out, ms = emrestore.restore(image, model=str(stats_model), uncertainty=True, progress=False)
    assert ms.total.shape == out.shape == (2, 64, 64) and len(ms.noise) == 2
    calibrated = ms.as_image(out)
    assert calibrated.pixel_size == 0.05 and calibrated.unit == "nm"
    assert calibrated.metadata["uncertainty"]["window_sigma_px"] == 8.0
    assert "restoration" not in calibrated.metadata
    plain = emrestore.restore(x, model=str(stats_model), progress=False)
    assert isinstance(plain, np.ndarray)  # without uncertainty: unchanged
    np.testing.assert_array_equal(plain, restored)
    with pytest.raises(ParameterError):
        emrestore.restore(x, model=str(stats_model), dihedral=4, progress=False)


def test_restore_returns_a_map_signal_for_hyperspy(stats_model):
    hs = pytest.importorskip("hyperspy.api")
    x = _frame(200.0 + _lattice(size=64), seed=7)
    signal = hs.signals.Signal2D(x)
    for axis in signal.axes_manager.signal_axes:
        axis.scale, axis.units = 0.05, "nm"
    restored, umap = emrestore.restore(signal, model=str(stats_model), uncertainty=True, progress=False)
    assert umap.data.shape == restored.data.shape == x.shape
    assert umap.axes_manager.signal_axes[0].scale == 0.05
    assert umap.metadata.get_item("emrestore.uncertainty")["method"].startswith("uncertainty")


def test_cli_writes_a_calibrated_uncertainty_tif(tmp_path, stats_model, capsys):
    source = tmp_path / "a.tif"
    emrestore.write(emrestore.EMImage(_frame(200.0 + _lattice(size=64), seed=8), pixel_size=0.05,
                                      unit="nm", modality="stem"), source)
    assert main(["restore", str(source), "--model", str(stats_model), "--uncertainty", "--dihedral", "4"]) == 0
    assert "a_uncertainty.tif" in capsys.readouterr().out
    m = emrestore.read(tmp_path / "a_uncertainty.tif")
    assert m.pixel_size == 0.05 and m.unit == "nm" and m.shape == (64, 64)
    assert np.ptp(m.data) > 0 and m.metadata["uncertainty"]["dihedral_copies"] == 4
    assert m.metadata["uncertainty_of"] == "a_restored.tif"
    # the same rules as the main output: no silent overwrite; a folder run skips earlier maps
    assert main(["restore", str(source), "--model", str(stats_model), "--uncertainty"]) != 0
    assert main(["restore", str(tmp_path), "-o", str(tmp_path / "out"), "--model", str(stats_model)]) == 0
    assert not (tmp_path / "out" / "a_uncertainty_restored.tif").exists()
    assert main(["restore", str(source), "--model", str(stats_model), "--dihedral", "4"]) != 0

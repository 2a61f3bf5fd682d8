"""``emrestore.estimate_noise``: known parameters of our own forward model read back.

Frames come from the stages of :mod:`emrestore.distortions` (or a plain scaled Poisson
draw) with fixed parameters; the tolerances are those stated in docs/noise.md, set from
the spread over noise seeds measured by ``benchmarks/bench_noise.py`` (each about 3 SD
of that spread, or 3 times the reported uncertainty). Every estimate below differs
between the cases, so an estimator returning constants fails.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import emrestore
from emrestore import EMImage, estimate_noise
from emrestore.errors import NonFiniteDataError, NotAnImageError, ParameterError

_BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_noise.py"
_spec = importlib.util.spec_from_file_location("bench_noise", _BENCH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

CLEAN_128 = bench.clean_frame(128)
CLEAN_256 = bench.clean_frame(256)
SCANNED_256 = bench.clean_frame(256, density=1 / 400, amp=8.0)


@pytest.mark.parametrize("dose, gain", [(5.0, 3.0), (20.0, 3.0), (100.0, 1.5), (20.0, 8.0)])
def test_poisson_gain_and_dose(dose, gain):
    frame = bench.poisson_frame(CLEAN_128, dose, gain, 100.0, 0.0, seed=1)
    est = estimate_noise(frame)
    assert est.gain == pytest.approx(gain, rel=0.10)
    assert est.gain_err > 0 and abs(est.gain - gain) < 4 * est.gain_err + 0.02 * gain
    # variance at mean 0 is read² − gain·offset = −gain·100
    assert est.variance_intercept == pytest.approx(-gain * 100.0, rel=0.25)
    given = estimate_noise(frame, offset=100.0)
    assert given.dose_per_px == pytest.approx(dose, rel=0.10)
    assert given.read_noise < 0.35 * np.sqrt(gain * dose) + 1.0  # no read noise in the frame


def test_offset_from_skewness_at_low_dose():
    frame = bench.poisson_frame(CLEAN_256, 5.0, 3.0, 100.0, 0.0, seed=2)
    est = estimate_noise(frame)
    assert est.offset_source == "skewness"
    assert est.offset == pytest.approx(100.0, abs=max(3 * est.offset_err, 3.0))
    assert est.dose_per_px == pytest.approx(5.0, rel=0.2)


@pytest.mark.parametrize("read", [6.0, 10.0])
def test_poisson_gaussian_read_noise(read):
    frame = bench.poisson_frame(CLEAN_256, 5.0, 4.0, 100.0, read, seed=3)
    est = estimate_noise(frame, offset=100.0)
    assert est.gain == pytest.approx(4.0, rel=0.12)
    assert est.read_noise == pytest.approx(read, abs=0.25 * read + 2.0)
    assert est.offset_source == "given"


def test_tem_camera_frame_gain_and_xrays():
    frame = bench.tem_frame(CLEAN_256, seed=4, gain=4.0, swank_k=4.0, xray=3e-4)
    est = estimate_noise(EMImage(frame, modality="tem"))
    assert est.modality == "tem" and est.row_jitter_px is None
    assert est.gain == pytest.approx(4.0 * (1 + 1 / 4), rel=0.10)  # Swank: g·(1 + 1/k)
    # 3e-4 events/px × 65 536 px ≈ 20 events: Poisson spread plus split clusters
    assert 1.0e-4 < est.outlier_events_per_px < 6.0e-4
    clean = estimate_noise(bench.tem_frame(CLEAN_256, seed=4, xray=0.0), modality="tem")
    assert clean.outlier_events_per_px < 3.0e-5


def test_scanned_row_jitter():
    still = estimate_noise(bench.stem_frame(SCANNED_256, 5, 0.0), modality="stem")
    moved = estimate_noise(bench.stem_frame(SCANNED_256, 5, 0.5), modality="stem")
    more = estimate_noise(bench.stem_frame(SCANNED_256, 5, 1.0), modality="stem")
    true = 0.5 * np.sqrt(0.75)  # white jitter: 3/4 of its power lies in 1/8…1/2 cycles/row
    # stated tolerance (docs/noise.md): −55 % … +20 % at 0.5 px, −40 % … +20 % at 1 px
    assert 0.45 * true < moved.row_jitter_px < 1.2 * true
    assert 0.6 * 2 * true < more.row_jitter_px < 1.2 * 2 * true
    assert still.row_jitter_px < 0.15 and moved.row_jitter_px > still.row_jitter_px + 0.1
    assert moved.row_jitter_band == (1 / 8, 0.5)
    freq = [f for f, _ in moved.row_jitter_spectrum]
    assert freq[0] > 0 and freq[-1] == pytest.approx(0.5)
    assert moved.gain == pytest.approx(1.0, rel=0.15)


def test_reproducible_and_json():
    frame = bench.poisson_frame(CLEAN_128, 20.0, 2.0, 10.0, 2.0, seed=6)
    a = estimate_noise(frame, seed=3)
    b = estimate_noise(frame, seed=3)
    assert a == b
    record = json.loads(json.dumps(a.to_dict()))
    assert record["gain"] == pytest.approx(a.gain) and "notes" in record and "gain_err" in record
    assert emrestore.estimate_noise is estimate_noise and "estimate_noise" in emrestore.__all__


def test_series_uses_the_chosen_frame():
    f0 = bench.poisson_frame(CLEAN_128, 20.0, 2.0, 0.0, 0.0, seed=7)
    f1 = bench.poisson_frame(CLEAN_128, 20.0, 6.0, 0.0, 0.0, seed=8)
    series = np.stack([f0, f1])
    assert estimate_noise(series).gain == pytest.approx(2.0, rel=0.12)
    assert estimate_noise(series, frame=1).gain == pytest.approx(6.0, rel=0.12)


@pytest.mark.parametrize("bad, error", [
    (np.zeros((16, 16)), ParameterError),
    (np.full((64, 64), 3.0), ParameterError),
    (np.zeros((2, 2, 64, 64)), NotAnImageError),
    (np.zeros(100), NotAnImageError),
])
def test_bad_input(bad, error):
    with pytest.raises(error) as info:
        estimate_noise(bad)
    assert "Fix:" in str(info.value)


def test_non_finite_and_bad_options():
    frame = bench.poisson_frame(CLEAN_128, 20.0, 2.0, 0.0, 0.0, seed=9)
    nan = frame.copy()
    nan[3, 4] = np.nan
    with pytest.raises(NonFiniteDataError):
        estimate_noise(nan)
    with pytest.raises(ParameterError):
        estimate_noise(frame, modality="xray")
    with pytest.raises(ParameterError):
        estimate_noise(frame, patch_size=5)
    with pytest.raises(ParameterError):
        estimate_noise(frame, bootstrap=3)
    with pytest.raises(ParameterError):
        estimate_noise(frame, frame=0, offset=float("nan"))


def _grains(rng: np.random.Generator, level: float, grain_px: int) -> np.ndarray:
    """Sharp-edged grains of ``grain_px`` px, intensities U[0.5, 1.5]·level (256² px)."""
    cells = -(-256 // grain_px) + 2
    clean = np.kron(rng.uniform(0.5 * level, 1.5 * level, (cells, cells)), np.ones((grain_px, grain_px)))
    return clean[5:261, 3:259]


@pytest.mark.parametrize("level", [20.0, 1000.0])
def test_shot_noise_variance_ignores_sharp_texture(level):
    from emrestore.noise_estimate import shot_noise_variance, spectral_noise_variance

    rng = np.random.default_rng(3)
    clean = _grains(rng, level, 12)
    frame = rng.poisson(clean).astype(float)
    shot = shot_noise_variance(frame) / clean.mean()
    # Poisson: variance = mean; patches straddling an edge add up to a third (measured 1.1-1.3)
    assert 0.9 < shot < 1.4, shot
    if level == 1000.0:  # at high counts the edges outweigh the noise in the spectrum
        assert spectral_noise_variance(frame) / clean.mean() > 3.0


def test_shot_noise_variance_with_gain_read_noise_and_xrays():
    from emrestore.noise_estimate import shot_noise_variance

    rng = np.random.default_rng(4)
    clean = _grains(rng, 50.0, 20)
    gain, read = 3.0, 4.0
    frame = gain * rng.poisson(clean) + rng.normal(100.0, read, clean.shape)
    hits = rng.integers(0, 256, (40, 2))
    frame[hits[:, 0], hits[:, 1]] += 5e4  # X-ray hits: left out, not read as noise
    expected = gain ** 2 * clean.mean() + read ** 2
    assert shot_noise_variance(frame) == pytest.approx(expected, rel=0.3)  # measured +16-19 %


def test_shot_noise_variance_says_none_when_it_cannot_tell():
    from emrestore.noise_estimate import shot_noise_variance

    assert shot_noise_variance(np.ones((16, 16))) is None  # too small for 8-px patches
    assert shot_noise_variance(np.zeros((128, 128))) is None  # constant: no line to fit


def test_shot_noise_variance_of_a_noise_free_frame_is_zero():
    from emrestore.noise_estimate import shot_noise_variance, spectral_noise_variance

    clean = _grains(np.random.default_rng(6), 1000.0, 20)
    assert (shot_noise_variance(clean) or 0.0) < 1e-6 * clean.var()
    assert spectral_noise_variance(clean) > 1e-3 * clean.var()  # the edges, read as noise

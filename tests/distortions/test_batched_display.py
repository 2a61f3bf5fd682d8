"""Batched display stage against the numpy stage: the same limits and mapping, JPEG in
torch against PIL's libjpeg."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from distortion_stats import Z99
from PIL import Image

from emrestore.distortions import Display, distort
from emrestore.distortions.batched import BatchState, run_batch
from emrestore.distortions.batched.core import IMPLEMENTATIONS
from emrestore.distortions.batched.display import (
    display_limits,
    jpeg_luminance_table,
    jpeg_roundtrip,
)
from emrestore.distortions.parameters import ChainState
from emrestore.errors import ParameterError


def pil_jpeg(image: np.ndarray, quality: int) -> tuple[np.ndarray, dict]:
    """The numpy path's JPEG round trip (as Display.__call__) and PIL's tables."""
    buffer = io.BytesIO()
    Image.fromarray(image.astype(np.uint8)).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    decoded = Image.open(buffer)
    return np.asarray(decoded, dtype=np.float32), decoded.quantization


def grey_image(shape, seed, noise=10.0):
    """A smooth 8-bit structure with noise, as a displayed micrograph."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    smooth = gaussian_filter(rng.normal(0.0, 1.0, shape), 2.0)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min()) * 230.0 + 12.0
    return np.rint(np.clip(smooth + rng.normal(0.0, noise, shape), 0, 255)).astype(np.float32)


@pytest.mark.parametrize("quality", [1, 10, 24, 49, 50, 51, 60, 75, 90, 95, 100])
def test_quantisation_table_is_libjpegs(quality):
    _, tables = pil_jpeg(np.zeros((8, 8)), quality)
    assert np.array_equal(jpeg_luminance_table(quality), np.reshape(tables[0], (8, 8)))


def test_quantisation_table_rejects_bad_quality():
    with pytest.raises(ParameterError, match="quality"):
        jpeg_luminance_table(0)


@pytest.mark.parametrize("shape", [(64, 64), (45, 70)])
def test_jpeg_roundtrip_agrees_with_pil(shape):
    """Measured (float DCT against libjpeg's fixed-point DCT): mean |Δ| 0.1–0.5 grey
    levels, most pixels identical; requested ≤ 0.5 mean here, and far below the change
    of 5 quality steps."""
    qualities = [60, 75, 85, 95]
    images = np.stack([grey_image(shape, seed) for seed in range(len(qualities))])
    ours = jpeg_roundtrip(torch.as_tensor(images), qualities).numpy()
    assert ours.dtype == np.float32 and ours.shape == images.shape
    for image, mine, quality in zip(images, ours, qualities):
        reference, _ = pil_jpeg(image, quality)
        other, _ = pil_jpeg(image, quality - 5)
        difference = np.abs(mine - reference)
        assert np.array_equal(mine, np.round(mine)) and mine.min() >= 0 and mine.max() <= 255
        assert difference.mean() <= 0.5, (quality, difference.mean())
        assert (difference > 0).mean() <= 0.35, (quality, (difference > 0).mean())
        assert difference.mean() < 0.5 * np.abs(other - reference).mean()
        # the partial blocks at the right and bottom edges (replicated padding)
        edges = np.concatenate([difference[-(shape[0] % 8 or 8):].ravel(),
                                difference[:, -(shape[1] % 8 or 8):].ravel()])
        assert edges.mean() <= 1.0, (quality, edges.mean())  # zero or mirror padding: ≥ 2


@pytest.mark.parametrize("shape", [(64, 64), (300, 260)])
def test_limits_are_numpys(shape):
    rng = np.random.default_rng(1)
    images = rng.gamma(2.0, 100.0, (4, *shape)).astype(np.float32)
    images[3] = 7.0  # constant: hi = lo + 1
    percentiles = [(0.0, 100.0), (0.37, 99.2), (1.0, 99.0), (0.5, 99.5)]
    lo, hi = display_limits(torch.as_tensor(images), torch.tensor([p[0] for p in percentiles], dtype=torch.float64),
                            torch.tensor([p[1] for p in percentiles], dtype=torch.float64))
    for image, (low, high), got in zip(images, percentiles, zip(lo.tolist(), hi.tolist())):
        stage = Display(display_applied=True, display_low_percentile=low, display_high_percentile=high)
        assert got == stage.limits(image)


def test_display_batch_matches_numpy_per_sample():
    """A batch mixing no display, stretch with and without gamma, and JPEG."""
    stages = [Display(),
              Display(display_applied=True, display_low_percentile=0.4, display_high_percentile=99.6),
              Display(display_applied=True, display_low_percentile=1.0, display_high_percentile=99.0,
                      display_gamma=0.8),
              Display(display_applied=True, display_gamma=1.3, display_jpeg_quality=80),
              Display(display_applied=True, display_low_percentile=0.2, display_jpeg_quality=61)]
    rng = np.random.default_rng(2)
    signal = rng.normal(1000.0, 100.0, (len(stages), 48, 56)).astype(np.float32)
    target = rng.uniform(800.0, 1200.0, signal.shape).astype(np.float32)
    tensor = torch.as_tensor(signal)
    state = BatchState(tensor, tensor, {}, torch.Generator(), target=torch.as_tensor(target))
    import emrestore.distortions.batched.display  # noqa: F401  (registers the stage)

    IMPLEMENTATIONS[Display](state, stages)
    for i, stage in enumerate(stages):
        reference = ChainState(signal[i], signal[i].copy(), target=target[i].copy())
        stage.apply(reference, np.random.default_rng(0))
        got_signal, got_target = state.signal[i].numpy(), state.target[i].numpy()
        np.testing.assert_allclose(got_target, reference.target, rtol=2e-6, atol=2e-5)
        if stage.display_jpeg_quality:
            assert np.abs(got_signal - reference.signal).mean() <= 0.5
        else:
            assert np.array_equal(got_signal, reference.signal), i
    assert np.array_equal(state.signal[0].numpy(), signal[0])
    assert np.array_equal(state.target[0].numpy(), target[0])


def test_tem_chain_with_display_matches_distort():
    """run_batch with the display (stretch, gamma, JPEG) on a params dict of distort:
    per-pixel mean grey level within sampling error of repeated numpy runs."""
    rng = np.random.default_rng(3)
    clean = rng.uniform(0.3, 3.0, (24, 24)).astype(np.float32)
    _, _, params = distort(clean, "tem", seed=0, dose_e_per_px=50.0, counting_camera=True, psf_sigma_px=0.7,
                           psf_tail_weight=0.0, dark_e_per_px=0.0, xray_rate_per_px=0.0, dead_fraction=0.0,
                           hot_fraction=0.0, dead_segment=False, gain_nonuniformity_sigma=0.0,
                           band_sigma_adu=0.0, read_sigma_adu=0.0, adc_bits=None, display_applied=True,
                           display_low_percentile=0.5, display_high_percentile=99.5, display_gamma=0.9,
                           display_jpeg_quality=85)
    values = {k: v for k, v in params.items() if k != "modality"}
    count = 300
    batch = torch.as_tensor(np.repeat(clean[None], count, axis=0))
    degraded, target = (t.numpy() for t in run_batch("tem", batch, [values] * count,
                                                      torch.Generator().manual_seed(4)))
    runs = [distort(clean, "tem", seed=s, **values) for s in range(count)]
    reference = np.stack([r[0] for r in runs])
    reference_target = np.stack([r[1] for r in runs])
    assert np.array_equal(degraded, np.round(degraded)) and degraded.max() <= 255
    se = np.sqrt((degraded.var(axis=0, ddof=1) + reference.var(axis=0, ddof=1)) / count)
    z = (degraded.mean(axis=0) - reference.mean(axis=0)) / se
    assert abs(z.mean()) < 0.5 and abs(np.mean(z**2) - 1.0) < 0.8, (z.mean(), np.mean(z**2))
    # the target follows the per-image limits: one number per image to compare
    mine, theirs = target.mean(axis=(1, 2)), reference_target.mean(axis=(1, 2))
    se = np.sqrt((mine.var(ddof=1) + theirs.var(ddof=1)) / count)
    assert abs(mine.mean() - theirs.mean()) <= Z99 * se, (mine.mean(), theirs.mean(), se)
    ratio = degraded.var(axis=0, ddof=1) / reference.var(axis=0, ddof=1)
    assert abs(np.log(ratio).mean()) < 0.06, np.log(ratio).mean()

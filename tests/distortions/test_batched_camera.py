"""Batched TEM camera stages and ADC against the numpy stages (exact where deterministic,
at 99 % confidence where random), and the TEM chain end to end through ``run_batch``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from distortion_stats import Z99, assert_mean, assert_variance

from emrestore.distortions import (
    ADC,
    Bias,
    ConversionGain,
    DarkCurrent,
    DeadHotPixels,
    DetectorBlur,
    Dose,
    FixedPattern,
    ReadoutNoise,
    ShotNoise,
    XRayHits,
    distort,
)
from emrestore.distortions.adc import full_scale
from emrestore.distortions.batched import BatchState, run_batch
from emrestore.distortions.batched.camera import (
    GAUSSIAN_POISSON_MIN,
    XRayEvents,
    apply_xray_events,
    draw_xray_events,
    poisson_constant,
)
from emrestore.distortions.batched.core import IMPLEMENTATIONS
from emrestore.distortions.camera import XRayEvent
from emrestore.distortions.sampling import poisson_constant as numpy_poisson_constant


def apply(stage_class, stages, images, seed=0):
    """Run the batched implementation of ``stage_class`` on (B, H, W) images."""
    import emrestore.distortions.batched.camera  # noqa: F401  (registers the stages)

    signal = torch.as_tensor(np.asarray(images, dtype=np.float32))
    state = BatchState(signal, signal, {}, torch.Generator().manual_seed(seed))
    IMPLEMENTATIONS[stage_class](state, stages)
    assert state.signal.dtype == torch.float32 and state.signal.shape == signal.shape
    return state.signal.numpy()


def numpy_apply(stages, images, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([stage(image, rng) for stage, image in zip(stages, images)])


def assert_same_mean(a, b, z=Z99):
    """Two samples have the same mean (two-sample z-test at 99 %)."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert abs(a.mean() - b.mean()) <= z * se + 1e-12, (a.mean(), b.mean(), se)


def assert_same_histogram(a, b, p=1e-3):
    """Two samples of small integers have the same law (two-sample χ² test)."""
    from scipy.stats import chi2

    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    bins = np.arange(min(a.min(), b.min()), max(a.max(), b.max()) + 2)
    ha, hb = np.histogram(a, bins)[0].astype(float), np.histogram(b, bins)[0].astype(float)
    keep = ha + hb > 0
    ka, kb = np.sqrt(b.size / a.size), np.sqrt(a.size / b.size)
    statistic = np.sum((ka * ha[keep] - kb * hb[keep]) ** 2 / (ha[keep] + hb[keep]))
    assert statistic <= chi2.ppf(1 - p, keep.sum() - 1), (statistic, ha, hb)


def ramp(batch, height=24, width=20, scale=10.0, seed=5):
    rng = np.random.default_rng(seed)
    return (scale * rng.uniform(0.2, 2.0, (batch, height, width))).astype(np.float32)


# ------------------------------------------------------------ deterministic stages
def test_dose_and_bias_are_exact_per_sample():
    images = ramp(3)
    doses = [Dose(), Dose(dose_e_per_px=40.0), Dose(dose_e_per_px=0.37)]
    assert np.array_equal(apply(Dose, doses, images), numpy_apply(doses, images))
    biases = [Bias(), Bias(bias_adu=123.4), Bias(bias_adu=50.0, dark_subtracted=True)]
    assert np.array_equal(apply(Bias, biases, images), numpy_apply(biases, images))


def test_adc_clips_and_rounds_per_sample():
    values = np.array([-3.0, 0.5, 1.5, 2.5, 254.5, 255.7, 4095.2, 5000.0, 7e4], dtype=np.float32)
    images = np.tile(values, (4, 3, 1))
    stages = [ADC(), ADC(adc_bits=8), ADC(adc_bits=12), ADC(adc_bits=16)]
    out = apply(ADC, stages, images)
    assert np.array_equal(out, numpy_apply(stages, images))
    assert np.array_equal(out[0], images[0])  # no ADC: untouched


@pytest.mark.parametrize("shape", [(40, 56), (12, 21)])
def test_detector_blur_matches_numpy(shape):
    """A batch mixing the neutral PSF, a core, core + tail and wide tails (pads of several
    sizes, and one wider than the short side: numpy's repeated reflection)."""
    stages = [DetectorBlur(), DetectorBlur(psf_sigma_px=1.2),
              DetectorBlur(psf_sigma_px=0.5, psf_tail_weight=0.2, psf_tail_sigma_px=3.0),
              DetectorBlur(psf_sigma_px=1.5, psf_tail_weight=0.1, psf_tail_sigma_px=8.0),
              DetectorBlur(psf_sigma_px=0.3, psf_tail_weight=0.05, psf_tail_sigma_px=3.1)]
    images = ramp(len(stages), *shape, scale=100.0)
    out, expected = apply(DetectorBlur, stages, images), numpy_apply(stages, images)
    assert np.array_equal(out[0], images[0])
    np.testing.assert_allclose(out, expected, rtol=0, atol=2e-4 * 100.0)
    assert not np.allclose(out[1:], images[1:], atol=0.1)


def test_neutral_samples_are_left_exactly_unchanged():
    images = ramp(2, scale=50.0)
    pairs = [
        (ConversionGain, [ConversionGain(), ConversionGain(gain_adu_per_e=3.0, counting_camera=False)]),
        (DarkCurrent, [DarkCurrent(), DarkCurrent(dark_e_per_px=4.0, gain_adu_per_e=2.0)]),
        (FixedPattern, [FixedPattern(), FixedPattern(gain_nonuniformity_sigma=0.02, band_sigma_adu=1.0)]),
        (ReadoutNoise, [ReadoutNoise(), ReadoutNoise(read_sigma_adu=3.0)]),
        (XRayHits, [XRayHits(), XRayHits(xray_rate_per_px=0.02, adc_bits=12)]),
        (DeadHotPixels, [DeadHotPixels(), DeadHotPixels(dead_fraction=0.05, hot_fraction=0.05,
                                                        dead_segment=True)]),
    ]
    counts = np.round(images)
    for stage_class, stages in pairs:
        source = counts if stage_class is ConversionGain else images
        out = apply(stage_class, stages, source)
        assert np.array_equal(out[0], source[0]), stage_class.__name__
        assert not np.array_equal(out[1], source[1]), stage_class.__name__


# --------------------------------------------------------------- noise statistics
def test_shot_noise_mean_and_variance_equal_lambda():
    lams = [0.7, 12.0, 300.0, 5e4, 3 * GAUSSIAN_POISSON_MIN]
    images = np.stack([np.full((128, 128), lam, dtype=np.float32) for lam in lams])
    counts = apply(ShotNoise, [ShotNoise()] * len(lams), images, seed=1)
    assert np.array_equal(counts, np.round(counts))
    for lam, sample in zip(lams, counts):
        assert_mean(sample, lam)
        assert_variance(sample, lam)
    zero = apply(ShotNoise, [ShotNoise()], np.array([[[0.0, -1.0], [0.0, 2.0]]]))
    assert zero[0, 0].tolist() == [0.0, 0.0]


def test_conversion_gain_mean_variance_and_zero_counts():
    rng = np.random.default_rng(2)
    lam = 25.0
    counts = rng.poisson(lam, (3, 128, 128)).astype(np.float32)
    counts[:, :4] = 0.0
    stages = [ConversionGain(), ConversionGain(gain_adu_per_e=3.0, swank_k=2.0, counting_camera=False),
              ConversionGain(gain_adu_per_e=20.0, swank_k=8.0, counting_camera=False)]
    signal = apply(ConversionGain, stages, counts, seed=3)
    assert np.array_equal(signal[0], counts[0])
    assert np.all(signal[:, :4] == 0)
    for stage, sample in zip(stages[1:], signal[1:]):
        g, k = stage.gain_adu_per_e, stage.swank_k
        # the conditional law: given N counts, mean N·g and variance N·g²/k
        n = counts[stages.index(stage)]
        assert_mean((sample - g * n)[n > 0], 0.0)
        assert_variance(((sample - g * n) / np.sqrt(np.maximum(n, 1)))[n > 0], g * g / k)


def test_poisson_of_one_mean_per_image_matches_numpys_table_sampler():
    means = [0.3, 5.0, 20.0, 299.0, 1000.0]
    counts = poisson_constant(means, (len(means), 96, 96), torch.Generator().manual_seed(13)).numpy()
    rng = np.random.default_rng(13)
    for mean, sample in zip(means, counts):
        assert np.array_equal(sample, np.round(sample)) and sample.min() >= 0
        assert_mean(sample, mean)
        assert_variance(sample, mean)
        assert_same_histogram(sample, numpy_poisson_constant(mean, sample.shape, rng))


@pytest.mark.parametrize("subtracted", [False, True])
def test_dark_current_mean_and_variance(subtracted):
    stage = DarkCurrent(dark_e_per_px=5.0, dark_subtracted=subtracted, gain_adu_per_e=3.0)
    images = np.full((2, 128, 128), 100.0, dtype=np.float32)
    out = apply(DarkCurrent, [stage, stage], images, seed=4)
    assert_mean(out, 100.0 + (0.0 if subtracted else 15.0))
    assert_variance(out, 9.0 * 5.0)
    assert np.allclose(np.mod(out - 100.0 + (15.0 if subtracted else 0.0), 3.0), 0.0, atol=1e-3)


def test_fixed_pattern_variance_and_row_column_correlation():
    """Per-pixel variance (x·σ_fp)² + 2σ_band², covariance σ_band² along a row or column."""
    stage = FixedPattern(gain_nonuniformity_sigma=0.02, band_sigma_adu=2.0)
    batch, size = 400, 32
    out = apply(FixedPattern, [stage] * batch, np.full((batch, size, size), 100.0), seed=5) - 100.0
    assert_variance(out, 2.0**2 + 2 * 2.0**2)
    row_products = (out[:, :, :-1] * out[:, :, 1:]).mean(axis=(1, 2))  # neighbours in a row
    assert_mean(row_products, 4.0)
    col_products = (out[:, :-1, :] * out[:, 1:, :]).mean(axis=(1, 2))
    assert_mean(col_products, 4.0)
    diagonal = (out[:, :-1, :-1] * out[:, 1:, 1:]).mean(axis=(1, 2))  # no shared row or column
    assert_mean(diagonal, 0.0)


def test_readout_noise_variance():
    stages = [ReadoutNoise(read_sigma_adu=0.5), ReadoutNoise(read_sigma_adu=7.0)]
    out = apply(ReadoutNoise, stages, np.zeros((2, 128, 128)), seed=6)
    assert_mean(out[1], 0.0)
    assert_variance(out[0], 0.25)
    assert_variance(out[1], 49.0)


@pytest.mark.parametrize("bits", [12, None])
def test_xray_hits_match_numpy_statistics(bits):
    """Hit pixels per image (mean and variance: the Poisson event count and the event
    sizes), saturated pixels and the added values, torch against numpy."""
    stage = XRayHits(xray_rate_per_px=2e-3, adc_bits=bits)
    batch, size = 250, 48
    images = np.full((batch, size, size), 100.0, dtype=np.float32)
    torch_out = apply(XRayHits, [stage] * batch, images, seed=7)
    numpy_out = numpy_apply([stage] * batch, images, seed=7)
    top = full_scale(bits)
    for out in (torch_out, numpy_out):
        assert np.all(out >= 100.0)
    hit = [(out != 100.0).sum(axis=(1, 2)) for out in (torch_out, numpy_out)]
    assert_same_mean(*hit)
    assert_same_mean(*[(h - h.mean()) ** 2 for h in hit])
    saturated = [(out == top).sum(axis=(1, 2)) for out in (torch_out, numpy_out)]
    if bits is None:
        assert saturated[0].sum() == 0 and saturated[1].sum() == 0
    else:
        assert saturated[0].sum() > 0
        assert_same_mean(*saturated)
    added = [out[(out != 100.0) & (out < 0.5 * top)] - 100.0 for out in (torch_out, numpy_out)]
    assert_same_mean(*added)
    assert added[0].min() >= 5.0 * 100.0 * 0.5 - 1e-3


def test_xray_events_apply_in_order_as_numpy(monkeypatch):
    """Overlapping events: saturation overwrites earlier additions, later ones add on top,
    a blob revisiting a pixel adds twice; events of two samples stay apart."""
    events = [  # (sample, rows, cols, saturates)
        (0, [1, 2, 2], [1, 1, 1], False), (0, [2, 3], [1, 1], True), (0, [3, 3], [1, 2], False),
        (1, [0, 5], [0, 5], False), (1, [0], [0], True), (1, [4], [4], False)]
    rng = np.random.default_rng(14)
    values = [rng.uniform(10, 60, len(rows)).astype(np.float32) for _, rows, _, _ in events]
    image = rng.uniform(0, 5, (2, 6, 6)).astype(np.float32)
    stage = XRayHits(xray_rate_per_px=0.01, adc_bits=8)
    expected = []
    for sample in (0, 1):
        mine = [XRayEvent(np.array(r), np.array(c), v, sat)
                for (b, r, c, sat), v in zip(events, values) if b == sample]
        monkeypatch.setattr(XRayHits, "events", lambda self, shape, mean, rng, _m=mine: _m)
        expected.append(stage(image[sample], rng))
    width = 15

    def padded(rows_or_values, dtype):
        out = np.zeros((len(events), width), dtype=dtype)
        for i, v in enumerate(rows_or_values):
            out[i, :len(v)] = v
        return torch.as_tensor(out)

    hits = XRayEvents(torch.tensor([e[0] for e in events]), padded([e[1] for e in events], np.int64),
                      padded([e[2] for e in events], np.int64),
                      padded([np.ones(len(e[1]), bool) for e in events], bool), padded(values, np.float32),
                      torch.tensor([e[3] for e in events]))
    got = apply_xray_events(torch.as_tensor(image), hits, torch.full((2, 1, 1), 255.0)).numpy()
    np.testing.assert_allclose(got, np.stack(expected), rtol=1e-6)
    assert got[0, 2, 1] == 255.0 and got[0, 3, 1] > 255.0 and got[1, 0, 0] == 255.0


def test_xray_events_match_numpy_event_law():
    """Per event: number of pixels, extent (blobs against tracks), saturation and values."""
    stage = XRayHits(xray_rate_per_px=6e-4, adc_bits=12)
    shape, level = (4000, 4000), 100.0
    reference = stage.events(shape, level, np.random.default_rng(12))
    drawn = draw_xray_events(torch.tensor([len(reference)]), shape, torch.tensor([level], dtype=torch.float64),
                             torch.tensor([True]), torch.Generator().manual_seed(12))
    valid = drawn.valid.numpy()
    sizes_t = valid.sum(axis=1)
    rows, cols = np.where(valid, drawn.rows.numpy(), -1), np.where(valid, drawn.cols.numpy(), -1)
    big = np.iinfo(np.int64).max
    extent_t = np.maximum(
        rows.max(axis=1) - np.where(valid, rows, big).min(axis=1),
        cols.max(axis=1) - np.where(valid, cols, big).min(axis=1)) + 1
    sizes_n = np.array([e.rows.size for e in reference])
    extent_n = np.array([max(np.ptp(e.rows), np.ptp(e.cols)) + 1 for e in reference])
    inside = (sizes_t > 0)
    assert_same_histogram(sizes_t[inside], sizes_n[sizes_n > 0])
    assert_same_histogram(extent_t[inside], extent_n[sizes_n > 0])
    saturates_n = np.array([e.saturates for e in reference], dtype=float)
    assert_same_mean(drawn.saturates.numpy().astype(float), saturates_n)
    values_t = drawn.values.numpy()[valid] / level
    values_n = np.concatenate([e.values for e in reference]) / level
    assert_same_mean(values_t, values_n)
    assert_same_mean(values_t**2, values_n**2)
    assert values_t.min() >= 2.5 - 1e-4 and values_t.max() <= 50.0 + 1e-4


def test_dead_hot_pixels_match_numpy_statistics():
    with_adc = DeadHotPixels(dead_fraction=0.01, hot_fraction=0.02, bias_adu=50.0, adc_bits=12)
    no_adc = DeadHotPixels(dead_fraction=0.01, hot_fraction=0.02, bias_adu=50.0, dark_subtracted=True)
    batch, size = 60, 48
    images = np.full((2 * batch, size, size), 1000.0, dtype=np.float32)
    stages = [with_adc] * batch + [no_adc] * batch
    torch_out, numpy_out = apply(DeadHotPixels, stages, images, seed=8), numpy_apply(stages, images, 8)
    for out in (torch_out, numpy_out):
        assert np.all((out[:batch] == 50.0) | (out[:batch] == 1000.0) | (out[:batch] >= 0.3 * 4095 - 1))
        assert np.all((out[batch:] == 0.0) | (out[batch:] == 1000.0) | (out[batch:] >= 5000.0 - 1))
    for part, dead, low, high in ((slice(0, batch), 50.0, 0.3 * 4095, 4095.0),
                                  (slice(batch, None), 0.0, 5000.0, 50000.0)):
        t, n = torch_out[part], numpy_out[part]
        assert_same_mean((t == dead).sum(axis=(1, 2)), (n == dead).sum(axis=(1, 2)))
        hot_t, hot_n = t[(t != dead) & (t != 1000.0)], n[(n != dead) & (n != 1000.0)]
        assert_same_mean((t > 1000.0).sum(axis=(1, 2)), (n > 1000.0).sum(axis=(1, 2)))
        assert hot_t.min() >= low - 1e-2 and hot_t.max() <= high + 1e-2
        assert_same_mean(hot_t, hot_n)
        expected = size * size * 0.01
        assert_mean((t == dead).sum(axis=(1, 2)), expected)


def test_dead_segment_is_one_row_or_column_part():
    stage = DeadHotPixels(dead_segment=True, bias_adu=7.0)
    batch, height, width = 6000, 24, 40
    images = np.full((batch, height, width), 500.0, dtype=np.float32)
    out = apply(DeadHotPixels, [stage] * batch, images, seed=9)
    reference = numpy_apply([stage] * batch, images, seed=9)
    dead = out == 7.0
    rows, cols = dead.any(axis=2).sum(axis=1), dead.any(axis=1).sum(axis=1)
    assert np.all((rows == 1) | (cols == 1))
    along_rows = (rows == 1) & (cols > 1)
    assert abs(along_rows.mean() - 0.5) < Z99 * 0.5 / np.sqrt(batch) + 1 / batch
    for axis_rows, side in ((True, width), (False, height)):
        pick = (rows == 1) if axis_rows else (cols == 1)
        pick_n = ((reference == 7.0).any(axis=2).sum(axis=1) == 1) if axis_rows else (
            (reference == 7.0).any(axis=1).sum(axis=1) == 1)
        lengths, lengths_n = dead[pick].reshape(pick.sum(), -1).sum(axis=1), \
            (reference == 7.0)[pick_n].reshape(pick_n.sum(), -1).sum(axis=1)
        assert lengths.max() <= side
        assert_same_mean(lengths, lengths_n)
        assert_same_histogram(lengths, lengths_n)
    # contiguous: the dead pixels of a row segment are a run
    for image in dead[along_rows][:20]:
        where = np.flatnonzero(image.any(axis=1))[0]
        run = np.flatnonzero(image[where])
        assert np.array_equal(run, np.arange(run[0], run[-1] + 1))


def test_camera_batch_is_reproducible_from_the_seed():
    from emrestore.distortions.chains import tem

    values = [dict(v) for v in _fixed_values(4)]
    stages = {cls: [tem.build(v)[cls] for v in values] for cls in tem.acquisition}
    images = ramp(4, scale=1.0)

    def run(seed):
        signal = torch.as_tensor(images)
        state = BatchState(signal, signal, stages, torch.Generator().manual_seed(seed))
        for cls in tem.acquisition:
            IMPLEMENTATIONS[cls](state, stages[cls])
        return state.signal.numpy()

    apply(Dose, [Dose()], images[:1])  # registers the stages
    assert np.array_equal(run(11), run(11))
    assert not np.array_equal(run(11), run(12))


# ----------------------------------------------------------------- the TEM chain
def _fixed_values(batch):
    """TEM parameters of a charge-integrating camera with every stage active."""
    clean = np.ones((16, 16))
    _, _, params = distort(clean, "tem", seed=0, dose_e_per_px=30.0, counting_camera=False,
                           gain_adu_per_e=4.0, swank_k=3.0, psf_sigma_px=0.8, psf_tail_weight=0.1,
                           psf_tail_sigma_px=3.0, dark_e_per_px=2.0, dark_subtracted=False,
                           gain_nonuniformity_sigma=0.01, band_sigma_adu=1.0, read_sigma_adu=3.0,
                           bias_adu=100.0, xray_rate_per_px=0.0, dead_fraction=0.0,
                           hot_fraction=0.0, dead_segment=False, adc_bits=12,
                           display_applied=False)
    values = {k: v for k, v in params.items() if k != "modality"}
    return [values] * batch


def test_tem_chain_end_to_end_matches_distort():
    """run_batch on a params dict of distort: the same target (to the rounding of the two FFTs
    of the detector PSF it keeps); per-pixel mean and variance within sampling error of
    repeated numpy runs."""
    rng = np.random.default_rng(10)
    clean = rng.uniform(0.2, 3.0, (16, 16)).astype(np.float32)
    values = _fixed_values(1)[0]
    count = 400
    batch = torch.as_tensor(np.repeat(clean[None], count, axis=0))
    degraded, target = run_batch("tem", batch, [values] * count, torch.Generator().manual_seed(3))
    degraded, target = degraded.numpy(), target.numpy()
    runs = [distort(clean, "tem", seed=s, **values) for s in range(count)]
    numpy_degraded = np.stack([r[0] for r in runs])
    np.testing.assert_allclose(target, np.repeat(runs[0][1][None], count, axis=0), rtol=1e-6)
    assert np.array_equal(degraded, np.round(degraded))  # the 12-bit ADC
    var_t, var_n = degraded.var(axis=0, ddof=1), numpy_degraded.var(axis=0, ddof=1)
    z = (degraded.mean(axis=0) - numpy_degraded.mean(axis=0)) / np.sqrt((var_t + var_n) / count)
    assert abs(z.mean()) < 4 * Z99 / np.sqrt(z.size) and abs(np.mean(z**2) - 1.0) < 0.8
    log_ratio = np.log(var_t / var_n)  # per-pixel variance, in dark and bright pixels apart
    bright = target[0] > np.median(target[0])
    for part in (bright, ~bright):
        assert abs(log_ratio[part].mean()) < 0.06, log_ratio[part].mean()

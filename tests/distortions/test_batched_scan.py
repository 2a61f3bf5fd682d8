"""Batched scan model (emrestore.distortions.batched.scan) against the numpy scan stages."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from distortion_stats import Z99
from scipy.ndimage import gaussian_filter
from scipy.signal import lfilter

from emrestore.distortions import chains, detector, scan
from emrestore.distortions.batched import IMPLEMENTATIONS, BatchState, sample_batch
from emrestore.distortions.batched import scan as bscan
from emrestore.distortions.batched.resampling import (
    ProbePath,
    reflect_index,
    sample_separable,
)
from emrestore.distortions.parameters import ChainState
from emrestore.distortions.resampling import sample_separable as numpy_sample_separable

EFFECTS = (scan.Drift, scan.LineJitter, scan.Interference, scan.FastJitter, scan.FlybackSettling,
           scan.ScanSpeedWarp)


def clean_images(batch: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth positive images of mean 1 (float32), structure on all scales."""
    rng = np.random.default_rng(seed)
    images = np.stack([gaussian_filter(rng.random((height, width)), 1.5) + 0.3 * rng.random((height, width))
                       for _ in range(batch)])
    images = images.astype(np.float32)
    return images / images.mean(axis=(1, 2), keepdims=True, dtype=np.float64).astype(np.float32)


def replay_numpy_noise(effects, stages_of, height: int, width: int, seeds) -> dict:
    """The random inputs the numpy stages draw from ``default_rng(seed)`` of every sample,
    in the batched effects' format (zeros where a stage is inactive)."""
    batch = len(seeds)
    noise = {scan.LineJitter: np.zeros((batch, 2, height)),
             scan.Interference: np.zeros((batch, 3, 2)),
             scan.FastJitter: np.zeros((batch, 2, height, width), dtype=np.float32),
             scan.ScanSpeedWarp: np.zeros((batch, 3))}
    for b, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        for effect in effects:
            stage = stages_of[effect][b]
            if not stage.active:
                continue
            if effect is scan.LineJitter:
                noise[effect][b, 0] = rng.standard_normal(height)
                noise[effect][b, 1] = rng.standard_normal(height)
            elif effect is scan.Interference:
                terms = stage.interference_terms
                noise[effect][b, :terms] = rng.uniform(0.0, 2.0 * math.pi, (terms, 2))
            elif effect is scan.FastJitter:
                noise[effect][b] = rng.standard_normal((2, height, width), dtype=np.float32)
            elif effect is scan.ScanSpeedWarp:
                noise[effect][b] = rng.standard_normal(3)
    return {k: torch.from_numpy(v) for k, v in noise.items() if k in effects}


def stem_batch(height: int, width: int, seeds, overrides) -> tuple[np.ndarray, list, dict]:
    """Clean images, STEM parameters drawn by the chain's sampler (with per-sample overrides)
    and the stages of every sample as the chain builds them."""
    clean = clean_images(len(seeds), height, width, seed=seeds[0])
    values = sample_batch("stem", clean, [np.random.default_rng(s) for s in seeds])
    for v, extra in zip(values, overrides):
        v.update(extra)
    builds = [chains.stem.build(v) for v in values]
    stages_of = {cls: [b[cls] for b in builds] for cls in chains.stem.stages}
    return clean, values, stages_of


#: Per-sample parameter overrides: a neutral sample, single effects, everything on.
NEUTRAL = {"drift_px": 0.0, "jitter_sigma_x_px": 0.0, "jitter_sigma_y_px": 0.0, "interference_terms": 0,
           "fast_jitter_sigma_px": 0.0, "flyback_amplitude_px": 0.0, "scan_warp_px": 0.0,
           "dwell_blur_px": 0.0}
OVERRIDES = [
    NEUTRAL,
    {**NEUTRAL, "drift_px": 2.5, "drift_quadratic_fraction": -0.3, "dwell_blur_px": 0.02},
    {**NEUTRAL, "jitter_sigma_x_px": 1.2, "jitter_sigma_y_px": 0.4, "jitter_phi": 0.7, "dwell_blur_px": 0.7},
    {**NEUTRAL, "interference_terms": 2, "interference_amp_x_px_1": 0.6, "interference_amp_y_px_2": 0.4,
     "interference_freq_hz_1": 50.0, "interference_freq_hz_2": 377.0, "dwell_time_us": 40.0},
    {**NEUTRAL, "fast_jitter_sigma_px": 0.2, "dwell_blur_px": 0.3},
    {**NEUTRAL, "flyback_amplitude_px": 6.0, "flyback_decay_px": 3.0, "flyback_y_fraction": -0.2},
    {**NEUTRAL, "scan_warp_px": 2.0, "dwell_blur_px": 1.0},
    {},  # everything as drawn
    {"drift_px": 9.0, "flyback_amplitude_px": 12.0, "flyback_decay_px": 30.0},  # large: deep reflection
]


def numpy_renders(clean, stages_of, seeds, row_starts=None) -> np.ndarray:
    out = []
    for b, seed in enumerate(seeds):
        effects = tuple(stages_of[e][b] for e in EFFECTS)
        starts = None if row_starts is None else row_starts[b]
        out.append(stages_of[scan.DwellBlur][b].render(clean[b], np.random.default_rng(seed), effects,
                                                       starts, {}))
    return np.stack(out)


def batch_raster(stages_of, shape, row_starts=None) -> bscan.BatchRaster:
    starts = None if row_starts is None else (lambda i, _line: row_starts[i])
    return bscan.BatchRaster.of(stages_of[scan.DwellBlur], shape, starts, "cpu")


# ------------------------------------------------------------------------ resampling
def test_reflect_index_is_numpy_symmetric_padding():
    for size in (1, 2, 3, 5):
        pad = 3 * size + 2
        reference = np.pad(np.arange(size), pad, mode="symmetric")
        got = reflect_index(torch.arange(-pad, size + pad), size).numpy()
        np.testing.assert_array_equal(got, reference)


@pytest.mark.parametrize("shape", [(7, 9), (5, 4), (24, 31)])
def test_sample_separable_matches_numpy_for_mixed_dwell_samples(shape):
    height, width = shape
    rng = np.random.default_rng(height)
    batch = 6
    image = rng.random((batch, height, width)).astype(np.float32)
    # displacements from none to several image sizes (deep reflection), per sample
    spread = np.array([0.0, 0.3, 2.0, 12.0, 0.05, 25.0])[:, None, None]
    y = (np.arange(height, dtype=np.float32)[:, None] + spread * rng.normal(size=(batch, height, width))
         ).astype(np.float32)
    x = (np.arange(width, dtype=np.float32) + spread[None] * rng.normal(size=(4, batch, height, width))
         ).astype(np.float32)
    counts = [1, 4, 2, 3, 4, 1]
    reference = np.stack([numpy_sample_separable(image[b], y[b], x[:counts[b], b]) for b in range(batch)])
    got = sample_separable(torch.from_numpy(image), torch.from_numpy(y), torch.from_numpy(x), counts)
    np.testing.assert_allclose(got.numpy(), reference, rtol=0, atol=2e-6)


def test_sample_separable_rejects_bad_shapes():
    image = torch.ones((2, 5, 5))
    with pytest.raises(Exception, match="counts"):
        sample_separable(image, image, torch.ones((2, 2, 5, 5)), counts=[1, 3])
    with pytest.raises(Exception, match="one shape"):
        sample_separable(image, image[:, :4], torch.ones((1, 2, 5, 5)))


def test_probe_path_positions_are_numpy_dwell_path():
    from emrestore.distortions.resampling import DwellPath

    rng = np.random.default_rng(3)
    start = rng.normal(size=(3, 4, 5)).astype(np.float32)
    travel = rng.normal(size=(3, 4, 5)).astype(np.float32)
    still = rng.normal(size=(3, 4, 5)).astype(np.float32)
    counts = [3, 1, 4]
    path = ProbePath(*(torch.from_numpy(a) for a in (still, start, travel)), counts)
    assert len(path) == 4
    for b, n in enumerate(counts):
        expected = [still[b]] if n == 1 else list(DwellPath(start[b], travel[b], n))
        for k in range(n):
            np.testing.assert_array_equal(path[k][b].numpy(), expected[k])
        np.testing.assert_array_equal(path.last()[b].numpy(), expected[-1])


# ------------------------------------------------------------- deterministic fields
def test_ar1_filter_is_lfilter():
    rng = np.random.default_rng(4)
    drive = rng.normal(size=(5, 2, 130))
    phi = np.array([0.0, 0.3, 0.7, 0.9, 0.999])
    got = bscan.ar1_filter(torch.from_numpy(drive), torch.from_numpy(phi)[:, None, None]).numpy()
    for b in range(5):
        for axis in range(2):
            np.testing.assert_allclose(got[b, axis], lfilter([1.0], [1.0, -phi[b]], drive[b, axis]),
                                       rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("effect", EFFECTS)
def test_effect_fields_match_numpy_displacement_given_its_random_inputs(effect):
    height, width = 12, 17
    seeds = list(range(40, 40 + len(OVERRIDES)))
    _, _, stages_of = stem_batch(height, width, seeds, OVERRIDES)
    # a second acquisition of line integration for every other sample: other row start times
    integration = detector.Integration(integration_frames=4, integration_mode="line")
    row_starts = [integration.row_starts_us(height, s.raster((height, width)).line_time_us, b % 2)
                  for b, s in enumerate(stages_of[scan.DwellBlur])]
    raster = batch_raster(stages_of, (height, width), row_starts)
    noise = replay_numpy_noise((effect,), stages_of, height, width, seeds)
    fields = bscan.effect_fields((effect,), stages_of, raster, torch.Generator().manual_seed(0), {}, noise)
    got = fields[2:] if effect.PER_PIXEL else fields[:2]
    for b, seed in enumerate(seeds):
        stage = stages_of[effect][b]
        timing = stages_of[scan.DwellBlur][b].raster((height, width), row_starts[b])
        if stage.active:
            expected = stage.displacement(timing, np.random.default_rng(seed))
        else:
            expected = (np.zeros((1, 1)), np.zeros((1, 1)))
        grid = (height, width) if effect.PER_PIXEL else (height, width + 1)
        for axis in range(2):
            np.testing.assert_allclose(np.broadcast_to(got[axis][b].numpy(), grid),
                                       np.broadcast_to(expected[axis].astype(np.float32), grid),
                                       rtol=1e-6, atol=1e-6, err_msg=f"{effect.__name__} sample {b}")


def test_render_matches_numpy_given_numpy_random_inputs():
    """All effects together on a mixed batch (neutral samples, single effects, all drawn)."""
    height, width = 20, 26
    seeds = list(range(60, 60 + len(OVERRIDES)))
    clean, _, stages_of = stem_batch(height, width, seeds, OVERRIDES)
    integration = detector.Integration(integration_frames=2, integration_mode="frame")
    row_starts = [integration.row_starts_us(height, s.raster((height, width)).line_time_us, 1)
                  for s in stages_of[scan.DwellBlur]]
    reference = numpy_renders(clean, stages_of, seeds, row_starts)
    raster = batch_raster(stages_of, (height, width), row_starts)
    noise = replay_numpy_noise(EFFECTS, stages_of, height, width, seeds)
    fields = bscan.effect_fields(EFFECTS, stages_of, raster, torch.Generator().manual_seed(0), {}, noise)
    blur = torch.tensor([s.dwell_blur_px for s in stages_of[scan.DwellBlur]], dtype=torch.float32)
    got = bscan.render(torch.from_numpy(clean), blur, fields).numpy()
    np.testing.assert_allclose(got, reference, rtol=0, atol=2e-5 * float(np.abs(reference).max()))
    _, path = bscan.probe_positions(height, width, blur, fields)
    assert {1, 2, 4} <= set(path.counts)  # every sample averages its own number of dwell samples
    assert np.abs(got[0] - clean[0]).max() < 1e-6  # the neutral sample is the clean image


@pytest.mark.parametrize("modality", ["stem", "sem"])
def test_chain_stages_match_numpy_with_deterministic_effects(modality):
    """Drift, fly-back settling and dwell blur through the registered stage implementations
    (random processes off), several acquisitions with integration timing, against numpy's
    :meth:`Stage.apply`."""
    chain = chains.get_chain(modality)
    height, width = 16, 22
    seeds = [7, 8, 9, 10, 11]
    clean = clean_images(len(seeds), height, width, seed=1)
    values = sample_batch(chain, clean, [np.random.default_rng(s) for s in seeds])
    off = {"jitter_sigma_x_px": 0.0, "jitter_sigma_y_px": 0.0, "interference_terms": 0,
           "fast_jitter_sigma_px": 0.0, "scan_warp_px": 0.0}
    extra = [{"drift_px": 0.0, "flyback_amplitude_px": 0.0, "dwell_blur_px": 0.0},
             {"drift_px": 3.0, "drift_quadratic_fraction": 0.3, "dwell_blur_px": 0.0},
             {"flyback_amplitude_px": 5.0, "flyback_decay_px": 4.0, "dwell_blur_px": 0.04},
             {"drift_px": 1.0, "flyback_amplitude_px": 2.0, "dwell_blur_px": 1.0},
             {}]
    for v, e in zip(values, extra):
        v.update(off, **e)
        if modality == "sem":
            v.update(integration_frames=4, integration_mode="line" if len(e) % 2 else "frame")
    builds = [chain.build(v) for v in values]
    built = {cls: [b[cls] for b in builds] for cls in chain.stages}
    tensor = torch.from_numpy(clean)
    static: dict = {}
    for acquisition in range(2):
        integrations = [b.get(detector.Integration, detector.Integration()) for b in builds]

        def starts(i, line_time_us, _a=acquisition, _integrations=integrations):
            return _integrations[i].row_starts_us(height, line_time_us, acquisition=_a)

        state = BatchState(tensor, tensor, built, torch.Generator().manual_seed(1), acquisition=acquisition,
                           row_start_us=starts, static=static)
        for cls in chain.acquisition[:len(EFFECTS) + 1]:
            IMPLEMENTATIONS[cls](state, built[cls])
        assert state.effects == []
        for b in range(len(seeds)):
            numpy_state = ChainState(clean[b], clean[b], row_start_us=functools.partial(
                integrations[b].row_starts_us, height, acquisition=acquisition), static={})
            for cls in chain.acquisition[:len(EFFECTS) + 1]:
                builds[b][cls].apply(numpy_state, np.random.default_rng(0))
            np.testing.assert_allclose(state.signal[b].numpy(), numpy_state.signal, rtol=0, atol=2e-5,
                                       err_msg=f"{modality} sample {b} acquisition {acquisition}")


def test_static_effects_are_shared_by_the_acquisitions():
    height, width = 10, 14
    seeds = [1, 2, 3]
    overrides = [{**NEUTRAL, "scan_warp_px": 2.0, "flyback_amplitude_px": 3.0},
                 {**NEUTRAL, "scan_warp_px": 1.0},
                 {**NEUTRAL, "jitter_sigma_x_px": 1.0, "scan_warp_px": 1.5}]
    clean, _, built = stem_batch(height, width, seeds, overrides)
    tensor = torch.from_numpy(clean)
    generator = torch.Generator().manual_seed(5)
    static: dict = {}
    signals = []
    for acquisition in range(2):
        state = BatchState(tensor, tensor, built, generator, acquisition=acquisition,
                           row_start_us=lambda i, line, _a=acquisition: (np.arange(height) + _a * height) * line,
                           static=static)
        for cls in (*EFFECTS, scan.DwellBlur):
            IMPLEMENTATIONS[cls](state, built[cls])
        signals.append(state.signal)
    assert set(static) == {scan.ScanSpeedWarp, scan.FlybackSettling}
    assert torch.equal(signals[0][:2], signals[1][:2])  # warp and fly-back only: the same scan
    assert not torch.equal(signals[0][2], signals[1][2])  # the line jitter is new each time
    warp = static[scan.ScanSpeedWarp][0][1, 0]  # the sample of scan_warp_px = 1: peak 1 unless too steep
    peak, slope = float(warp.abs().max()), float((warp[1:] - warp[:-1]).abs().max())
    assert peak == pytest.approx(1.0, rel=1e-6) or (peak < 1.0 and slope == pytest.approx(0.5, rel=1e-6))


def test_every_scan_stage_is_registered_and_joins_the_effects():
    for cls in (*EFFECTS, scan.DwellBlur):
        assert cls in IMPLEMENTATIONS
    clean = torch.ones((1, 4, 4))
    state = BatchState(clean, clean, {}, torch.Generator())
    for cls in EFFECTS:
        IMPLEMENTATIONS[cls](state, [cls()])
    assert state.effects == list(EFFECTS)


# ------------------------------------------------------------------ statistics
def line_jitter_moments(dx: np.ndarray) -> dict[str, np.ndarray]:
    """Per-sample statistics of row shifts (B, H): mean square, lag-1/lag-3 products, first row."""
    return {"square": (dx ** 2).mean(axis=1), "lag1": (dx[:, 1:] * dx[:, :-1]).mean(axis=1),
            "lag3": (dx[:, 3:] * dx[:, :-3]).mean(axis=1), "first": dx[:, 0] ** 2}


def assert_same_mean(a: np.ndarray, b: np.ndarray, label: str) -> None:
    """Means of two independent samples agree within the 99 % interval of their difference."""
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert abs(a.mean() - b.mean()) <= Z99 * se + 1e-12, (label, a.mean(), b.mean(), se)


@pytest.mark.parametrize("phi", [0.0, 0.8])
def test_line_jitter_statistics_match_numpy(phi):
    height, width, batch = 64, 8, 3000
    stage = scan.LineJitter(jitter_sigma_x_px=1.0, jitter_sigma_y_px=0.4, jitter_phi=phi)
    stages = [stage] * batch
    raster = batch_raster({scan.DwellBlur: [scan.DwellBlur()] * batch}, (height, width))
    noise = bscan.line_jitter_noise(raster, torch.Generator().manual_seed(11))
    dx, dy = (a[:, :, 0].double().numpy() for a in bscan.line_jitter_field(stages, raster, noise))
    rng = np.random.default_rng(12)
    reference = np.stack([np.stack(stage.row_shifts(height, rng)) for _ in range(batch)])
    for got, ref, sigma in ((dx, reference[:, 0], 1.0), (dy, reference[:, 1], 0.4)):
        mine, theirs = line_jitter_moments(got), line_jitter_moments(ref)
        for key in mine:
            assert_same_mean(mine[key], theirs[key], f"{key} σ={sigma} φ={phi}")
        # and both as the stationary AR(1): E[δ²] = σ², E[δ_i δ_{i+k}] = φ^k σ²
        for key, lag in (("square", 0), ("lag1", 1), ("lag3", 3), ("first", 0)):
            se = mine[key].std(ddof=1) / math.sqrt(batch)
            assert abs(mine[key].mean() - phi ** lag * sigma ** 2) <= Z99 * se + 1e-12, (key, sigma)
        # RMS of every row over the samples (stationary from the first line on); z = 4 for 64 rows
        per_row = got ** 2
        se = per_row.std(axis=0, ddof=1) / math.sqrt(batch)
        assert (np.abs(per_row.mean(axis=0) - sigma ** 2) <= 4.0 * se).all(), sigma
    assert abs(np.corrcoef(dx.ravel(), dy.ravel())[0, 1]) < Z99 / math.sqrt(dx.size / (1 + phi) * (1 - phi))


def test_interference_statistics_match_numpy():
    """Random phases: mean 0, mean square A²/2 at each time, and the lag product A²/2·cos(ωτ)
    between the first and last dwell boundary of a line (the term's frequency)."""
    height, width, batch = 16, 20, 3000
    stage = scan.Interference(interference_terms=1, interference_freq_hz_1=180.0, interference_amp_x_px_1=0.6,
                              interference_amp_y_px_1=0.3, dwell_time_us=50.0)
    blur = scan.DwellBlur(dwell_time_us=50.0, flyback_time_us=200.0)
    raster = batch_raster({scan.DwellBlur: [blur] * batch}, (height, width))
    noise = bscan.interference_noise(raster, torch.Generator().manual_seed(13))
    got = [a.double().numpy() for a in bscan.interference_field([stage] * batch, raster, noise)]
    rng = np.random.default_rng(14)
    timing = blur.raster((height, width))
    reference = [np.stack(a) for a in zip(*(stage.displacement(timing, rng) for _ in range(batch)))]
    omega_tau = 2e-6 * math.pi * 180.0 * width * 50.0
    for axis, amp in ((0, 0.6), (1, 0.3)):
        mine, theirs = got[axis], reference[axis]
        stats = {"mean": lambda d: d[:, 5, 7], "square": lambda d: d[:, 5, 7] ** 2,
                 "lag": lambda d: (d[:, :, 0] * d[:, :, -1]).mean(axis=1)}
        for key, stat in stats.items():
            assert_same_mean(stat(mine), stat(theirs), f"{key} axis {axis}")
        for key, expected in (("mean", 0.0), ("square", amp ** 2 / 2),
                              ("lag", amp ** 2 / 2 * math.cos(omega_tau))):
            values = stats[key](mine)
            assert abs(values.mean() - expected) <= Z99 * values.std(ddof=1) / math.sqrt(batch) + 1e-12, key


def test_fast_jitter_is_white_with_sigma():
    height, width, batch = 16, 16, 200
    sigmas = np.where(np.arange(batch) % 2, 0.2, 0.05)
    stages = [scan.FastJitter(fast_jitter_sigma_px=float(s)) for s in sigmas]
    raster = batch_raster({scan.DwellBlur: [scan.DwellBlur()] * batch}, (height, width))
    noise = bscan.fast_jitter_noise(raster, torch.Generator().manual_seed(15))
    dx, dy = (a.double().numpy() for a in bscan.fast_jitter_field(stages, raster, noise))
    for field in (dx, dy):
        z = field / sigmas[:, None, None]
        n = z.size
        assert abs(z.mean()) <= Z99 / math.sqrt(n)
        assert abs(z.var() - 1.0) <= Z99 * math.sqrt(2.0 / n)
        for a, b in ((z[:, 1:], z[:, :-1]), (z[:, :, 1:], z[:, :, :-1])):
            assert abs((a * b).mean()) <= Z99 / math.sqrt(a.size)
    assert abs((dx * dy).mean() / (sigmas ** 2).mean()) <= Z99 / math.sqrt(dx.size) * 2


def test_scan_warp_statistics_match_numpy():
    height, width, batch = 4, 32, 2000
    stage = scan.ScanSpeedWarp(scan_warp_px=1.5)
    raster = batch_raster({scan.DwellBlur: [scan.DwellBlur()] * batch}, (height, width))
    noise = bscan.scan_warp_noise(raster, torch.Generator().manual_seed(16))
    got = bscan.scan_warp_field([stage] * batch, raster, noise)[0][:, 0].double().numpy()
    rng = np.random.default_rng(17)
    timing = scan.DwellBlur().raster((height, width))
    reference = np.stack([stage.displacement(timing, rng)[0][0] for _ in range(batch)])
    for j in (4, 10, 16, 25):
        assert_same_mean(got[:, j], reference[:, j], f"mean at {j}")
        assert_same_mean(got[:, j] ** 2, reference[:, j] ** 2, f"square at {j}")
    assert_same_mean(np.abs(got).max(axis=1), np.abs(reference).max(axis=1), "peak")
    assert np.abs(np.diff(got, axis=1)).max() <= 0.5 + 1e-6  # monotone ramp
    np.testing.assert_allclose(got[:, [0, -1]], 0.0, atol=1e-6)  # fixed line ends


# ------------------------------------------------------------------ reproducibility
def run_scan(seed: int, height: int = 12, width: int = 15):
    seeds = list(range(80, 80 + len(OVERRIDES)))
    clean, _, built = stem_batch(height, width, seeds, OVERRIDES)
    tensor = torch.from_numpy(clean)
    state = BatchState(tensor, tensor, built, torch.Generator().manual_seed(seed))  # one frame from t = 0
    for cls in (*EFFECTS, scan.DwellBlur):
        IMPLEMENTATIONS[cls](state, built[cls])
    return state.signal


def test_scan_is_reproducible_from_the_seed():
    first, again, other = run_scan(3), run_scan(3), run_scan(4)
    assert torch.equal(first, again)
    assert not torch.equal(first[7], other[7])  # drawn jitter, interference and warp differ
    assert torch.equal(first[0], other[0])  # the neutral sample has no randomness
    assert torch.isfinite(first).all()

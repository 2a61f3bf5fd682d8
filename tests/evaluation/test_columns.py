"""Atomic-column precision: peak finding, batched Gaussian fits, alignment and scores."""

from __future__ import annotations

import numpy as np
import pytest

from emrestore.evaluation.column_fit import fit_gaussians
from emrestore.evaluation.columns import (
    MIN_VISIBLE_COLUMNS,
    ColumnEvaluation,
    ColumnTruth,
    column_reference,
    columns_figure,
    columns_markdown,
    score_columns,
)

SPACING = 12.0


def _lattice(size=120, spacing=SPACING, offset=(6.3, 5.7)):
    g = np.arange(0, size, spacing)
    xy = np.stack(np.meshgrid(g + offset[0], g + offset[1]), -1).reshape(-1, 2)
    return xy[(xy >= 0).all(1) & (xy < size).all(1)]


def _render(xy, size=120, sigma=1.8, amplitude=100.0, background=10.0, amplitudes=None):
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    image = np.full((size, size), background)
    amps = np.full(len(xy), amplitude) if amplitudes is None else amplitudes
    for (x, y), a in zip(xy, amps):
        image += a * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    return image


def test_fits_recover_subpixel_positions_and_integrated_intensities():
    xy = _lattice()
    amps = np.linspace(50, 150, len(xy))
    image = _render(xy, amplitudes=amps)
    start = xy + np.random.default_rng(0).uniform(-1, 1, xy.shape)
    positions, volumes, ok = fit_gaussians(image, start, half_width=4)
    assert ok.all()
    assert np.abs(positions - xy).max() < 0.02
    np.testing.assert_allclose(volumes, 2 * np.pi * amps * 1.8**2, rtol=0.02)


def test_clean_image_scores_perfectly_and_dark_columns_are_minima():
    xy = _lattice()
    image = _render(xy)
    for frame, dark in ((image, False), (200.0 - image, True)):
        truth = ColumnTruth(xy.astype(np.float32), dark)
        reference = column_reference(frame, truth)
        assert reference is not None
        margin = reference.half_width + 1  # columns whose fit window leaves the image are not scored
        inside = ((xy >= margin) & (xy <= 119 - margin)).all(axis=1)
        np.testing.assert_allclose(reference.visible, xy[inside], atol=1e-5)
        assert reference.spacing_px == pytest.approx(SPACING, rel=0.01)
        score = score_columns(frame, reference, pixel_size_nm=0.01)
        assert score.found == 1.0 and score.spurious == 0.0
        assert score.rms_pm < 0.5 and score.intensity_error < 1e-3


def test_global_translation_is_not_an_error_but_noise_is():
    xy = _lattice()
    reference = column_reference(_render(xy), ColumnTruth(xy, False))
    shifted = _render(xy + [2.5, -1.5])  # drift: a single frame cannot know it
    score = score_columns(shifted, reference, pixel_size_nm=0.01)
    assert score.found == 1.0 and score.rms_pm < 0.5
    rng = np.random.default_rng(1)
    noisy = rng.poisson(_render(xy) * 0.2).astype(np.float64)
    worse = score_columns(noisy, reference, pixel_size_nm=0.01)
    pure_noise = score_columns(rng.poisson(12.0, (120, 120)).astype(np.float64), reference, pixel_size_nm=0.01)
    assert 0.5 < worse.rms_pm < pure_noise.rms_pm
    assert pure_noise.found < 0.5 and pure_noise.spurious > 0.5


def test_an_invented_atom_is_spurious():
    xy = _lattice()
    reference = column_reference(_render(xy), ColumnTruth(xy, False))
    extra = np.vstack([xy, [[xy[0, 0] + SPACING / 2, xy[0, 1] + SPACING / 2]]])  # between four columns
    score = score_columns(_render(extra), reference, pixel_size_nm=0.01)
    assert score.found == 1.0 and score.spurious == pytest.approx(1 / len(extra))  # 1 of 101 peaks


def test_too_few_resolved_columns_are_not_scored():
    xy = _lattice()[: MIN_VISIBLE_COLUMNS - 1]
    assert column_reference(_render(xy), ColumnTruth(xy, False)) is None
    flat = np.full((120, 120), 5.0)
    assert column_reference(flat, ColumnTruth(_lattice(), False)) is None


def test_evaluation_table_bins_doses_and_writes_a_figure(tmp_path):
    xy = _lattice()
    reference = column_reference(_render(xy), ColumnTruth(xy, False))
    rng = np.random.default_rng(2)
    doses = np.array([0.5, 1.0, 10.0, 20.0, 300.0, 900.0])
    scores = [score_columns(rng.poisson(_render(xy) * d / 100).astype(float), reference, 0.01) for d in doses]
    evaluation = ColumnEvaluation("hrstem", doses, np.ones(6, bool), {"raw input": scores})
    rows = evaluation.table()
    assert [r["dose"] for r in rows][-1] == "all" and len(rows) == 4
    low, high = rows[0], rows[2]
    assert low["images"] == high["images"] == 2
    assert high["rms_pm_median"] < low["rms_pm_median"]
    assert "| raw input | all | 6 |" in columns_markdown(evaluation)
    assert columns_figure(evaluation, tmp_path / "c.png").stat().st_size > 10_000


def test_the_alignment_map_ignores_noise_peaks():
    from emrestore.evaluation.column_fit import affine_fit, robust_affine_fit

    rng = np.random.default_rng(1)
    src = rng.uniform(0, 200, (60, 2))
    drift = np.array([[1.01, 0.02], [-0.01, 0.99], [3.0, -2.0]])  # scale, shear, shift
    dst = np.hstack([src, np.ones((60, 1))]) @ drift
    dst[:20] += rng.uniform(-6, 6, (20, 2))  # a third of the pairs are noise peaks near a column
    robust, plain = robust_affine_fit(src, dst, 2.0), affine_fit(src, dst)
    assert np.abs(robust - drift).max() < 0.2 < np.abs(plain - drift).max()
    assert np.array_equal(robust, robust_affine_fit(src, dst, 2.0))  # seeded: reproducible
    assert np.allclose(robust_affine_fit(src[:4], dst[:4], 2.0), affine_fit(src[:4], dst[:4]))

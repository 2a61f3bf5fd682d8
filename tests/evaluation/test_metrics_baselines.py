"""Metrics and the oracle-tuned classical baselines."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from scipy import ndimage

from emrestore.evaluation import BASELINES, psnr, ssim
from emrestore.evaluation.baselines import (
    median3,
    oracle_bm3d,
    oracle_gaussian,
    oracle_nlm,
)


def lattice(size: int = 64) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    return (1.0 + 0.8 * np.cos(2 * np.pi * x / 8) * np.cos(2 * np.pi * y / 8)).astype(np.float32)


def test_psnr_uses_target_range():
    target = np.linspace(0, 2, 100).reshape(10, 10)
    assert psnr(target, target) == float("inf")
    assert psnr(target + 0.2, target) == pytest.approx(20.0, abs=1e-9)
    assert psnr(np.full((3, 3), 1.0), np.zeros((3, 3))) == pytest.approx(0.0)  # constant target: peak 1


def test_ssim_orders_noise_levels():
    rng = np.random.default_rng(0)
    target = lattice()
    small = ssim(target + rng.normal(0, 0.05, target.shape), target)
    large = ssim(target + rng.normal(0, 0.5, target.shape), target)
    assert ssim(target, target) == pytest.approx(1.0)
    assert 1.0 > small > large


def test_median_removes_impulses():
    target = lattice()
    hit = target.copy()
    hit[10, 10] = 50.0
    out, _ = median3(hit)
    assert abs(out[10, 10] - target[10, 10]) < 0.5
    assert psnr(out, target) > psnr(hit, target) + 10


@pytest.mark.parametrize("method", [oracle_gaussian, oracle_nlm])
def test_tuned_filters_denoise_and_report_their_parameter(method):
    rng = np.random.default_rng(1)
    target = lattice()
    noisy = (target + rng.normal(0, 0.4, target.shape)).astype(np.float32)
    out, params = method(noisy, target)
    assert out.shape == target.shape
    assert psnr(out, target) > psnr(noisy, target) + 3
    assert params["ms"] > 0 and len(params) >= 2


def test_gaussian_oracle_picks_the_best_width():
    rng = np.random.default_rng(2)
    target = lattice()
    noisy = (target + rng.normal(0, 0.4, target.shape)).astype(np.float32)
    out, params = oracle_gaussian(noisy, target)
    for sigma in (0.5, 4.0):
        assert psnr(out, target) >= psnr(ndimage.gaussian_filter(noisy, sigma, mode="reflect"), target)
    assert 0.5 < params["sigma_px"] < 4.0


@pytest.mark.skipif(importlib.util.find_spec("bm3d") is None, reason="bm3d (optional) not installed")
def test_bm3d_oracle_beats_gaussian_oracle():
    rng = np.random.default_rng(3)
    target = lattice(64)
    noisy = (target + rng.normal(0, 0.4, target.shape)).astype(np.float32)
    out, params = oracle_bm3d(noisy, target)
    assert psnr(out, target) > psnr(oracle_gaussian(noisy, target)[0], target)
    assert params["sigma"] > 0


def test_bm3d_listed_only_when_installed():
    bm3d = next(b for b in BASELINES if b.name.startswith("BM3D"))
    assert bm3d.available == (importlib.util.find_spec("bm3d") is not None)
    assert bm3d.slow and bm3d.tuned

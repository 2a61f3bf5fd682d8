"""Each loss term on its own: zero for identical inputs, positive otherwise, sensible scaling."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from emrestore.errors import ParameterError  # noqa: E402
from emrestore.nn import LossWeights  # noqa: E402
from emrestore.nn import losses as L  # noqa: E402

PIXEL_TERMS = [L.l1_loss, L.mlwt_loss, L.fourier_loss, L.mean_loss, L.std_loss]


def pair(seed: int = 0, shape=(3, 1, 32, 32)):
    g = torch.Generator().manual_seed(seed)
    target = torch.randn(shape, generator=g)
    return target, target + 0.2 * torch.randn(shape, generator=g) + 0.1


@pytest.mark.parametrize("term", PIXEL_TERMS, ids=lambda f: f.__name__)
def test_pixel_term_zero_for_identical(term):
    target, _ = pair()
    assert term(target.clone(), target).item() == 0.0


@pytest.mark.parametrize("term", PIXEL_TERMS, ids=lambda f: f.__name__)
def test_pixel_term_positive_for_different(term):
    target, pred = pair()
    assert term(pred, target).item() > 0.0


@pytest.mark.parametrize("term", PIXEL_TERMS, ids=lambda f: f.__name__)
def test_pixel_term_has_finite_gradient_at_and_near_target(term):
    target, pred = pair()
    for p in (target.clone(), pred):
        p = p.clone().requires_grad_(True)
        term(p, target).backward()
        assert torch.isfinite(p.grad).all()


def test_mean_and_std_terms_measure_what_they_say():
    target, _ = pair(shape=(1, 1, 16, 16))
    w = L.image_weights(target).item()
    assert L.mean_loss(target + 0.5, target).item() == pytest.approx(0.5 * w, rel=1e-5)
    assert L.std_loss(target + 0.5, target).item() == pytest.approx(0.0, abs=1e-6)
    assert L.std_loss(target * 2.0, target).item() == pytest.approx(target.std(unbiased=False).item() * w, rel=1e-4)


def test_image_weight_boosts_low_contrast_targets():
    target, pred = pair(shape=(1, 1, 16, 16))
    err = pred - target
    faint = L.l1_loss(0.2 * target + err, 0.2 * target)
    bright = L.l1_loss(target + err, target)
    assert faint.item() == pytest.approx(5.0 * bright.item(), rel=1e-4)


def test_mlwt_weighs_dark_flat_regions():
    """The same error in a flat region costs more under MLWT than in a textured one."""
    g = torch.Generator().manual_seed(1)
    target = torch.zeros(1, 1, 32, 32)
    target[..., :, 16:] = 3.0 * torch.randn(1, 1, 32, 16, generator=g)
    err = torch.zeros_like(target)
    err_flat = err.clone()
    err_flat[..., 8, 4] = 0.5
    err_text = err.clone()
    err_text[..., 8, 24] = 0.5
    assert L.l1_loss(target + err_flat, target).item() == pytest.approx(L.l1_loss(target + err_text, target).item())
    assert L.mlwt_loss(target + err_flat, target).item() > 3 * L.mlwt_loss(target + err_text, target).item()


def test_fourier_term_punishes_periodic_artefact_more_than_l1_does():
    target, _ = pair(shape=(1, 1, 32, 32))
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    stripes = 0.05 * torch.cos(2 * math.pi * xx / 4)[None, None]
    g = torch.Generator().manual_seed(2)
    white = torch.randn(1, 1, 32, 32, generator=g)
    white = white / white.abs().mean() * stripes.abs().mean()  # same L1
    assert L.l1_loss(target + stripes, target).item() == pytest.approx(L.l1_loss(target + white, target).item(), rel=1e-4)
    # a pure periodic error is concentrated in few Fourier coefficients: |F|^(1/8) is small
    # there but grows with the number of non-zero coefficients, so white noise costs more
    assert L.fourier_loss(target + white, target) > L.fourier_loss(target + stripes, target) > 0


def test_relativistic_losses_analytic_values():
    real = torch.full((2, 1, 4, 4), 2.0)
    fake = torch.full((2, 1, 4, 4), -1.0)
    # D: real_rel = 3 towards 0.95, fake_rel = -3 towards 0
    bce = lambda z, t: -(t * math.log(1 / (1 + math.exp(-z))) + (1 - t) * math.log(1 - 1 / (1 + math.exp(-z))))
    expected_d = 0.5 * (bce(3.0, 0.95) + bce(-3.0, 0.0))
    expected_g = 0.5 * (bce(3.0, 0.0) + bce(-3.0, 1.0))
    assert L.relativistic_d_loss(real, fake).item() == pytest.approx(expected_d, rel=1e-5)
    assert L.relativistic_g_loss(real, fake).item() == pytest.approx(expected_g, rel=1e-5)


def test_relativistic_losses_pull_in_opposite_directions():
    real = torch.randn(2, 1, 4, 4)
    fake = torch.randn(2, 1, 4, 4, requires_grad=True)
    L.relativistic_d_loss(real, fake).backward()
    d_grad = fake.grad.clone()
    fake.grad = None
    L.relativistic_g_loss(real, fake).backward()
    g_grad = fake.grad
    # D wants fake logits lower (positive gradient), G wants them higher (negative gradient)
    assert (d_grad > 0).all() and (g_grad < 0).all()


def test_relativistic_g_loss_equals_log2_when_d_cannot_tell():
    z = torch.zeros(1, 1, 4, 4)
    assert L.relativistic_g_loss(z, z).item() == pytest.approx(math.log(2.0))


def test_instance_noise_reproducible_and_scaled():
    target = 3.0 * torch.randn(4, 1, 16, 16)
    a = torch.zeros_like(target)
    outs = []
    for _ in range(2):
        g = torch.Generator().manual_seed(7)
        outs.append([L.instance_noise(a, a, target, generator=g, probability=1.0) for _ in range(3)])
    for (r1, f1), (r2, f2) in zip(*outs):
        assert torch.equal(r1, r2) and torch.equal(f1, f2)
    r, f = outs[0][0]
    assert 0 < r.std().item() < 0.1 * 3.0 * 1.5
    g = torch.Generator().manual_seed(7)
    r, f = L.instance_noise(a, a, target, generator=g, probability=0.0)
    assert r is a and f is a


def test_pixel_losses_sum_and_terms():
    target, pred = pair()
    weights = LossWeights(l1=1.0, mlwt=0.0, fourier=0.0, mean=0.0, std=0.0)
    total, terms = L.pixel_losses(pred, target, weights)
    assert set(terms) == {"l1", "mlwt", "fourier", "mean", "std"}
    assert total.item() == pytest.approx(terms["l1"].item())


def test_bad_weights_and_shapes_raise():
    with pytest.raises(ParameterError):
        LossWeights(l1=-1.0)
    with pytest.raises(ParameterError):
        LossWeights.from_dict({"perceptual": 1.0})
    with pytest.raises(ParameterError):
        L.l1_loss(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))


@pytest.mark.parametrize("window", [2, 4, 8, 16])
def test_box_mean_equals_direct_window_average(window):
    import numpy as np

    x = torch.rand(1, 1, 21, 18, generator=torch.Generator().manual_seed(window))
    lo, hi = (window - 1) // 2, window // 2
    padded = np.pad(x[0, 0].numpy(), ((lo, hi), (lo, hi)), mode="edge")
    direct = np.array([[padded[i:i + window, j:j + window].mean() for j in range(18)] for i in range(21)])
    np.testing.assert_allclose(L._box_mean(x, window)[0, 0].numpy(), direct, rtol=1e-5, atol=1e-6)

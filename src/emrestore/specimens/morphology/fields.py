"""Random fields and smoothing on the canvas grid."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def random_field(shape: tuple[int, int], rng: np.random.Generator, corr_px: float | None = None,
                 hurst: float | None = None) -> np.ndarray:
    """Zero-mean, unit-variance periodic random field (float32).

    Parameters
    ----------
    shape : tuple of int
        Output shape (H, W).
    rng : numpy.random.Generator
        Random source.
    corr_px : float, optional
        Gaussian correlation length [px] (band-limited field).
    hurst : float, optional
        Hurst exponent in (0, 1) for a fractal (fBm-like) field with power spectrum
        ∝ k^-(2H+2); if given, ``corr_px`` acts as an upper cut-off (roll-off) length.
    """
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    k2 = ky * ky + kx * kx
    if hurst is not None:
        k0 = 1.0 / max(corr_px or max(shape), 1.0)
        amp = (k2 + k0 * k0) ** (-(hurst + 1.0) / 2.0)
    else:
        c = max(corr_px or 1.0, 1e-3)
        amp = np.exp(-(np.pi * c) ** 2 * k2 / 2.0)
    amp[0, 0] = 0.0
    noise = rng.standard_normal((shape[0], shape[1] // 2 + 1)) + 1j * rng.standard_normal(
        (shape[0], shape[1] // 2 + 1))
    f = np.fft.irfft2(noise * amp, s=shape)
    s = f.std()
    return ((f - f.mean()) / (s if s > 0 else 1.0)).astype(np.float32)


def smooth(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur with wrap-free (reflect) boundaries; no-op for tiny sigma."""
    if sigma_px < 0.3:
        return image
    return ndimage.gaussian_filter(image, sigma_px, mode="reflect", truncate=3.0)

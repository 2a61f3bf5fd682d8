"""Augmentation of clean images (before degradation, so input and target stay consistent).

:func:`augment` applies, each with its own probability:

1. a random element of the dihedral group D4 (90° rotations and flips);
2. a slow multiplicative illumination/thickness gradient (linear ramp, or a very smooth
   random field), strictly positive;
3. a random affine or mild perspective warp (rotation, anisotropic scale, shear, small
   projective terms) that leaves a constant-filled margin where the warped image does not
   reach;
4. a generic pattern (lines, rectangles, ellipses, polygons or text) mixed into the image
   with p ≈ 0.1, so that the network also learns to preserve structures it has never seen.

The result is float32, of the same shape, and ≥ 0.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from ..dihedral import random_dihedral, random_flip
from ..errors import NonFiniteDataError, NotAnImageError, ParameterError

#: Default options of :func:`augment`.
DEFAULTS: dict[str, Any] = {
    "dihedral": True,
    "p_gradient": 0.5,
    "gradient_amplitude": 0.3,
    "p_warp": 0.3,
    "max_rotation_deg": 20.0,
    "max_scale_change": 0.15,
    "max_shear": 0.1,
    "max_perspective": 0.15,
    "fill": None,
    "p_pattern": 0.1,
}

PATTERNS = ("lines", "rectangles", "ellipses", "polygons", "text")


def _check_prob(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not (0.0 <= v <= 1.0):
        raise ParameterError(f"{name}={value!r} is not a probability.",
                             f"Pass {name} in [0, 1].")
    return v


def _check_nonneg(name: str, value: Any, hi: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not (0.0 <= v <= hi):
        raise ParameterError(f"{name}={value!r} is outside [0, {hi}].",
                             f"Pass {name} in [0, {hi}].")
    return v


def slow_gradient(shape: tuple[int, int], rng: np.random.Generator, amplitude: float
                  ) -> np.ndarray:
    """Strictly positive multiplicative field exp(a·g), g ∈ [−1, 1] slowly varying.

    ``g`` is a linear ramp in a random direction (p = 0.5), or a random field with a
    correlation length of half the image side. The log-amplitude ``a`` is drawn in
    [0, ``amplitude``].
    """
    h, w = shape
    a = rng.uniform(0.0, amplitude)
    yy = (np.arange(h, dtype=np.float32)[:, None] - (h - 1) / 2) / max(h, w) * 2
    xx = (np.arange(w, dtype=np.float32)[None, :] - (w - 1) / 2) / max(h, w) * 2
    if rng.random() < 0.5:
        ang = rng.uniform(0, 2 * np.pi)
        g = yy * np.sin(ang) + xx * np.cos(ang)
        g = g + rng.uniform(-0.5, 0.5) * (yy * yy + xx * xx - 0.5)  # slight curvature
    else:
        small = rng.standard_normal((4, 4)).astype(np.float32)
        g = ndimage.zoom(small, (h / 4, w / 4), order=3, mode="reflect", grid_mode=True)[:h, :w]
    g = g / max(float(np.abs(g).max()), 1e-6)
    return np.exp(a * g).astype(np.float32)


def random_warp(image: np.ndarray, rng: np.random.Generator, max_rotation_deg: float,
                max_scale_change: float, max_shear: float, max_perspective: float,
                fill: float) -> np.ndarray:
    """Random affine/projective warp about the image centre with a constant-filled margin.

    Parameters
    ----------
    image : numpy.ndarray
        (H, W) image.
    rng : numpy.random.Generator
        Random source.
    max_rotation_deg : float
        Rotation drawn from ±this [deg].
    max_scale_change : float
        Each axis scaled by a factor in [1 − s, 1 + s].
    max_shear : float
        Shear drawn from ±this.
    max_perspective : float
        Projective terms drawn from ±this / image side (mild keystone).
    fill : float
        Value of the margin.
    """
    h, w = image.shape
    n = max(h, w)
    th = np.deg2rad(rng.uniform(-max_rotation_deg, max_rotation_deg))
    sy, sx = 1.0 + rng.uniform(-max_scale_change, max_scale_change, 2)
    sh = rng.uniform(-max_shear, max_shear)
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    lin = rot @ np.array([[sy, sh], [0.0, sx]])
    hom = np.eye(3)
    hom[:2, :2] = lin
    if rng.random() < 0.5:  # mild perspective
        hom[2, :2] = rng.uniform(-max_perspective, max_perspective, 2) / n
    inv = np.linalg.inv(hom)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    # centred output coords (y, x, 1) → input coords
    v = np.stack([(yy - cy).ravel(), (xx - cx).ravel(), np.ones(h * w)])
    src = inv @ v
    src_y = src[0] / src[2] + cy
    src_x = src[1] / src[2] + cx
    out = ndimage.map_coordinates(image, [src_y.reshape(h, w), src_x.reshape(h, w)], order=1,
                                  mode="constant", cval=float(fill), prefilter=False)
    return out.astype(np.float32)


def generic_pattern(shape: tuple[int, int], rng: np.random.Generator, kind: str | None = None
                    ) -> tuple[np.ndarray, str]:
    """Coverage mask [0, 1] of a random generic pattern and its kind.

    Lines, rectangles, ellipses, polygons (outlined or filled) or random text, drawn
    with Pillow, lightly anti-aliased.
    """
    h, w = shape
    kind = kind or str(rng.choice(PATTERNS))
    if kind not in PATTERNS:
        raise ParameterError(f"Unknown pattern kind {kind!r}.", f"Use one of {PATTERNS}.")
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    n = int(rng.integers(1, 8))
    size = min(h, w)

    def pt() -> tuple[float, float]:
        return float(rng.uniform(-0.1 * w, 1.1 * w)), float(rng.uniform(-0.1 * h, 1.1 * h))

    for _ in range(n):
        width = int(rng.integers(1, max(2, size // 32) + 1))
        filled = rng.random() < 0.5
        level = int(rng.integers(128, 256))
        if kind == "lines":
            draw.line([pt(), pt()], fill=level, width=width)
        elif kind in ("rectangles", "ellipses"):
            (x0, y0), (x1, y1) = pt(), pt()
            box = [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]
            fn = draw.rectangle if kind == "rectangles" else draw.ellipse
            fn(box, fill=level if filled else None, outline=level, width=width)
        elif kind == "polygons":
            verts = [pt() for _ in range(int(rng.integers(3, 7)))]
            draw.polygon(verts, fill=level if filled else None, outline=level, width=width)
        else:
            text = "".join(rng.choice(list(string.ascii_letters + string.digits + " .-µ"),
                                      int(rng.integers(2, 12))))
            font = ImageFont.load_default(size=int(rng.integers(max(8, size // 24),
                                                                max(9, size // 5))))
            draw.text(pt(), text, fill=level, font=font)
    mask = np.asarray(canvas, np.float32) / 255.0
    return ndimage.gaussian_filter(mask, rng.uniform(0.0, 1.0)), kind


def augment(image: np.ndarray, rng: np.random.Generator, **options: Any) -> np.ndarray:
    """Randomly augment a clean image.

    Parameters
    ----------
    image : numpy.ndarray
        (H, W) clean image, finite, ≥ 0 (any scale; typically mean 1).
    rng : numpy.random.Generator
        Random source (same state → same result).
    **options
        dihedral : bool
            Apply a random 90° rotation / flip (default True).
        p_gradient : float
            Probability of a slow gradient (default 0.5).
        gradient_amplitude : float
            Maximum log-amplitude of the gradient, 0–2 (default 0.3: up to ±35 %).
        p_warp : float
            Probability of an affine/perspective warp (default 0.3).
        max_rotation_deg, max_scale_change, max_shear, max_perspective : float
            Warp ranges (defaults 20°, 0.15, 0.1, 0.15).
        fill : float or None
            Margin value after a warp [image units, ≥ 0] (default: the image minimum,
            mean or 0, at random).
        p_pattern : float
            Probability of mixing in a generic pattern (default 0.1).

    Returns
    -------
    numpy.ndarray
        float32 (H, W), ≥ 0.

    Raises
    ------
    NotAnImageError
        If ``image`` is not 2-D.
    NonFiniteDataError
        If it holds NaN or infinite values.
    ParameterError
        For an unknown option or one out of range.
    """
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ParameterError(f"Unknown augmentation option(s): {', '.join(unknown)}.",
                             f"Use any of: {', '.join(DEFAULTS)}.")
    opt = {**DEFAULTS, **options}
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2 or min(img.shape) < 2:
        raise NotAnImageError(f"augment expects a 2-D image, got shape {img.shape}.",
                              "Pass a single (H, W) image; loop over stacks.")
    if not np.all(np.isfinite(img)):
        raise NonFiniteDataError("The image holds NaN or infinite values.",
                                 "Replace them (e.g. numpy.nan_to_num) before augmenting.")
    p_gradient = _check_prob("p_gradient", opt["p_gradient"])
    p_warp = _check_prob("p_warp", opt["p_warp"])
    p_pattern = _check_prob("p_pattern", opt["p_pattern"])
    amp = _check_nonneg("gradient_amplitude", opt["gradient_amplitude"], 2.0)
    max_rot = _check_nonneg("max_rotation_deg", opt["max_rotation_deg"], 180.0)
    max_scale = _check_nonneg("max_scale_change", opt["max_scale_change"], 0.5)
    max_shear = _check_nonneg("max_shear", opt["max_shear"], 0.5)
    max_persp = _check_nonneg("max_perspective", opt["max_perspective"], 0.5)
    fill = opt["fill"]
    if fill is not None:
        fill = _check_nonneg("fill", fill, float("inf"))
    square = img.shape[0] == img.shape[1]

    out = img
    if opt["dihedral"]:
        if square:
            out = random_dihedral(out, rng)
        else:  # 90° rotations would change the shape: use the two flips and 180°
            out = random_flip((out,), rng)[0]
    if rng.random() < p_gradient:
        out = out * slow_gradient(out.shape, rng, amp)
    if rng.random() < p_warp:
        if fill is None:
            fill = float(rng.choice([float(out.min()), float(out.mean()), 0.0]))
        out = random_warp(out, rng, max_rot, max_scale, max_shear, max_persp, fill)
    if rng.random() < p_pattern:
        mask, _ = generic_pattern(out.shape, rng)
        mean = float(out.mean()) if out.size else 1.0
        level = mean * rng.uniform(0.0, 2.5)
        alpha = rng.uniform(0.3, 1.0)
        out = out * (1 - alpha * mask) + alpha * mask * level
    return np.clip(out, 0.0, None).astype(np.float32)

"""Geometry of drawn objects: clipped patches, irregular closed curves, polylines, paths."""

from __future__ import annotations

import numpy as np


def patch(cy: float, cx: float, radius: float, size: int
          ) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray] | None:
    """Clipped square region around (cy, cx) [px] with half-width ``radius`` [px].

    Returns ``(where, dy, dx)`` with pixel-centre offsets from the centre, or None if the
    region lies outside the canvas.
    """
    y0 = max(int(np.floor(cy - radius - 1)), 0)
    y1 = min(int(np.ceil(cy + radius + 2)), size)
    x0 = max(int(np.floor(cx - radius - 1)), 0)
    x1 = min(int(np.ceil(cx + radius + 2)), size)
    if y1 <= y0 or x1 <= x0:
        return None
    dy = (np.arange(y0, y1, dtype=np.float32) - np.float32(cy))[:, None]
    dx = (np.arange(x0, x1, dtype=np.float32) - np.float32(cx))[None, :]
    return (slice(y0, y1), slice(x0, x1)), dy, dx


def radial_harmonics(rng: np.random.Generator, irregularity: float, n_max: int = 6
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Amplitudes and phases of a smooth random closed curve r(θ) = R(1 + Σ a_n cos(nθ+φ_n))."""
    n = np.arange(2, n_max + 1)
    amps = rng.normal(0.0, irregularity / n)
    phases = rng.uniform(0, 2 * np.pi, n.size)
    return amps, phases


def radius_at(theta: np.ndarray, amps: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """Relative radius 1 + Σ a_n cos(nθ + φ_n) of a closed curve (clipped to ≥ 0.3)."""
    n = np.arange(2, 2 + amps.size, dtype=np.float32)
    r = 1.0 + np.tensordot(amps.astype(np.float32),
                           np.cos(n[:, None, None] * theta[None] + phases[:, None, None].astype(
                               np.float32)), axes=1)
    return np.maximum(r, 0.3).astype(np.float32)


def segment_distance(py: np.ndarray, px: np.ndarray, a: np.ndarray, b: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Distance [px] from points (py, px) to the polyline through vertices ``a`` → ``b``.

    Parameters
    ----------
    py, px : numpy.ndarray
        Broadcastable point coordinates [px].
    a, b : numpy.ndarray
        (K, 2) start and end (y, x) of K segments [px].

    Returns
    -------
    dist : numpy.ndarray
        Distance to the nearest segment [px].
    which : numpy.ndarray
        Index of the nearest segment.
    """
    best = None
    which = None
    for k in range(a.shape[0]):
        dy, dx = b[k, 0] - a[k, 0], b[k, 1] - a[k, 1]
        L2 = max(dy * dy + dx * dx, 1e-12)
        t = np.clip(((py - a[k, 0]) * dy + (px - a[k, 1]) * dx) / L2, 0.0, 1.0)
        d2 = (py - a[k, 0] - t * dy) ** 2 + (px - a[k, 1] - t * dx) ** 2
        if best is None:
            best = d2
            which = np.zeros(d2.shape, np.int32)
        else:
            closer = d2 < best
            best = np.where(closer, d2, best)
            which = np.where(closer, k, which)
    assert best is not None and which is not None
    return np.sqrt(best), which


def wavy_path(rng: np.random.Generator, start: np.ndarray, angle: float, length: float,
              waviness: float, n_seg: int = 8) -> np.ndarray:
    """Vertices (n_seg+1, 2) [px] of a gently curved path of total ``length`` [px].

    ``waviness`` is the standard deviation of the direction change per segment [rad].
    """
    turns = np.cumsum(rng.normal(0.0, waviness, n_seg))
    turns -= turns.mean()
    step = length / n_seg
    dirs = angle + turns
    steps = np.stack([np.sin(dirs), np.cos(dirs)], axis=1) * step
    return np.vstack([start[None], start[None] + np.cumsum(steps, axis=0)])

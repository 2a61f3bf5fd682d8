"""Finding and fitting atomic columns: peaks, batched 2D Gaussian fits, point matching and the
affine maps between point sets (robust to outlying pairs)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

#: A peak must rise this fraction of the image's (99th percentile − median) above the median.
PEAK_THRESHOLD = 0.2
#: Levenberg–Marquardt iterations of the Gaussian fits.
FIT_ITERATIONS = 20


def find_peaks(image: np.ndarray, min_distance: int, dark: bool = False) -> np.ndarray:
    """Local maxima (minima when ``dark``) that rise :data:`PEAK_THRESHOLD` of the image's
    (99th percentile − median) above its median; (K, 2) integer positions (x, y) [px]."""
    from skimage.feature import peak_local_max

    data = -np.asarray(image, np.float64) if dark else np.asarray(image, np.float64)
    median, high = np.percentile(data, [50, 99])
    rc = peak_local_max(data, min_distance=max(1, int(min_distance)),
                        threshold_abs=median + PEAK_THRESHOLD * (high - median), exclude_border=False)
    return rc[:, ::-1].astype(np.float64)


def fit_gaussians(image: np.ndarray, xy: np.ndarray, half_width: int, dark: bool = False,
                  iterations: int = FIT_ITERATIONS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit ``B + A exp(-r² / 2s²)`` around each start position, all columns at once.

    Levenberg–Marquardt on (2·half_width + 1)² windows (reflecting borders), vectorised
    over columns.

    Parameters
    ----------
    image : numpy.ndarray
        (H, W) image.
    xy : numpy.ndarray
        (K, 2) start positions (x, y) [px].
    half_width : int
        Half-width of the fit windows [px].
    dark : bool
        Dark columns (ABF): the image is negated first.
    iterations : int
        LM iterations.

    Returns
    -------
    (positions, volumes, ok) : tuple of numpy.ndarray
        (K, 2) fitted (x, y) [px]; (K,) integrated intensities 2π·A·s² [image units · px²];
        (K,) True where the fit converged inside its window with a positive amplitude.
    """
    data = -np.asarray(image, np.float64) if dark else np.asarray(image, np.float64)
    k = len(xy)
    if k == 0:
        return np.zeros((0, 2)), np.zeros(0), np.zeros(0, bool)
    w = int(half_width)
    padded = np.pad(data, w, mode="reflect")
    centre = np.rint(xy).astype(int)
    offs = np.arange(-w, w + 1)
    dy, dx = np.meshgrid(offs, offs, indexing="ij")
    rows = centre[:, 1, None, None] + dy[None] + w
    cols = centre[:, 0, None, None] + dx[None] + w
    rows = np.clip(rows, 0, padded.shape[0] - 1)
    cols = np.clip(cols, 0, padded.shape[1] - 1)
    win = padded[rows, cols].reshape(k, -1)  # (K, N)
    gx = (centre[:, 0, None] + dx.ravel()[None]).astype(np.float64)  # pixel coordinates
    gy = (centre[:, 1, None] + dy.ravel()[None]).astype(np.float64)

    background = win.min(axis=1)
    p = np.stack([background, win.max(axis=1) - background, xy[:, 0].astype(np.float64),
                  xy[:, 1].astype(np.float64), np.full(k, max(0.5, w / 2.0))], axis=1)
    lam = np.full(k, 1e-2)

    def residual_and_jacobian(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b, a, x0, y0, s = (q[:, i, None] for i in range(5))
        s2 = s * s
        ddx, ddy = gx - x0, gy - y0
        g = np.exp(-(ddx * ddx + ddy * ddy) / (2 * s2))
        r = b + a * g - win
        jac = np.stack([np.ones_like(g), g, a * g * ddx / s2, a * g * ddy / s2,
                        a * g * (ddx * ddx + ddy * ddy) / (s2 * s)], axis=2)  # (K, N, 5)
        return r, jac

    r, jac = residual_and_jacobian(p)
    cost = np.sum(r * r, axis=1)
    eye = np.eye(5)
    for _ in range(iterations):
        jtj = np.einsum("kni,knj->kij", jac, jac)
        jtr = np.einsum("kni,kn->ki", jac, r)
        diag = np.einsum("kii->ki", jtj)[:, :, None] * eye[None]
        step = np.linalg.solve(jtj + lam[:, None, None] * (diag + 1e-12 * eye[None]), -jtr[..., None])[..., 0]
        trial = p + step
        trial[:, 4] = np.maximum(trial[:, 4], 0.3)
        r_new, jac_new = residual_and_jacobian(trial)
        cost_new = np.sum(r_new * r_new, axis=1)
        better = cost_new < cost
        p = np.where(better[:, None], trial, p)
        r = np.where(better[:, None], r_new, r)
        jac = np.where(better[:, None, None], jac_new, jac)
        cost = np.where(better, cost_new, cost)
        lam = np.where(better, lam / 3.0, lam * 4.0)
    positions = p[:, 2:4]
    ok = (p[:, 1] > 0) & (np.abs(positions - xy).max(axis=1) <= w)
    volumes = 2 * np.pi * p[:, 1] * p[:, 4] ** 2
    return positions, volumes, ok


def mutual_pairs(a: np.ndarray, b: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices (ia, ib) of points of ``a`` and ``b`` that are each other's nearest within ``radius``."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    da, ia = cKDTree(b).query(a, distance_upper_bound=radius)
    db, ib = cKDTree(a).query(b, distance_upper_bound=radius)
    first = np.flatnonzero(np.isfinite(da))
    mutual = first[ib[ia[first]] == first]
    return mutual, ia[mutual]


def affine_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares (3, 2) matrix M with [src, 1] @ M ≈ dst (translation only for < 6 pairs)."""
    if len(src) < 6:
        shift = np.median(dst - src, axis=0) if len(src) else np.zeros(2)
        return np.vstack([np.eye(2), shift])
    design = np.hstack([src, np.ones((len(src), 1))])
    return np.linalg.lstsq(design, dst, rcond=None)[0]


def robust_affine_fit(src: np.ndarray, dst: np.ndarray, threshold: float) -> np.ndarray:
    """Affine (3, 2) matrix from ``src`` to ``dst`` that ignores outlying pairs.

    RANSAC (scikit-image, fixed seed: reproducible) over the pairs, residual ``threshold``
    [px], then a least-squares refit on its inliers. At low dose most peak–column pairs
    are noise peaks next to a column; a plain least-squares map would follow them. Falls
    back to :func:`affine_fit` for fewer than 6 pairs or when RANSAC finds no model.
    """
    if len(src) < 6:
        return affine_fit(src, dst)
    from skimage.measure import ransac
    from skimage.transform import AffineTransform

    model, inliers = ransac((src, dst), AffineTransform, min_samples=3, residual_threshold=threshold,
                            max_trials=200, rng=0)
    if model is None or inliers is None or inliers.sum() < 6:
        return affine_fit(src, dst)
    return affine_fit(src[inliers], dst[inliers])


def apply_affine(matrix: np.ndarray, xy: np.ndarray) -> np.ndarray:
    return np.hstack([xy, np.ones((len(xy), 1))]) @ matrix


__all__ = ["FIT_ITERATIONS", "PEAK_THRESHOLD", "affine_fit", "apply_affine", "find_peaks", "fit_gaussians",
           "mutual_pairs", "robust_affine_fit"]

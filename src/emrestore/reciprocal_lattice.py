"""Which peaks of a power spectrum lie on one 2-D reciprocal lattice (the Bragg spots of a crystal).

Bragg spots of a crystal on a zone axis sit at integer combinations ``n·g₁ + m·g₂`` of two
basis vectors (a linear drift only changes the basis). Peaks off those nodes — satellites of
periodic scan jitter, scan streaks, interference lines, noise peaks, a second grain — are not
the crystal's spots. Used by the evaluation's lattice check
(:mod:`emrestore.evaluation.lattice`) and by the restoration's spectral guard
(:mod:`emrestore.restoration.spectral_guard`), so both call the same peaks a lattice.
"""

from __future__ import annotations

import numpy as np

#: The lattice basis is sought among pairs of this many strongest peaks.
BASIS_CANDIDATES = 10
#: A peak lies on the lattice when it is within this many bins (or :data:`NODE_TOLERANCE_RELATIVE`
#: of its radius: smeared high orders) of a node of the least-squares lattice.
NODE_TOLERANCE_BINS = 1.5
NODE_TOLERANCE_RELATIVE = 0.005


def lattice_matches(k: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Peaks ``k`` [bins, (M, 2)] within the node tolerance of the lattice of ``basis`` (columns g₁, g₂).

    The basis is refined by least squares on the peaks it explains (peak positions are whole
    bins, so a basis from two peaks is off by up to ½ bin). Returns an (M,) bool mask.
    """
    radius = np.hypot(k[:, 0], k[:, 1])
    tolerance = np.maximum(NODE_TOLERANCE_BINS, NODE_TOLERANCE_RELATIVE * radius)
    mask = np.zeros(len(k), bool)
    for _ in range(4):
        nm = np.linalg.solve(basis, k.T).T.round()
        new = np.hypot(*(k - nm @ basis.T).T) <= tolerance
        if new.sum() < 3 or np.array_equal(new, mask):
            return new
        mask = new
        fit, *_ = np.linalg.lstsq(nm[mask], k[mask], rcond=None)  # k ≈ nm · basisᵀ
        if abs(np.linalg.det(fit)) < 1e-9:
            return mask
        basis = fit.T
    return mask


def on_lattice(k: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """Which peaks lie on the spectrum's 2-D reciprocal lattice.

    Every non-collinear pair of the :data:`BASIS_CANDIDATES` strongest peaks is tried as a
    basis, refined by least squares on the peaks it explains; the pair whose lattice holds the
    most peaks wins (ties: the larger cell, so that a sub-lattice explaining the same peaks
    loses).

    Parameters
    ----------
    k : numpy.ndarray
        (M, 2) peak frequencies relative to zero frequency [bins; rows, columns on one scale].
    strength : numpy.ndarray
        (M,) any measure that ranks the peaks (power over the floor).

    Returns
    -------
    numpy.ndarray
        (M,) bool; all False when no lattice holds three peaks.

    Examples
    --------
    Five nodes of a lattice and a peak off it:

    >>> g1, g2 = np.array([2.0, 19.0]), np.array([-19.0, 2.0])
    >>> k = np.stack([g1, g2, g1 + g2, g1 - g2, 2 * g1, [53.0, 3.0]])
    >>> on_lattice(k, np.array([9.0, 8, 5, 5, 3, 4])).tolist()
    [True, True, True, True, True, False]
    """
    k = np.asarray(k, np.float64).reshape(-1, 2)
    best = np.zeros(len(k), bool)
    if len(k) < 3:
        return best
    radius = np.hypot(k[:, 0], k[:, 1])
    strongest = np.argsort(-np.asarray(strength), kind="stable")[:BASIS_CANDIDATES]
    best_area = 0.0
    for a, i in enumerate(strongest):
        for j in strongest[a + 1:]:
            area = abs(k[i][0] * k[j][1] - k[i][1] * k[j][0])
            if area < 0.3 * radius[i] * radius[j]:
                continue  # (nearly) collinear
            mask = lattice_matches(k, np.stack([k[i], k[j]], axis=1))
            if mask.sum() > best.sum() or (mask.sum() == best.sum() and area > best_area):
                best, best_area = mask, area
    return best if best.sum() >= 3 else np.zeros(len(k), bool)


__all__ = ["BASIS_CANDIDATES", "NODE_TOLERANCE_BINS", "NODE_TOLERANCE_RELATIVE", "lattice_matches", "on_lattice"]

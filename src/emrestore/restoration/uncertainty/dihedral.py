"""Spread of a restoration under the dihedral group of the square (flips and rotations).

A restorer that learned physics, not orientation, gives the same image (transformed) for
a flipped or rotated input; where the copies disagree its output depends on an arbitrary
choice — a guess. The spread is the per-pixel standard deviation (ddof = 1) of the
back-transformed copies [input units]. Cost: ``n − 1`` extra restorations of each frame.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...dihedral import SHAPE_KEEPING, TRANSFORMS
from ...errors import ParameterError

#: Group sizes accepted: 0 (no spread), 4 (flips and rot180: no transpose), 8 (the whole group);
#: the copies are the first ``n`` of :data:`emrestore.dihedral.TRANSFORMS`.
SIZES = (0, SHAPE_KEEPING, len(TRANSFORMS))


def check_size(n: int) -> int:
    """``n`` if it is one of :data:`SIZES`, else :class:`ParameterError`."""
    if int(n) not in SIZES:
        raise ParameterError(f"dihedral={n} is not a number of dihedral copies emrestore makes.",
                             "Pass 0 (no spread), 4 (flips and 180° rotation: 4× the restoration "
                             "time) or 8 (all rotations and flips: 8×).")
    return int(n)


def dihedral_spread(frame: np.ndarray, restore: Callable[[np.ndarray], np.ndarray], n: int = 4,
                    restored: np.ndarray | None = None) -> np.ndarray:
    """Per-pixel std of the restorations of the ``n`` transformed copies of ``frame``.

    Parameters
    ----------
    frame : numpy.ndarray
        (H, W) input.
    restore : callable
        (H, W) → (H, W) restoration (any shape works for the transposed copies).
    n : {4, 8}
        Copies (the identity included).
    restored : numpy.ndarray, optional
        ``restore(frame)`` if already made (saves one restoration).

    Returns
    -------
    numpy.ndarray
        (H, W) float32 [input units].
    """
    n = check_size(n)
    if n == 0:
        raise ParameterError("dihedral_spread needs n = 4 or 8.", "Pass n=4 or n=8.")
    copies = [np.asarray(restored if restored is not None else restore(frame), np.float64)]
    for forward, inverse in TRANSFORMS[1:n]:
        copies.append(np.asarray(inverse(restore(np.ascontiguousarray(forward(frame)))), np.float64))
    return np.std(np.stack(copies), axis=0, ddof=1).astype(np.float32)

"""Lattice fidelity without ground truth: do the Bragg spots of a real lattice survive restoration?

A crystal imaged on a zone axis shows sharp peaks (Bragg spots) in the power spectrum of the
frame, far above the smooth floor of noise and diffuse scattering. A restoration must keep
them — the outer (high-order) spots carry the finest detail, and a network trained on finely
sampled images removes them as if they were noise — and must not add spots the input lacks.

:func:`find_spots` locates the clearly visible spots of a frame: local maxima of the
(Hann-windowed, 3×3-smoothed) power spectrum at least :data:`SPOT_THRESHOLD` times the local noise floor
(the median power of the surrounding 16×16 bins: :func:`local_floor`) that lie on one 2-D reciprocal
lattice (:func:`on_lattice`: scan streaks, interference lines and noise peaks do not). :func:`lattice_fidelity`
compares an input with its restoration: a spot *survives* when the restored frame keeps at
least half of its amplitude above the floor (:data:`SURVIVAL_AMPLITUDE`), and a spot
*appears* when the restored spectrum has a clearly visible peak — above the threshold over
both the restored floor and the input's floor — where the input shows nothing above
:data:`INPUT_PRESENT` times its floor (invented periodicity).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..errors import ParameterError
from ..reciprocal_lattice import on_lattice as lattice_mask
from .spectrum import power_spectrum

#: A peak is a clearly visible spot when its smoothed power is this many times the floor.
SPOT_THRESHOLD = 8.0
#: A spot survives when the restored frame keeps this share of its amplitude above the floor
#: (0.5: half the amplitude, a quarter of the power).
SURVIVAL_AMPLITUDE = 0.5
#: The input "has" a peak at a frequency where its power is at least this many times its floor.
INPUT_PRESENT = 3.0
#: Frequencies below this radius [bins] are not searched (the mean and slow shading leak there).
MIN_RADIUS_BINS = 4
#: Peaks closer than this [bins] are the same spot (windowing spreads a spot over ~2 bins).
MATCH_BINS = 2
#: Edge of the blocks whose median power sets the local floor [bins].
FLOOR_BLOCK_BINS = 16
#: A peak is a spot only where it stands this many times over the (smoothed) power
#: :data:`STREAK_OFFSET_BINS` away along *each* axis of the spectrum. Row-to-row changes of a
#: scanned frame (gain, offset, flyback) multiply the image by a function of the row alone: every
#: strong spot then drags a streak along the slow-scan axis, and the noise on that streak peaks
#: at the high-order lattice nodes it crosses — peaks the restorer is right to remove, not spots.
STREAK_CONTRAST = 2.0
STREAK_OFFSET_BINS = 3
#: Structure that is a function of the row plus one of the column (row offsets, line
#: interference, column readout, curtaining along a scan axis) puts its power only on the two
#: axes of the spectrum, where it can line up like a lattice; the nodes of a crystal's lattice
#: are not all there (with g₁ and g₂ on the axes, g₁ + g₂ is not). So a lattice counts only if
#: at least one of its spots lies more than this many bins from both axes.
AXIS_BINS = 1
#: Frames whose spectrum holds fewer spots than this are not lattice frames.
MIN_SPOTS = 3  # on_lattice needs three peaks on one lattice anyway
#: The most permissive STEM probe the ``hrstem`` renderer draws: 35 mrad at 300 kV. Its
#: incoherent transfer vanishes beyond 2α/λ (35.6 nm⁻¹, a 28 pm period; the finest STEM
#: image resolution reported is about 40 pm), so a "spot" beyond that frequency is not
#: specimen detail: noise peaks that sit on the dense high-order lattice nodes, or artefacts.
STEM_PROBE_LIMIT = (35.0, 300.0)  # (semi-angle [mrad], energy [kV])


def transfer_limit_cycles_per_px(modality: str, pixel_size_nm: float | None) -> float | None:
    """The highest frequency the optics can carry [cycles/px], where it is known.

    STEM: the incoherent cut-off 2α/λ of :data:`STEM_PROBE_LIMIT`, times the pixel size.
    ``None`` for other modalities (a TEM's information limit depends on its coherence and
    aperture, which a file rarely stores) and without a pixel size.

    Examples
    --------
    >>> round(transfer_limit_cycles_per_px("stem", 0.0093), 3)
    0.331
    >>> transfer_limit_cycles_per_px("tem", 0.0093) is None
    True
    """
    if modality != "stem" or not pixel_size_nm:
        return None
    from ..optics.electron import wavelength_nm

    alpha_mrad, energy_kv = STEM_PROBE_LIMIT
    return 2e-3 * alpha_mrad / wavelength_nm(energy_kv) * float(pixel_size_nm)


#: Box smoothing of the periodogram [bins]: a windowed spot spreads over about 3×3 bins, while
#: single noise bins scatter by a factor of ~e (exponentially); averaging 3×3 bins keeps the
#: spots and makes a noise bin 10× above the floor practically impossible.
SMOOTH_BINS = 3


@dataclass
class Spots:
    """The clearly visible Bragg spots of one frame (one of each Friedel pair).

    Attributes
    ----------
    positions : numpy.ndarray
        (M, 2) (row, column) of each spot in the centred spectrum [bins].
    radius : numpy.ndarray
        (M,) distance from zero frequency [bins]; × 1/N gives cycles per pixel.
    snr : numpy.ndarray
        (M,) spot power over the local floor.
    size : int
        Edge N of the (square) spectrum.
    """

    positions: np.ndarray
    radius: np.ndarray
    snr: np.ndarray
    size: int

    def __len__(self) -> int:
        return len(self.radius)

    @property
    def period_px(self) -> np.ndarray:
        """(M,) real-space period of each spot [px]."""
        return self.size / np.maximum(self.radius, 1e-9)


def local_floor(spectrum: np.ndarray) -> np.ndarray:
    """The noise and diffuse floor under each bin: medians of :data:`FLOOR_BLOCK_BINS`-wide blocks, interpolated [units²].

    Spots are sparse, so a block's median is the floor there. A local floor, not a radial one:
    the noise of scanned frames is anisotropic (row-correlated noise piles power along one
    axis of the spectrum), and a ring median would let that excess pass for spots.
    """
    n = spectrum.shape[0]
    blocks = -(-n // FLOOR_BLOCK_BINS)
    padded = np.pad(spectrum, (0, blocks * FLOOR_BLOCK_BINS - n), mode="reflect")
    medians = np.median(padded.reshape(blocks, FLOOR_BLOCK_BINS, blocks, FLOOR_BLOCK_BINS), axis=(1, 3))
    # block centres sit at (i + ½)·B − ½; map every bin onto that grid and interpolate bilinearly
    coords = (np.arange(n) + 0.5) / FLOOR_BLOCK_BINS - 0.5
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    floor = ndimage.map_coordinates(medians, [yy, xx], order=1, mode="nearest")
    return np.maximum(floor, 1e-300)


def _peaks(ratio: np.ndarray, threshold: float) -> np.ndarray:
    n = ratio.shape[0]
    yy, xx = np.mgrid[:n, :n]
    r = np.hypot(yy - n // 2, xx - n // 2)
    local_max = ratio == ndimage.maximum_filter(ratio, size=2 * MATCH_BINS + 1, mode="constant")
    upper = (yy < n // 2) | ((yy == n // 2) & (xx > n // 2))  # one spot of each Friedel pair
    d = STREAK_OFFSET_BINS
    along_rows = np.maximum(np.roll(ratio, d, axis=0), np.roll(ratio, -d, axis=0))
    along_columns = np.maximum(np.roll(ratio, d, axis=1), np.roll(ratio, -d, axis=1))
    above_streaks = (ratio >= STREAK_CONTRAST * along_rows) & (ratio >= STREAK_CONTRAST * along_columns)
    keep = (local_max & upper & above_streaks & (ratio >= threshold) & (r >= MIN_RADIUS_BINS)
            & (r <= n // 2 - 1))
    return np.argwhere(keep)


def on_lattice(positions: np.ndarray, size: int, strength: np.ndarray) -> np.ndarray:
    """Which peaks lie on the frame's 2-D reciprocal lattice (:func:`emrestore.reciprocal_lattice.on_lattice`).

    ``positions`` are (M, 2) bins of a centred ``size`` × ``size`` spectrum; ``strength`` ranks
    them for the basis search. Returns an (M,) bool mask.
    """
    return lattice_mask(np.asarray(positions, np.float64) - size // 2, strength)


def smoothed_spectrum(image: np.ndarray) -> np.ndarray:
    """The centred power spectrum of ``image``'s central square, box-smoothed over :data:`SMOOTH_BINS`."""
    return ndimage.uniform_filter(power_spectrum(image), SMOOTH_BINS, mode="wrap")


def find_spots(image: np.ndarray, threshold: float = SPOT_THRESHOLD) -> Spots:
    """The clearly visible Bragg spots of a frame.

    Parameters
    ----------
    image : numpy.ndarray
        (H, W) frame; its central square is analysed (:func:`~emrestore.evaluation.spectrum.power_spectrum`).
    threshold : float
        Smallest spot power over the local floor (default :data:`SPOT_THRESHOLD`).

    Examples
    --------
    A square lattice of 8-px period (Gaussian "columns"): ten spots down to a 3.6-px period.

    >>> y, x = np.mgrid[:128, :128]
    >>> columns = np.exp(-((x % 8 - 4) ** 2 + (y % 8 - 4) ** 2) / (2 * 1.2 ** 2))
    >>> noisy = columns + np.random.default_rng(0).normal(0, 0.2, columns.shape)
    >>> spots = find_spots(noisy)
    >>> len(spots), round(float(spots.period_px.max()), 1), round(float(spots.period_px.min()), 1)
    (10, 8.0, 3.6)
    """
    spectrum = smoothed_spectrum(image)
    ratio = spectrum / local_floor(spectrum)
    positions = _peaks(ratio, threshold)
    n = spectrum.shape[0]
    positions = positions[on_lattice(positions, n, ratio[positions[:, 0], positions[:, 1]])]
    off_axes = (np.abs(positions - n // 2) > AXIS_BINS).all(axis=1)
    if not off_axes.any():  # row and column structure, not a crystal
        positions = positions[:0]
    radius = np.hypot(positions[:, 0] - n // 2, positions[:, 1] - n // 2) if len(positions) else np.zeros(0)
    snr = ratio[positions[:, 0], positions[:, 1]] if len(positions) else np.zeros(0)
    return Spots(positions.reshape(-1, 2), radius, snr, n)


def outer_half(radius: np.ndarray) -> np.ndarray:
    """(M,) bool: the spots beyond the median of their radii ``radius`` [bins] (the high orders)."""
    return radius > np.median(radius) if len(radius) else np.zeros(0, bool)


@dataclass
class LatticeFidelity:
    """Bragg spots of an input and what a restoration did to them.

    Attributes
    ----------
    spots : Spots
        The input's clearly visible spots.
    amplitude_kept : numpy.ndarray
        (M,) restored amplitude above the floor over the input's, per input spot (1: kept).
    survived : numpy.ndarray
        (M,) bool, ``amplitude_kept`` ≥ :data:`SURVIVAL_AMPLITUDE`.
    outer : numpy.ndarray
        (M,) bool: the spot is in the outer (high-order) half, beyond the median spot frequency.
    appeared : numpy.ndarray
        (K, 2) spots clearly visible in the restored spectrum where the input shows none [bins].
    """

    spots: Spots
    amplitude_kept: np.ndarray
    survived: np.ndarray
    outer: np.ndarray
    appeared: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), int))

    @property
    def is_lattice(self) -> bool:
        """The input holds at least :data:`MIN_SPOTS` clearly visible spots."""
        return len(self.spots) >= MIN_SPOTS

    @property
    def share_survived(self) -> float:
        """Share of the input's spots that survive (NaN without spots)."""
        return float(np.mean(self.survived)) if len(self.survived) else float("nan")

    @property
    def share_outer_survived(self) -> float:
        """Share of the outer-half spots that survive (NaN without spots)."""
        return float(np.mean(self.survived[self.outer])) if self.outer.any() else float("nan")

    def within(self, limit_cycles_per_px: float | None) -> LatticeFidelity:
        """The same comparison restricted to the spots at or below ``limit_cycles_per_px``
        (:func:`transfer_limit_cycles_per_px`), the outer half taken among them, the appeared spots
        unchanged; itself for ``None``."""
        if limit_cycles_per_px is None:
            return self
        keep = self.spots.radius / self.spots.size <= limit_cycles_per_px
        radius = self.spots.radius[keep]
        spots = Spots(self.spots.positions[keep], radius, self.spots.snr[keep], self.spots.size)
        outer = outer_half(radius)
        return LatticeFidelity(spots, self.amplitude_kept[keep], self.survived[keep], outer, self.appeared)

    def to_json(self) -> dict:
        return {"spots": len(self.spots), "outer_spots": int(self.outer.sum()),
                "survived": self.share_survived, "outer_survived": self.share_outer_survived,
                "appeared": int(len(self.appeared)),
                "smallest_period_px": float(self.spots.period_px.min()) if len(self.spots) else None}


def lattice_fidelity(before: np.ndarray, after: np.ndarray, threshold: float = SPOT_THRESHOLD) -> LatticeFidelity:
    """Which of the input's Bragg spots survive restoration, and which spots appear.

    Parameters
    ----------
    before, after : numpy.ndarray
        (H, W) input frame and its restoration (same shape).
    threshold : float
        Spot threshold over the local floor (default :data:`SPOT_THRESHOLD`).

    Examples
    --------
    A Gaussian filter keeps the low orders of an 8-px lattice and removes the high ones:

    >>> y, x = np.mgrid[:128, :128]
    >>> columns = np.exp(-((x % 8 - 4) ** 2 + (y % 8 - 4) ** 2) / (2 * 1.2 ** 2))
    >>> noisy = columns + np.random.default_rng(0).normal(0, 0.2, columns.shape)
    >>> from scipy.ndimage import gaussian_filter
    >>> result = lattice_fidelity(noisy, gaussian_filter(noisy, 1.0))
    >>> len(result.spots), result.share_survived, result.share_outer_survived, len(result.appeared)
    (10, 0.4, 0.0, 0)
    """
    before, after = np.asarray(before), np.asarray(after)
    if before.shape != after.shape:
        raise ParameterError(f"Input {before.shape} and restored {after.shape} differ in shape.",
                             "Compare a frame with its own restoration (same shape).")
    p_in, p_out = smoothed_spectrum(before), smoothed_spectrum(after)
    floor_in, floor_out = local_floor(p_in), local_floor(p_out)
    ratio_in, ratio_out = p_in / floor_in, p_out / floor_out
    positions = _peaks(ratio_in, threshold)
    n = p_in.shape[0]
    positions = positions[on_lattice(positions, n, ratio_in[positions[:, 0], positions[:, 1]])]
    radius = np.hypot(positions[:, 0] - n // 2, positions[:, 1] - n // 2) if len(positions) else np.zeros(0)
    spots = Spots(positions.reshape(-1, 2), radius,
                  ratio_in[positions[:, 0], positions[:, 1]] if len(positions) else np.zeros(0), n)
    # the restored spot may move by a bin (scan distortions corrected): its neighbourhood's peak
    near_out = ndimage.maximum_filter(p_out - floor_out, size=3, mode="constant")
    kept = np.zeros(len(positions))
    for i, (y, x) in enumerate(positions):
        signal_in = p_in[y, x] - floor_in[y, x]
        kept[i] = np.sqrt(max(near_out[y, x], 0.0) / signal_in) if signal_in > 0 else 0.0
    outer = outer_half(radius)
    candidates = _peaks(ratio_out, threshold)
    present_in = ndimage.maximum_filter(ratio_in, size=2 * MATCH_BINS + 1, mode="constant") >= INPUT_PRESENT
    # visible on the input's own scale too: the restored frame's floor sinks far below the input's
    # (noise removed), so a peak over the restored floor alone may be mere leftover texture
    appeared = np.array([p for p in candidates if not present_in[p[0], p[1]]
                         and p_out[p[0], p[1]] >= threshold * floor_in[p[0], p[1]]], int).reshape(-1, 2)
    return LatticeFidelity(spots, kept, kept >= SURVIVAL_AMPLITUDE, outer, appeared)

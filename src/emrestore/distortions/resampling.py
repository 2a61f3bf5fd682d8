"""Resampling numerics of the scan model: an image sampled at displaced probe positions.

The scan stages (:mod:`emrestore.distortions.scan`) say where the probe was; this
module turns positions into pixel values. Sampling is separable and cubic (Catmull-Rom,
Keys a = −0.5) with reflection at the borders: a vertical pass at each pixel's mean
``y`` position, then a horizontal pass at the ``K`` positions along the dwell, averaged
(midpoint rule for the path integral). The vertical pass uses the ``y`` displacement of
the nominal column, which differs from that of the displaced column only by
``∂δy/∂j·δx`` (second order for smooth fields; for the white fast jitter it just picks
a neighbour's independent draw).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["DWELL_SAMPLES", "DWELL_SAMPLE_SPACING_PX", "DwellPath", "cubic_weights", "dwell_samples",
           "sample_separable"]

#: Largest number of probe positions averaged per dwell (spec: K ≈ 4).
DWELL_SAMPLES = 4

#: Largest spacing of the dwell samples along the path [px].
DWELL_SAMPLE_SPACING_PX = 0.5


def dwell_samples(travel_px: float) -> int:
    """Samples K along a dwell path of ``travel_px``: 1 below 0.05 px, else spaced ≤ 0.5 px, ≤ 4.

    The K samples sit at the midpoints of K equal parts of the path (midpoint rule
    for the path average). Short paths need fewer samples; this saves most of the
    sampling time for stepped (digital) scans.
    """
    if travel_px < 0.05:
        return 1
    return int(min(DWELL_SAMPLES, 1 + math.ceil(travel_px / DWELL_SAMPLE_SPACING_PX)))


def cubic_weights(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Catmull-Rom (Keys, a = −0.5) weights of the 4 taps at offsets −1, 0, 1, 2.

    Only arithmetic and in-place operators, so the batched chains
    (:mod:`emrestore.distortions.batched`) apply the same kernel to torch tensors.

    Parameters
    ----------
    t : numpy.ndarray or torch.Tensor
        Fractional position in [0, 1) past the tap at offset 0 (float32 for speed; the
        weights keep its dtype).
    """
    tm1 = t - 1
    w3 = t * t
    w3 *= tm1
    w3 *= 0.5  # ½t²(t − 1)
    w0 = tm1 * tm1
    w0 *= t
    w0 *= -0.5  # −½t(1 − t)²
    w2 = t + w0
    w2 -= w3
    w2 -= w3  # w2 = t + w0 − 2·w3 (the first moment of the kernel is t)
    w1 = 1 - w0
    w1 -= w2
    w1 -= w3  # partition of unity
    return w0, w1, w2, w3


class DwellPath:
    """The K column positions of the probe during each dwell, made on demand.

    ``path[k] = start + travel·(k + ½)/K`` [px] (float32 (H, W)); a sequence of length K.

    Parameters
    ----------
    start : numpy.ndarray
        Column position at the start of each dwell [px], (H, W).
    travel : numpy.ndarray
        Column distance the probe moves during each dwell [px], (H, W).
    samples : int
        Number of positions K along the dwell.
    """

    def __init__(self, start: np.ndarray, travel: np.ndarray, samples: int) -> None:
        self.start = np.ascontiguousarray(start, dtype=np.float32)
        self.travel = np.ascontiguousarray(travel, dtype=np.float32)
        self.samples = samples

    def __len__(self) -> int:
        return self.samples

    def __getitem__(self, k: int) -> np.ndarray:
        if k < 0:
            k += self.samples
        if not 0 <= k < self.samples:
            raise IndexError(k)
        out = self.travel * np.float32((k + 0.5) / self.samples)
        out += self.start
        return out

    def __iter__(self):
        return (self[k] for k in range(self.samples))


def sample_separable(image: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Cubic sampling: vertical pass at ``y`` (H, W), horizontal at ``x`` (K, H, W), mean over K.

    Borders are reflected (``d c b a | a b c d``).

    Parameters
    ----------
    image : numpy.ndarray
        float32 (H, W).
    y : numpy.ndarray
        Row coordinate of each pixel [px], (H, W).
    x : numpy.ndarray
        Column coordinates of the K samples of each pixel [px]: (K, H, W), or a
        sequence of K (H, W) arrays such as :class:`DwellPath`.
    """
    height, width = image.shape
    reach = max(float(np.abs(y - np.arange(height, dtype=np.float32)[:, None]).max(initial=0.0)),
                float(np.abs(x[0] - np.arange(width, dtype=np.float32)).max(initial=0.0)),
                float(np.abs(x[-1] - np.arange(width, dtype=np.float32)).max(initial=0.0)))
    pad = int(math.ceil(reach)) + 3
    padded = np.pad(image, pad, mode="symmetric")
    ph, pw = padded.shape

    # vertical pass on every padded column; y of the padded columns is edge-extended
    y_pad = np.pad(y, ((0, 0), (pad, pad)), mode="edge") + np.float32(pad)
    y0 = np.floor(y_pad)
    y_pad -= y0  # fractional part
    wy = cubic_weights(y_pad)
    np.clip(y0, 1, ph - 3, out=y0)
    y0 -= 1  # first tap
    y0 *= np.float32(pw)
    y0 += np.arange(pw, dtype=np.float32)[None, :]  # exact: indices < 2**24
    first = y0.astype(np.intp)
    flat = padded.reshape(-1)
    rows = wy[0] * flat.take(first)
    for tap in (1, 2, 3):
        gathered = flat[tap * pw:].take(first)
        gathered *= wy[tap]
        rows += gathered

    # horizontal pass at the K samples along the dwell, one sample at a time (the
    # arrays then stay in cache)
    flat = rows.reshape(-1)
    row_offset = (np.arange(height, dtype=np.float32) * np.float32(pw) - 1)[:, None]
    total = np.zeros((height, width), dtype=np.float32)
    for xk in x:  # K ≤ 4 samples
        x_pad = xk + np.float32(pad)
        x0 = np.floor(x_pad)
        x_pad -= x0  # fractional part
        wx = cubic_weights(x_pad)
        np.clip(x0, 1, pw - 3, out=x0)
        x0 += row_offset
        first = x0.astype(np.intp)
        for tap in range(4):
            gathered = flat[tap:].take(first)
            gathered *= wx[tap]
            total += gathered
    if len(x) > 1:
        total *= np.float32(1.0 / len(x))
    return total

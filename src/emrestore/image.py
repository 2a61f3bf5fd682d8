"""`EMImage`: an image (or a series) with its calibration and metadata.

This is the I/O contract of emrestore: readers return it, writers take it, and the
restorer hands back one with the same calibration, so every measurement made on a
restored image stays in physical units.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import NonFiniteDataError, NotAnImageError, ParameterError

#: The modalities emrestore knows; ``None`` means "not known".
MODALITIES = ("tem", "stem", "sem")
#: The modalities whose images are scanned line by line (probe rastered; noise shared along a line).
SCANNED_MODALITIES = ("stem", "sem")

#: Length units and their size in nanometres.
LENGTH_UNITS_NM = {
    "pm": 1e-3,
    "Å": 0.1,
    "nm": 1.0,
    "µm": 1e3,
    "mm": 1e6,
    "m": 1e9,
}

_UNIT_ALIASES = {
    "um": "µm",
    "μm": "µm",  # Greek mu
    "micron": "µm",
    "microns": "µm",
    "micrometer": "µm",
    "micrometre": "µm",
    "a": "Å",
    "A": "Å",
    "Å": "Å",  # Angstrom sign U+212B
    "angstrom": "Å",
    "ang": "Å",
    "nanometer": "nm",
    "nanometre": "nm",
    "picometer": "pm",
    "picometre": "pm",
    "millimeter": "mm",
    "millimetre": "mm",
    "meter": "m",
    "metre": "m",
}


def normalize_unit(unit: str | None) -> str | None:
    """Return the canonical spelling of a length unit, or ``None`` for "no unit".

    Parameters
    ----------
    unit : str or None
        A unit as written by some file format (``"um"``, ``"micron"``, ``"A"``, ...).

    Returns
    -------
    str or None
        ``"pm"``, ``"Å"``, ``"nm"``, ``"µm"``, ``"mm"``, ``"m"``, any other non-empty
        unit unchanged (e.g. ``"1/nm"``), or ``None`` for empty/undefined units.

    Examples
    --------
    >>> normalize_unit("micron")
    'µm'
    >>> normalize_unit("<undefined>") is None
    True
    >>> normalize_unit("[n_m]")  # NCEM EMD spelling
    'nm'
    """
    if unit is None:
        return None
    text = str(unit).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1].strip()
    if text in ("", "<undefined>", "undefined", "px", "pixel", "pixels", "None"):
        return None
    if text in LENGTH_UNITS_NM:
        return text
    known = _UNIT_ALIASES.get(text, _UNIT_ALIASES.get(text.lower()))
    if known is None and "_" in text:
        # NCEM EMD writes SI prefixes apart from the unit: "n_m", "u_m", "1/n_m"
        joined = text.replace("_", "")
        if joined in LENGTH_UNITS_NM or joined.removeprefix("1/") in LENGTH_UNITS_NM:
            return joined
        known = _UNIT_ALIASES.get(joined, _UNIT_ALIASES.get(joined.lower()))
    return known if known is not None else text


def convenient_length(value: float, unit: str) -> tuple[float, str]:
    """Express a length in the unit a microscopist would quote it in.

    SI metres (as SEM TIFFs store them) become pm, nm, µm or mm so that the number is
    between 1 and 1000 where possible. Other units are returned unchanged.

    Parameters
    ----------
    value : float
        The length in ``unit``.
    unit : str
        A canonical unit from :data:`LENGTH_UNITS_NM`.

    Returns
    -------
    (float, str)
        The same length in a convenient unit.

    Examples
    --------
    >>> convenient_length(1.165e-08, "m")
    (11.65, 'nm')
    """
    if unit not in ("m", "mm") or value <= 0:
        return value, unit
    nm = value * LENGTH_UNITS_NM[unit]
    for name in ("pm", "nm", "µm", "mm"):
        converted = nm / LENGTH_UNITS_NM[name]
        if converted < 1000:
            return float(f"{converted:.12g}"), name
    return float(f"{nm / LENGTH_UNITS_NM['mm']:.12g}"), "mm"


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_float32_range(wide: np.ndarray, narrow: np.ndarray) -> None:
    """Refuse finite values that float32 cannot hold (converted, they became inf)."""
    overflow = ~np.isfinite(narrow)
    if not overflow.any():
        return
    lost = wide[overflow]
    lost = lost[np.isfinite(lost)]
    if lost.size:
        raise ParameterError(
            f"The image holds values up to {float(np.abs(lost).max()):.3g}, beyond the "
            f"float32 range (±{_FLOAT32_MAX:.3g}) in which emrestore computes.",
            "Rescale the data first (e.g. divide by its maximum); restoration does not "
            "depend on the absolute scale.",
        )


#: Pixel sizes along y and x that differ by more than this (relative) are not square.
SQUARE_RTOL = 1e-3


def square_pixel_size(size: Any, unit: str | None = None) -> Any:
    """One pixel size from a scalar or a (y, x) pair; refuse non-square pixels.

    Parameters
    ----------
    size : float, (float, float) or None
        Pixel size in ``unit``: one number, or the sizes along y and x.
    unit : str, optional
        Only for the message.

    Returns
    -------
    float or None
        The x size of a pair whose sizes agree within :data:`SQUARE_RTOL`; a scalar or
        ``None`` unchanged (validated by the caller).

    Raises
    ------
    ParameterError
        If the two sizes differ by more than :data:`SQUARE_RTOL`.
    """
    if size is None or np.ndim(size) == 0:
        return size
    pair = np.asarray(size, dtype=float).ravel()
    if pair.size != 2:
        raise ParameterError(
            f"pixel_size must be one number or a (y, x) pair, got {size!r}.",
            "Give the pixel size in `unit`, e.g. pixel_size=0.05.",
        )
    check_square(float(pair[0]), float(pair[1]), unit)
    return float(pair[1])


def check_square(size_y: float, size_x: float, unit: str | None = None, where: str = "The image") -> None:
    """Raise :class:`ParameterError` if the y and x pixel sizes differ by more than 0.1 %.

    Parameters
    ----------
    size_y, size_x : float
        Pixel size along y and x, in ``unit``.
    unit : str, optional
        Their unit, for the message.
    where : str
        What has these pixels, for the message (``"scan.tif"``, ``"The signal"``).
    """
    if np.isclose(size_x, size_y, rtol=SQUARE_RTOL, atol=0.0):
        return
    raise ParameterError(
        f"{where} has non-square pixels ({size_y:g} {unit or ''} along y, {size_x:g} "
        f"{unit or ''} along x, ratio {size_y / size_x:.4g}); the models are trained on "
        "square pixels and would restore a stretched image wrongly.",
        "Resample it to square pixels first (e.g. scipy.ndimage.zoom along one axis, or "
        "HyperSpy's signal.rebin(scale=...)) and set the same scale on both axes.",
    )


def _origin(origin: Any) -> tuple[float, float]:
    """(y, x) origin as two finite floats."""
    try:
        y, x = (float(v) for v in origin)
    except (TypeError, ValueError) as error:
        raise ParameterError(f"origin must be a (y, x) pair of numbers, got {origin!r}.",
                             "Give the position of pixel [0, 0] in `unit`, e.g. origin=(0.0, 0.0).") from error
    if not (np.isfinite(y) and np.isfinite(x)):
        raise ParameterError(f"origin must be finite, got {origin!r}.",
                             "Give the position of pixel [0, 0] in `unit`, e.g. origin=(0.0, 0.0).")
    return (y + 0.0, x + 0.0)


@dataclass
class EMImage:
    """An electron-microscopy image with its calibration and metadata.

    Parameters
    ----------
    data : numpy.ndarray
        Pixel values, stored as ``float32`` of shape (H, W) for one image or (N, H, W)
        for a series (N frames). Integer input is converted without rescaling, so
        values stay in the detector's units (counts, ADU, ...).
    pixel_size : float, (float, float) or None
        Size of one pixel in ``unit``, or ``None`` if uncalibrated. Pixels must be
        square: a (y, x) pair is accepted when both sizes agree within 0.1 % and
        stored as the x size; unequal sizes raise :class:`~emrestore.errors.ParameterError`
        (the networks assume the same sampling along both axes).
    unit : str or None
        Unit of ``pixel_size``: ``"pm"``, ``"Å"``, ``"nm"``, ``"µm"``, ... (or a
        reciprocal unit such as ``"1/nm"`` for diffraction patterns).
    modality : {"tem", "stem", "sem"} or None
        How the image was acquired; inferred from the file's metadata where possible.
    metadata : dict
        Flat, JSON-serialisable acquisition metadata where present: ``voltage_kV``,
        ``magnification``, ``detector``, ``dwell_time_us``, ``exposure_s``,
        ``instrument``, ``original_dtype``, ``databar_height_px``, ...
    source : str or None
        Path of the file the image was read from.
    original_metadata : dict
        The vendor's full metadata tree as RosettaSciIO read it (written to ``.hspy``,
        not to TIFF descriptions).
    allow_nonfinite : bool, optional
        Accept NaN/inf pixels (default ``False``: they raise
        :class:`~emrestore.errors.NonFiniteDataError`).
    origin : (float, float), keyword only
        Position (y, x) of the centre of pixel [0, 0] in ``unit`` (in pixels when
        uncalibrated), as HyperSpy's axis ``offset``; default (0, 0). Kept by
        :meth:`with_data`, restoration and the TIFF and HSPY writers.

    Examples
    --------
    >>> import numpy as np
    >>> img = EMImage(np.zeros((64, 64), dtype=np.uint16), pixel_size=0.05, unit="nm")
    >>> img.shape, img.data.dtype, img.frames
    ((64, 64), dtype('float32'), 1)
    """

    data: np.ndarray
    pixel_size: float | None = None
    unit: str | None = None
    modality: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    original_metadata: dict[str, Any] = field(default_factory=dict, repr=False)
    allow_nonfinite: bool = field(default=False, repr=False, compare=False)
    origin: tuple[float, float] = field(default=(0.0, 0.0), kw_only=True)

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.dtype.kind not in "biuf":
            raise NotAnImageError(
                f"Image data has dtype {data.dtype}, which is not a number type.",
                "Pass a real-valued array (complex or text data cannot be restored).",
            )
        if data.ndim not in (2, 3):
            raise NotAnImageError(
                f"Image data has {data.ndim} dimension(s) {data.shape}; an image needs "
                "2 (H, W) or 3 (N, H, W).",
                "Select one image or a series of images from the data first.",
            )
        if data.size == 0 or min(data.shape[-2:]) < 1:
            raise NotAnImageError(
                f"Image data is empty (shape {data.shape}).",
                "Pass an image with at least one pixel.",
            )
        self.metadata = dict(self.metadata)
        if data.dtype != np.float32:
            self.metadata.setdefault("original_dtype", str(data.dtype))
            wide = data
            with np.errstate(over="ignore"):
                data = data.astype(np.float32)
            if wide.dtype.kind == "f" and wide.dtype.itemsize > 4:
                _check_float32_range(wide, data)
        else:
            self.metadata.setdefault("original_dtype", "float32")
        if not self.allow_nonfinite:
            bad = ~np.isfinite(data)
            if bad.any():
                raise NonFiniteDataError(
                    f"The image holds {int(bad.sum())} NaN or infinite pixel(s).",
                    "Replace them first (e.g. numpy.nan_to_num or inpainting), or read "
                    "with allow_nonfinite=True to inspect the file.",
                )
        self.data = data
        self.pixel_size = square_pixel_size(self.pixel_size, self.unit)
        self.origin = _origin(self.origin)
        if self.pixel_size is not None:
            size = float(self.pixel_size)
            if not np.isfinite(size) or size <= 0:
                raise ParameterError(
                    f"pixel_size must be a positive finite number, got {self.pixel_size!r}.",
                    "Give the pixel size in `unit`, or None if the image is uncalibrated.",
                )
            self.pixel_size = size
        self.unit = normalize_unit(self.unit)
        if self.pixel_size is None:
            self.unit = None
        if self.modality is not None:
            modality = str(self.modality).lower()
            if modality not in MODALITIES:
                raise ParameterError(
                    f"Unknown modality {self.modality!r}.",
                    f"Use one of {', '.join(MODALITIES)} or None.",
                )
            self.modality = modality
        if self.source is not None:
            self.source = str(self.source)

    # ----------------------------------------------------------------- properties
    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of ``data``: (H, W) or (N, H, W)."""
        return tuple(self.data.shape)

    @property
    def frames(self) -> int:
        """Number of frames: 1 for a single image, N for a series."""
        return 1 if self.data.ndim == 2 else int(self.data.shape[0])

    @property
    def is_series(self) -> bool:
        """True if ``data`` is a series (N, H, W)."""
        return self.data.ndim == 3

    @property
    def pixel_size_nm(self) -> float | None:
        """Pixel size in nanometres, or ``None`` if uncalibrated or not a length."""
        if self.pixel_size is None or self.unit not in LENGTH_UNITS_NM:
            return None
        return self.pixel_size * LENGTH_UNITS_NM[self.unit]

    # -------------------------------------------------------------------- helpers
    def with_data(self, data: np.ndarray, **metadata: Any) -> "EMImage":
        """Return a copy with new pixel data and the same calibration.

        Parameters
        ----------
        data : numpy.ndarray
            New pixel values, same (H, W) or (N, H, W) layout.
        **metadata
            Entries to add to (or replace in) the copy's ``metadata``.
        """
        return EMImage(
            data=data,
            pixel_size=self.pixel_size,
            unit=self.unit,
            modality=self.modality,
            metadata={**copy.deepcopy(self.metadata), **metadata},
            source=self.source,
            original_metadata=copy.deepcopy(self.original_metadata),
            allow_nonfinite=self.allow_nonfinite,
            origin=self.origin,
        )

    def summary(self) -> dict[str, Any]:
        """Shape, dtype, calibration, modality and frames as a JSON-ready dict.

        Returns
        -------
        dict
            Keys ``shape``, ``dtype`` (the file's pixel type), ``pixel_size``, ``unit``,
            ``modality``, ``frames``.
        """
        return {
            "shape": list(self.shape),
            "dtype": self.metadata.get("original_dtype", str(self.data.dtype)),
            "pixel_size": self.pixel_size,
            "unit": self.unit,
            "modality": self.modality,
            "frames": self.frames,
        }

    def __repr__(self) -> str:
        cal = "uncalibrated" if self.pixel_size is None else f"{self.pixel_size:.6g} {self.unit}/px"
        name = Path(self.source).name if self.source else "in memory"
        return f"EMImage(shape={self.shape}, {cal}, modality={self.modality}, source={name})"

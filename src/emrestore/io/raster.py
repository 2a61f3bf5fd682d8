"""PNG and JPEG: read (greyscale; colour converted), write 8-bit PNG for viewing."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from ..errors import CorruptFileError, LimitExceededError
from ..image import EMImage
from .limits import DEFAULT_LIMITS, ReadLimits
from .metadata import metadata_json_safe
from .signal import rgb_to_grey

PNG_TEXT_KEY = "emrestore"


def read_raster(path: Path, *, allow_nonfinite: bool = False,
                limits: ReadLimits = DEFAULT_LIMITS) -> list[EMImage]:
    """Read a PNG/JPEG file. Calibration is restored from PNGs emrestore wrote.

    The declared width × height is checked against ``limits`` before decoding.
    """
    try:
        with warnings.catch_warnings():  # PIL's bomb warning: the limits below decide
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            pil = Image.open(path)
        with pil:
            width, height = pil.size
            channels = len(pil.getbands())
            limits.check_pixels((height, width), channels, path)
            pil.load()
            mode = pil.mode
            text = dict(getattr(pil, "text", {}) or {})
            if mode in ("P", "PA", "LA", "CMYK", "YCbCr", "HSV", "LAB", "1"):
                pil = pil.convert("RGBA" if "A" in mode or mode == "P" else "RGB") if mode != "1" else pil.convert("L")
                mode = pil.mode
            data = np.asarray(pil)
    except Image.DecompressionBombError as error:
        raise LimitExceededError(
            f"{path.name} declares an image too large to decode safely ({error}).",
            "If it is genuine, convert it to TIFF and crop or bin it first.",
        ) from error
    except (OSError, SyntaxError, ValueError) as error:
        raise CorruptFileError(
            f"{path.name} could not be decoded as an image ({error}).",
            "Check that the file is complete and really a PNG/JPEG; re-export it.",
        ) from error
    original_dtype = str(data.dtype)
    if data.ndim == 3:
        data = rgb_to_grey(data, path)
    pixel_size = unit = modality = None
    metadata: dict = {}
    if PNG_TEXT_KEY in text:
        try:
            block = json.loads(text[PNG_TEXT_KEY])
            pixel_size, unit, modality = block.get("pixel_size"), block.get("unit"), block.get("modality")
            metadata = dict(block.get("metadata", {}))
        except (json.JSONDecodeError, AttributeError):
            pass
    metadata.setdefault("original_dtype", original_dtype)
    return [EMImage(data=data, pixel_size=pixel_size, unit=unit, modality=modality,
                    metadata=metadata, source=str(path), allow_nonfinite=allow_nonfinite)]


def to_uint8(data: np.ndarray, low_percentile: float = 0.5, high_percentile: float = 99.5) -> np.ndarray:
    """Map an image to 8 bits with a percentile contrast stretch.

    Parameters
    ----------
    data : numpy.ndarray
        (H, W) image.
    low_percentile, high_percentile : float
        Percentiles [%] mapped to 0 and 255 (values outside are clipped).
    """
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return np.zeros(data.shape, dtype=np.uint8)
    low, high = np.percentile(finite, [low_percentile, high_percentile])
    if high <= low:
        low, high = float(finite.min()), float(finite.max())
    if high <= low:
        return np.full(data.shape, 128, dtype=np.uint8)
    scaled = (np.nan_to_num(data, nan=low) - low) / (high - low)
    return np.clip(np.rint(scaled * 255.0), 0, 255).astype(np.uint8)


def montage(frames: np.ndarray, gap: int = 2) -> np.ndarray:
    """Arrange (N, H, W) frames in a near-square grid separated by ``gap`` px."""
    n, h, w = frames.shape
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    fill = float(np.min(frames))
    sheet = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap), fill, dtype=np.float32)
    for index in range(n):
        r, c = divmod(index, cols)
        sheet[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = frames[index]
    return sheet


def write_png(image: EMImage, path: Path) -> None:
    """Write an 8-bit PNG for viewing (percentile contrast; a series as a montage).

    The calibration and metadata are stored as JSON in a PNG text chunk, so
    emrestore reads the pixel size back; the pixel values are display values, not data.
    """
    data = montage(image.data) if image.is_series else image.data
    info = PngImagePlugin.PngInfo()
    info.add_text(PNG_TEXT_KEY, json.dumps(metadata_json_safe({
        "pixel_size": image.pixel_size, "unit": image.unit, "modality": image.modality,
        "metadata": image.metadata,
    })))
    Image.fromarray(to_uint8(data)).save(path, format="PNG", pnginfo=info)

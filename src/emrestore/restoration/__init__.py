"""Restoration: any size, any format, calibration kept.

:func:`restore` is the front door; :class:`Restorer` holds one loaded model.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..image import EMImage
from ..io.signal import EMRestoreWarning
from .choose import ModelChoice, choose_model_tag
from .engine import Restorer, resolve_choice
from .models import ModelInfo, find_model, shipped_models

logger = logging.getLogger("emrestore")

_RESTORERS: dict[tuple, Restorer] = {}


def load_model(model: str | Path, *, tile: int | None = None, overlap: int | None = None,
               batch_size: int | None = None, backend: str | None = None,
               device: str | None = None, progress: bool = True) -> Restorer:
    """Load a model (shipped tag or ``.onnx`` path) into a :class:`Restorer`.

    Restorers are cached per model and settings, so calling this (or :func:`restore`)
    repeatedly does not reload the network.
    """
    key = (str(model), tile, overlap, batch_size, backend, device, progress)
    if key not in _RESTORERS:
        _RESTORERS[key] = Restorer(model, tile=tile, overlap=overlap, batch_size=batch_size,
                                   backend=backend, device=device, progress=progress)
    return _RESTORERS[key]


def _is_hyperspy_signal(x: Any) -> bool:
    return hasattr(x, "axes_manager") and hasattr(x, "data") and hasattr(x, "metadata")


def _signal_to_image(signal: Any) -> EMImage:
    axes = signal.axes_manager.signal_axes
    if len(axes) != 2:
        raise ParameterError(
            f"The HyperSpy signal has {len(axes)} signal axes; restore needs a Signal2D.",
            "Convert it with signal.as_signal2D(...) first.",
        )
    units = str(axes[0].units) if axes[0].units not in (None, "<undefined>") else None
    modality = None
    md = signal.metadata
    if md.has_item("Acquisition_instrument.SEM"):
        modality = "sem"
    elif md.has_item("Acquisition_instrument.TEM"):
        mode = str(md.get_item("Acquisition_instrument.TEM.acquisition_mode", "TEM")).upper()
        modality = "stem" if "STEM" in mode else "tem"
    data = np.asarray(signal.data)
    if data.ndim == 4 or data.ndim > 3:
        raise ParameterError("The signal has more than one navigation axis.",
                             "Restore one navigation row at a time, or flatten it to a series.")
    return EMImage(data=data, pixel_size=float(axes[0].scale) if units else None, unit=units,
                   modality=modality)


def restore(x: Any, model: str | Path | None = None, *, tile: int | None = None,
            overlap: int | None = None, batch_size: int | None = None,
            backend: str | None = None, device: str | None = None, progress: bool = True) -> Any:
    """Restore an image, a series, a file, or a HyperSpy signal.

    Parameters
    ----------
    x : numpy.ndarray, EMImage, str, Path or hyperspy Signal2D
        (H, W) image or (N, H, W) series (restored frame by frame), in any units.
    model : str or Path, optional
        Shipped tag (``"hrstem"``, ``"lrsem"``, ...) or ``.onnx`` path. Default: chosen
        from the modality and pixel size (see :func:`choose_model_tag`); the choice and
        its reason are logged and recorded in the result's metadata.
    tile, overlap, batch_size : int, optional
        Tiling: tile edge [px] (default 1024; 0 = whole image), overlap [px] (default:
        twice the model's receptive field plus a 16-px blend, 104-144 px for the shipped
        models, so that tiled equals whole), tiles per network call (default 2).
    backend : {"onnx", "torch"}, optional
        Default onnxruntime (no PyTorch needed).
    device : {"cpu", "cuda"}, optional
        Default CPU.
    progress : bool
        Progress bars over tiles/frames.

    Returns
    -------
    Same kind as ``x``
        A float32 array for an array, an :class:`EMImage` for an EMImage or a path
        (calibration and metadata kept; ``metadata["restoration"]`` records model and
        settings), a new signal for a HyperSpy signal. Intensities stay in the input's
        units.

    Examples
    --------
    >>> import emrestore
    >>> restored = emrestore.restore("frame.dm4")                 # doctest: +SKIP
    >>> emrestore.write(restored, "frame_restored.tif")           # doctest: +SKIP
    """
    settings = dict(tile=tile, overlap=overlap, batch_size=batch_size, backend=backend,
                    device=device, progress=progress)
    if isinstance(x, (str, Path)):
        from ..io import read

        x = read(x)
    if isinstance(x, EMImage):
        chosen, choice = resolve_choice(x, model)
        restorer = load_model(chosen, **settings)
        logger.info("restoring with model %s (%s)", restorer.info.name, choice.reason)
        return restorer.restore_image(x, choice)
    if _is_hyperspy_signal(x):
        image = _signal_to_image(x)
        chosen, choice = resolve_choice(image, model)
        restorer = load_model(chosen, **settings)
        out = x.deepcopy()
        out.data = restorer.restore_data(image.data).astype(np.float32)
        out.metadata.set_item("General.title", f"{x.metadata.get_item('General.title', '')} restored".strip())
        for key, value in restorer.provenance(choice).items():
            out.metadata.set_item(f"Processing.emrestore.{key}", value)
        return out
    if isinstance(x, np.ndarray):
        data = EMImage(x).data  # the same checks as for files: dtype, NaN/inf, float32 range
        chosen, choice = resolve_choice(None, model)  # a bare array has no metadata
        if model is None:
            warnings.warn(
                f"A bare array carries no modality or pixel size; restoring it with "
                f"'{choice.tag}' ({choice.reason}). Pass model=... or an EMImage with "
                "modality and pixel_size to choose the right model.",
                EMRestoreWarning,
                stacklevel=2,
            )
        restorer = load_model(chosen, **settings)
        logger.info("restoring with model %s (%s)", restorer.info.name, choice.reason)
        return restorer.restore_data(data)
    raise ParameterError(
        f"restore() cannot take a {type(x).__name__}.",
        "Pass a numpy array, an EMImage, a file path or a HyperSpy Signal2D.",
    )


__all__ = ["restore", "load_model", "Restorer", "ModelInfo", "ModelChoice", "choose_model_tag",
           "find_model", "shipped_models"]

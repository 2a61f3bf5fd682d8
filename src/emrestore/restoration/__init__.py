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
from ..model.registry import ModelInfo, find_model, shipped_models
from .choose import ModelChoice, choose_model_tag
from .engine import Restorer, resolve_choice
from .hyperspy import is_hyperspy_signal, restore_signal
from .loaded import load_model

logger = logging.getLogger("emrestore")


def _uncertainty_options(uncertainty: bool, dihedral: int, renoise: int,
                         window: float | None) -> dict[str, Any] | None:
    """Keyword arguments of :meth:`Restorer.uncertainty`, or ``None`` when no map is asked for."""
    from .uncertainty.dihedral import check_size

    dihedral = check_size(dihedral)
    if not uncertainty and (dihedral or renoise or window is not None):
        raise ParameterError("dihedral, renoise and uncertainty_window only change the uncertainty map.",
                             "Pass uncertainty=True as well, or leave them out.")
    return {"dihedral": dihedral, "renoise": int(renoise), "window": window} if uncertainty else None


def restore(x: Any, model: str | Path | None = None, *, tile: int | None = None,
            overlap: int | None = None, batch_size: int | None = None,
            backend: str | None = None, device: str | None = None, progress: bool = True,
            uncertainty: bool = False, dihedral: int = 0, renoise: int = 0,
            uncertainty_window: float | None = None) -> Any:
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
    uncertainty : bool
        Also return the uncertainty map (see below and ``docs/uncertainty.md``): the
        physics check of ``input − restored`` against the frame's noise model; costs a
        noise estimate and a few filters per frame.
    dihedral : {0, 4, 8}
        With ``uncertainty``: add the spread of the restoration over 4 (flips, 180°) or 8
        (all flips and rotations) transformed copies — 4× or 8× the restoration time.
    renoise : int
        With ``uncertainty``: add the spread over this many copies of the restoration
        re-noised by the frame's noise model (one extra restoration each; e.g. 2).
    uncertainty_window : float, optional
        Gaussian window σ [px] of the physics check (default 8).

    Returns
    -------
    Same kind as ``x``
        A float32 array for an array, an :class:`EMImage` for an EMImage or a path
        (calibration and metadata kept; ``metadata["restoration"]`` records model and
        settings), a new signal for a HyperSpy signal: float32, the same shape and axes
        (scale, units, offsets), lazy if the input is lazy, the record in
        ``metadata.emrestore.restoration``; an SEM data bar is not restored but copied
        unchanged (its height in the record). Intensities stay in the input's units.
    (restored, uncertainty)
        With ``uncertainty=True``: the above and, for an array, EMImage or path, an
        :class:`~emrestore.restoration.uncertainty.UncertaintyMap` (``.total``: the
        estimated local RMS error [input units], same shape; ``.components``; ``.record()``;
        ``.as_image(restored)`` an EMImage calibrated like the restoration); for a HyperSpy
        signal a second signal with the same axes (``metadata.emrestore.uncertainty``).

    Examples
    --------
    >>> import emrestore
    >>> restored = emrestore.restore("frame.dm4")                 # doctest: +SKIP
    >>> emrestore.write(restored, "frame_restored.tif")           # doctest: +SKIP
    """
    settings = dict(tile=tile, overlap=overlap, batch_size=batch_size, backend=backend,
                    device=device, progress=progress)
    options = _uncertainty_options(uncertainty, dihedral, renoise, uncertainty_window)
    if isinstance(x, (str, Path)):
        from ..io import read

        x = read(x)
    if isinstance(x, EMImage):
        chosen, choice = resolve_choice(x, model)
        restorer = load_model(chosen, **settings)
        logger.info("restoring with model %s (%s)", restorer.info.name, choice.reason)
        out = restorer.restore_image(x, choice)
        if options is None:
            return out
        return out, restorer.uncertainty(x.data, out.data, modality=x.modality, **options)
    if is_hyperspy_signal(x):
        return restore_signal(x, model, settings, options)
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
        out = restorer.restore_data(data)
        return out if options is None else (out, restorer.uncertainty(data, out, **options))
    raise ParameterError(
        f"restore() cannot take a {type(x).__name__}.",
        "Pass a numpy array, an EMImage, a file path or a HyperSpy Signal2D.",
    )


__all__ = ["restore", "load_model", "Restorer", "ModelInfo", "ModelChoice", "choose_model_tag",
           "find_model", "shipped_models"]

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


def _signal_name(signal: Any) -> str:
    """How messages name a HyperSpy signal."""
    title = str(signal.metadata.get_item("General.title", "") or "")
    return f"HyperSpy signal '{title}'" if title and "/" not in title else "The HyperSpy signal"


def _signal_dict(signal: Any) -> dict[str, Any]:
    """A HyperSpy signal as a RosettaSciIO-style dictionary (the data are not copied)."""
    manager = signal.axes_manager
    if manager.signal_dimension != 2:
        raise ParameterError(
            f"The HyperSpy signal has {manager.signal_dimension} signal axes; restore needs a Signal2D.",
            "Convert it with signal.as_signal2D(...) first.",
        )
    if manager.navigation_dimension > 1:
        raise ParameterError(
            f"The signal has {manager.navigation_dimension} navigation axes; restore takes one "
            "image or one series.",
            "Restore one navigation row at a time, or flatten it to a series first.",
        )
    return {"data": signal.data, "axes": manager._get_axes_dicts(),
            "metadata": signal.metadata.as_dictionary(),
            "original_metadata": signal.original_metadata.as_dictionary()}


def _signal_to_image(signal: Any) -> EMImage:
    """The :class:`EMImage` that the HyperSpy path restores, as :func:`emrestore.read` would make it.

    Calibration, origin, modality and metadata come from the signal's axes and metadata
    trees (the same code as for files); an SEM data bar is cut off
    (``metadata["databar_height_px"]``); non-square pixels raise :class:`ParameterError`.
    A lazy signal is computed (use :func:`restore`, which keeps it lazy).
    """
    from ..io.signal import signal_to_image

    content = _signal_dict(signal)
    if signal._lazy:
        content["data"] = np.asarray(signal.data.compute())
    image = signal_to_image(content, _signal_name(signal), remove_databar=True)
    image.source = None  # a signal in memory, not a file
    return image


def _restore_signal(x: Any, model: str | Path | None, settings: dict[str, Any],
                    uncertainty: dict[str, Any] | None = None) -> Any:
    """The HyperSpy branch of :func:`restore`: a new signal, same shape, data bar untouched.

    With ``uncertainty`` (keyword arguments of :meth:`Restorer.uncertainty`) returns
    ``(restored, map_signal)``; a lazy signal is then computed (the map needs whole frames).
    """
    from ..io.metadata import set_restoration_record
    from ..io.signal import signal_fields

    lazy = bool(getattr(x, "_lazy", False))
    blockwise = None
    umap = None
    if lazy and uncertainty is None:
        try:
            from .blockwise import restore_dask_array as blockwise
        except ImportError:  # no block-wise restorer in this version: restore in memory
            blockwise = None
    if lazy and blockwise is not None:
        content = _signal_dict(x)
        fields = signal_fields(content, _signal_name(x))
        probe = EMImage(np.zeros((1, 1), np.float32), pixel_size=fields["pixel_size"],
                        unit=fields["unit"], modality=fields["modality"])
        bar = 0
        if fields["modality"] == "sem" and x.data.ndim == 2:
            from ..io.databar import find_databar

            bar = find_databar(np.asarray(x.data.compute()), fields["original_metadata"])[0]
        chosen, choice = resolve_choice(probe, model)
        restorer = load_model(chosen, **settings)
        logger.info("restoring lazily with model %s (%s)", restorer.info.name, choice.reason)
        data = x.data
        if bar:
            import dask.array as da

            height = data.shape[-2] - bar
            restored = da.concatenate([blockwise(restorer, data[..., :height, :]),
                                       data[..., height:, :].astype(np.float32)], axis=-2)
        else:
            restored = blockwise(restorer, data)
    else:
        image = _signal_to_image(x)
        bar = int(image.metadata.get("databar_height_px", 0))
        chosen, choice = resolve_choice(image, model)
        restorer = load_model(chosen, **settings)
        logger.info("restoring with model %s (%s)", restorer.info.name, choice.reason)
        inner = restorer.restore_data(image.data).astype(np.float32)
        if uncertainty is not None:
            umap = restorer.uncertainty(image.data, inner, modality=image.modality, **uncertainty)
        if bar:  # the micrograph restored, the data bar rows copied as they were
            full = np.asarray(x.data.compute() if lazy else x.data).astype(np.float32)
            full[..., : inner.shape[-2], :] = inner
            inner = full
        restored = inner
    out = x._deepcopy_with_new_data(restored)
    if lazy and blockwise is None:
        out = out.as_lazy()
    out.metadata.set_item("General.title", f"{x.metadata.get_item('General.title', '')} restored".strip())
    record = restorer.provenance(choice)
    if bar:
        record["databar_height_px"] = int(bar)
        record["databar"] = "kept as it was (not restored)"
    set_restoration_record(out, record)
    if umap is None:
        return out
    return out, _uncertainty_signal(out, umap, bar)


def _uncertainty_signal(restored: Any, umap: Any, bar: int) -> Any:
    """The map as a signal with the restored signal's axes (data-bar rows 0: not restored)."""
    total = np.zeros(restored.data.shape, np.float32)
    total[..., : umap.total.shape[-2], :] = umap.total
    signal = restored._deepcopy_with_new_data(total)
    if getattr(signal, "_lazy", False):
        signal.compute()
    title = str(restored.metadata.get_item("General.title", "") or "").removesuffix(" restored")
    signal.metadata.set_item("General.title", f"{title} uncertainty".strip())
    signal.metadata.set_item("Signal.quantity", "estimated local RMS error (input units)")
    signal.metadata.set_item("emrestore.uncertainty", umap.record())
    return signal


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
    if _is_hyperspy_signal(x):
        return _restore_signal(x, model, settings, options)
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

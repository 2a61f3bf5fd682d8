"""The HyperSpy branch of :func:`emrestore.restore`: a signal in, a new signal out.

The restored signal keeps the input's shape and axes (scale, units, offsets), stays lazy
when the input is lazy (restored block-wise), and carries the restoration record in
``metadata.emrestore.restoration``; an SEM data bar is copied unchanged.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..image import EMImage
from .engine import resolve_choice
from .loaded import load_model

logger = logging.getLogger("emrestore")


def is_hyperspy_signal(x: Any) -> bool:
    """Whether ``x`` looks like a HyperSpy signal (duck-typed: HyperSpy is not imported)."""
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


def signal_as_image(signal: Any) -> EMImage:
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


def restore_signal(x: Any, model: str | Path | None, settings: dict[str, Any],
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
        from .blockwise import restore_dask_array as blockwise
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
        image = signal_as_image(x)
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
    record = restorer.provenance(choice, blockwise=blockwise is not None)
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

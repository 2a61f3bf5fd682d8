"""Loaded models, cached per model and settings so that repeated calls do not reload the network."""

from __future__ import annotations

from pathlib import Path

from .engine import Restorer

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

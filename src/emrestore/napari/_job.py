"""The restoration the widget runs in its worker thread (no Qt here, so it tests alone)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from ..errors import EMRestoreError
from ..image import EMImage
from ..restoration import load_model
from ..restoration.engine import resolve_choice

#: ``progress(done_tiles, total_tiles, model_name)``, called from the worker thread.
ProgressCallback = Callable[[int, int, str], None]


class RestoreCancelled(EMRestoreError):
    """The user pressed Cancel; the restoration stopped after the tile batch in progress."""


def restore_with_progress(image: EMImage, model: str | Path | None, *, tile: int | None,
                          progress: ProgressCallback | None = None,
                          cancel: threading.Event | None = None) -> EMImage:
    """Restore ``image``, reporting tiles done and stopping when ``cancel`` is set.

    Parameters
    ----------
    image : EMImage
        Image or series (restored frame by frame).
    model : str, Path or None
        Shipped tag, ``.onnx`` path, or ``None`` for the automatic choice.
    tile : int or None
        Tile edge [px] (``0``: whole image; ``None``: the library's default, 1024).
    progress : callable, optional
        ``progress(done, total, model_name)`` after loading (done = 0) and after each
        network call.
    cancel : threading.Event, optional
        Set it to stop; :class:`RestoreCancelled` is raised at the next tile batch.

    Returns
    -------
    EMImage
        The restoration, calibration kept, ``metadata["restoration"]`` the record of
        model, settings and (for the automatic choice) its reason.
    """
    chosen, choice = resolve_choice(image, model)
    restorer = load_model(chosen, tile=tile, progress=False)
    total = restorer.tile_count(image.shape)
    done = 0
    if progress is not None:
        progress(0, total, restorer.info.name)

    def on_tiles(finished: int) -> None:
        nonlocal done
        if cancel is not None and cancel.is_set():
            raise RestoreCancelled("The restoration was cancelled.", "Press Restore to start again.")
        done += finished
        if progress is not None:
            progress(done, total, restorer.info.name)

    return restorer.restore_image(image, choice, on_tiles=on_tiles)

"""The models the web app offers, which one an image gets, and the restorers kept loaded."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ..errors import EMRestoreError, ParameterError
from ..image import EMImage
from ..model.registry import ModelInfo, find_model, shipped_models
from ..restoration.choose import ModelChoice, choose_model_tag
from ..restoration.engine import Restorer
from ..tags import Tag
from .errors import WebError

#: Restorers (model + tile size, each an inference session) kept loaded.
RESTORER_CACHE_SIZE = 4


def model_set(models_dir: Path | None = None) -> dict[str, ModelInfo]:
    """The models the server offers: the shipped ones plus those in ``models_dir``.

    Parameters
    ----------
    models_dir : Path, optional
        Folder of ``.onnx`` models (each with an optional ``.json`` card). A model named
        like a shipped tag (``hrstem.onnx``) replaces the shipped one; others are added
        under their file stem.

    Raises
    ------
    EMRestoreError
        If ``models_dir`` is not a folder.
    """
    models = {info.name: info for info in shipped_models()}
    if models_dir is not None:
        folder = Path(models_dir).expanduser()
        if not folder.is_dir():
            raise EMRestoreError(f"The models folder {folder} does not exist.",
                                 "Pass a folder that holds .onnx models to --models-dir.")
        for path in sorted(folder.glob("*.onnx")):
            info = find_model(path)
            models[info.name] = info
    return models


def describe_model(info: ModelInfo) -> dict[str, Any]:
    """What ``GET /api/models`` says about one model (as ``emrestore models``, without server paths)."""
    described = {key: value for key, value in info.summary().items() if key != "file"}
    described["description"] = info.card.extra.get("description")
    return described


def no_models_error() -> WebError:
    """The 503 error of a server without any model."""
    return WebError(
        503,
        "This server has no restoration model installed.",
        "Start it with 'emrestore serve --models-dir FOLDER' pointing at a folder of .onnx models.",
    )


def choose_model(image: EMImage, models: dict[str, ModelInfo]) -> ModelChoice:
    """The model the server uses for ``image`` when the client names none.

    The tag :func:`~emrestore.restoration.choose.choose_model_tag` picks from the
    modality and pixel size; if that model is not installed, another model for the same
    modality (else any model) is used and the reason says so.

    Raises
    ------
    WebError
        503 if the server has no model at all.
    """
    if not models:
        raise no_models_error()
    choice = choose_model_tag(image)
    if choice.tag in models:
        return choice
    modality = Tag.get(choice.tag).modality
    same = [name for name, info in models.items() if info.modality == modality]
    fallback = (same or list(models))[0]
    return ModelChoice(
        tag=fallback,
        reason=f"{choice.reason}; the {choice.tag} model is not installed here, so {fallback} is used",
    )


class RestorerCache:
    """The loaded :class:`~emrestore.restoration.engine.Restorer` per (model name, tile size).

    At most ``size`` are kept; the least recently used is dropped (a job that still uses
    it keeps its own reference). Safe to use from several threads.

    Parameters
    ----------
    models : dict
        Model name → :class:`ModelInfo`.
    size : int
        Restorers kept loaded.

    Raises
    ------
    ParameterError
        If ``size`` is below 1.
    """

    def __init__(self, models: dict[str, ModelInfo], size: int = RESTORER_CACHE_SIZE) -> None:
        if size < 1:
            raise ParameterError(f"At least one restorer must be kept (got {size}).",
                                 "Use restorer_cache=1 or more.")
        self.models = models
        self.size = int(size)
        self._restorers: OrderedDict[tuple[str, int | None], Restorer] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model: str, tile: int | None) -> Restorer:
        """The restorer for model name ``model`` and tile edge ``tile`` [px] (loaded on first use)."""
        key = (model, tile)
        with self._lock:
            if key in self._restorers:
                self._restorers.move_to_end(key)
                return self._restorers[key]
            restorer = Restorer(self.models[model].onnx_path, tile=tile, progress=False)
            self._restorers[key] = restorer
            while len(self._restorers) > self.size:
                self._restorers.popitem(last=False)
            return restorer

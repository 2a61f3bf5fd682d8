"""The shipped models and how to load one (by tag or by path).

A model is an ONNX file plus a model card (JSON, same name, ``.json``) with at least
``tag`` and ``modality``, and the input geometry the network needs. Shipped models
live in ``emrestore/models/`` inside the package; nothing is downloaded at run time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..datasets.registry import TAGS
from ..errors import EMRestoreError, InputNotFoundError, ParameterError
from ..io.fingerprint import file_sha256

#: Folder of the shipped models (inside the installed package).
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


@dataclass
class ModelInfo:
    """A restoration model on disk.

    Parameters
    ----------
    name : str
        Tag for shipped models (``"hrstem"``), else the file stem.
    onnx_path : Path
        The ONNX graph.
    card : dict
        The model card (config, data, training, validation metrics...).
    """

    name: str
    onnx_path: Path
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.card.get("tag")

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this [px]."""
        return int(self.card.get("size_multiple", 4))

    @property
    def input_clip_percent(self) -> float:
        """Percent of pixels clipped at each end of a frame before the model (0 = none)."""
        from ..conditioning import MAX_CLIP_PERCENT

        value = self.card.get("input_clip_percent", 0.0)
        if (not isinstance(value, (int, float)) or isinstance(value, bool)
                or not 0.0 <= value <= MAX_CLIP_PERCENT):
            raise ParameterError(
                f"The model card of {self.name} has input_clip_percent={value!r}, not a number in "
                f"[0, {MAX_CLIP_PERCENT}].",
                "Re-export the model with `emrestore export`, or fix the value in its .json card.",
            )
        return float(value)

    @property
    def theoretical_receptive_px(self) -> int | None:
        """Theoretical receptive radius [px] from the card's generator config (None: unknown)."""
        config = (self.card.get("generator") or {}).get("config")
        if not isinstance(config, dict):
            return None
        from .receptive import theoretical_radius

        try:
            return theoretical_radius(config)
        except (EMRestoreError, TypeError, ValueError):
            return None

    @property
    def receptive_field_px(self) -> int | None:
        """Context [px] a tile needs beyond each output pixel to agree with the whole frame.

        The card's measured ``receptive_field_px`` (within ``receptive_field.tolerance_of_std``
        of the frame's std); for a card written before it was measured, the theoretical radius
        of its generator config (exact, but larger); None for a model of unknown architecture.
        """
        value = self.card.get("receptive_field_px")
        if value is None:
            return self.theoretical_receptive_px
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ParameterError(
                f"The model card of {self.name} has receptive_field_px={value!r}, not an integer ≥ 0.",
                "Re-export the model with `emrestore export`, or fix the value in its .json card.",
            )
        return value

    @property
    def torch_path(self) -> Path:
        """Where PyTorch weights for this model would be (``<stem>.pt``)."""
        return self.onnx_path.with_suffix(".pt")

    def sha256(self) -> str:
        """SHA-256 of the ONNX file (for provenance)."""
        return file_sha256(self.onnx_path)

    def summary(self) -> dict[str, Any]:
        """One line of ``emrestore models --json``."""
        card = self.card
        return {
            "name": self.name,
            "tag": card.get("tag"),
            "modality": card.get("modality"),
            "config": card.get("config_name") or (card.get("config") or {}).get("name"),
            "parameters": card.get("parameters"),
            "pixel_size_nm": card.get("pixel_size_nm"),
            "receptive_field_px": card.get("receptive_field_px"),
            "validation": card.get("validation"),
            "file": str(self.onnx_path),
            "size_mb": round(self.onnx_path.stat().st_size / 1e6, 2),
        }


def _load_card(onnx_path: Path) -> dict[str, Any]:
    card_path = onnx_path.with_suffix(".json")
    if not card_path.is_file():
        return {}
    try:
        return json.loads(card_path.read_text())
    except json.JSONDecodeError as error:
        raise EMRestoreError(
            f"The model card {card_path.name} is not valid JSON ({error}).",
            "Re-export the model or restore the card from the package.",
        ) from error


def shipped_models() -> list[ModelInfo]:
    """The models shipped inside the package, in tag order."""
    found = []
    for tag in TAGS:
        path = MODELS_DIR / f"{tag}.onnx"
        if path.is_file():
            found.append(ModelInfo(name=tag, onnx_path=path, card=_load_card(path)))
    return found


def find_model(model: str | Path) -> ModelInfo:
    """Resolve a shipped tag or a path to an ``.onnx`` file.

    Raises
    ------
    ParameterError
        Unknown tag, or a tag whose model is not shipped in this version.
    InputNotFoundError
        A path that does not exist.
    """
    text = str(model)
    if text in TAGS:
        path = MODELS_DIR / f"{text}.onnx"
        if not path.is_file():
            shipped = ", ".join(m.name for m in shipped_models()) or "none yet"
            raise ParameterError(
                f"The model {text!r} is not shipped in this version of emrestore (shipped: {shipped}).",
                "Pass the path of an .onnx model exported with 'emrestore export', or choose a shipped model.",
            )
        return ModelInfo(name=text, onnx_path=path, card=_load_card(path))
    path = Path(model).expanduser()
    if path.suffix.lower() != ".onnx":
        if not path.suffix and text.isidentifier():
            raise ParameterError(
                f"Unknown model {text!r}.",
                f"Use one of {', '.join(TAGS)} or the path of an .onnx file.",
            )
        raise ParameterError(f"{path.name} is not an .onnx model file.",
                             "Pass a model tag or an .onnx file exported with 'emrestore export'.")
    if not path.is_file():
        raise InputNotFoundError(f"Model file {path} does not exist.", "Check the path.")
    return ModelInfo(name=path.stem, onnx_path=path, card=_load_card(path))

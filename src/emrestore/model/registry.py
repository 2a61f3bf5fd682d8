"""The shipped models and how to find one (by tag or by path).

A model is an ONNX file plus its model card (:class:`~emrestore.model.card.ModelCard`, JSON,
same name, ``.json``). Shipped models live in ``emrestore/models/`` inside the package, one per
tag (:mod:`emrestore.tags`); nothing is downloaded at run time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputNotFoundError, ParameterError
from ..io.fingerprint import file_sha256
from ..tags import TAG_NAMES, Tag
from .card import ModelCard

__all__ = ["ModelInfo", "MODELS_DIR", "shipped_models", "find_model", "load_card"]

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
    card : ModelCard
        The model card (config, data, training, validation metrics...); empty for a graph
        that came without one.
    """

    name: str
    onnx_path: Path
    card: ModelCard = field(default_factory=ModelCard)

    @property
    def tag(self) -> str | None:
        return self.card.tag

    @property
    def modality(self) -> str | None:
        """The card's modality; else that of the card's tag, or of the name if it is a tag."""
        if self.card.modality is not None:
            return self.card.modality
        tag = self.card.tag or self.name
        return Tag.get(tag).modality if tag in TAG_NAMES else None

    @property
    def size_multiple(self) -> int:
        """The body's down-sampling factor [px]: tilers pad to multiples of it."""
        return self.card.size_multiple

    @property
    def input_clip_percent(self) -> float:
        """Percent of pixels clipped at each end of a frame before the model (0 = none)."""
        return self.card.input_clip_percent

    @property
    def theoretical_receptive_px(self) -> int | None:
        """Theoretical receptive radius [px] from the card's generator config (None: unknown)."""
        return self.card.theoretical_receptive_px

    @property
    def receptive_field_px(self) -> int | None:
        """Context [px] a tile needs beyond each output pixel (:attr:`ModelCard.context_px`)."""
        return self.card.context_px

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
            "tag": card.tag,
            "modality": card.modality,
            "config": card.config_name,
            "parameters": card.parameters,
            "pixel_size_nm": card.pixel_size_nm,
            "receptive_field_px": card.receptive_field_px,
            "validation": card.validation,
            "file": str(self.onnx_path),
            "size_mb": round(self.onnx_path.stat().st_size / 1e6, 2),
        }


def load_card(onnx_path: Path) -> ModelCard:
    """The card next to ``onnx_path`` (``.json``); an empty card if there is none."""
    card_path = Path(onnx_path).with_suffix(".json")
    return ModelCard.load(card_path) if card_path.is_file() else ModelCard()


def shipped_models() -> list[ModelInfo]:
    """The models shipped inside the package, in tag order."""
    found = []
    for tag in TAG_NAMES:
        path = MODELS_DIR / f"{tag}.onnx"
        if path.is_file():
            found.append(ModelInfo(name=tag, onnx_path=path, card=load_card(path)))
    return found


def find_model(model: str | Path) -> ModelInfo:
    """Resolve a shipped tag or a path to an ``.onnx`` file.

    Raises
    ------
    ParameterError
        Unknown tag, a tag whose model is not shipped in this version, or a bad model card.
    InputNotFoundError
        A path that does not exist.
    """
    text = str(model)
    if text in TAG_NAMES:
        path = MODELS_DIR / f"{text}.onnx"
        if not path.is_file():
            shipped = ", ".join(m.name for m in shipped_models()) or "none"
            raise ParameterError(
                f"The model {text!r} is not shipped in this version of emrestore (shipped: {shipped}).",
                "Pass the path of an .onnx model exported with 'emrestore export', or choose a shipped model.",
            )
        return ModelInfo(name=text, onnx_path=path, card=load_card(path))
    path = Path(model).expanduser()
    if path.suffix.lower() != ".onnx":
        if not path.suffix and text.isidentifier():
            raise ParameterError(
                f"Unknown model {text!r}.",
                f"Use one of {', '.join(TAG_NAMES)} or the path of an .onnx file.",
            )
        raise ParameterError(f"{path.name} is not an .onnx model file.",
                             "Pass a model tag or an .onnx file exported with 'emrestore export'.")
    if not path.is_file():
        raise InputNotFoundError(f"Model file {path} does not exist.", "Check the path.")
    return ModelInfo(name=path.stem, onnx_path=path, card=load_card(path))

"""The model card: the JSON file next to a model's ONNX graph, read and written as a :class:`ModelCard`.

Format
------
``format`` is ``"emrestore-model-card/<version>"``; this is version :data:`CARD_FORMAT_VERSION`
(a card without ``format`` is read as version 1). The fields, in the order they are written:

``format``, ``created_utc``, ``name``, ``tag``, ``modality`` ("tem", "stem" or "sem"),
``config_name`` (the generator preset), ``parameters``, ``size_multiple`` (the body's
down-sampling factor [px]; the graph pads any size itself, tilers may pad to it),
``receptive_field_px`` (context [px] a tile needs beyond each output pixel to agree with a
whole-frame pass within ``receptive_field.tolerance_of_std`` of the frame's std; the restore
engine's overlap follows from it) and ``receptive_field`` (how it was measured:
:mod:`emrestore.model.receptive`), ``pixel_size_nm`` (null: not fixed by training),
``input_clip_percent`` (:mod:`emrestore.model.conditioning`), ``emrestore_version``,
``torch_version``, ``generator`` (``architecture``, ``config``, ``parameters``,
``gflop_per_256x256``), ``io`` (the input/output contract in words), ``training`` (full
``config``, ``seed``, ``steps``, ``pairs_seen``, ``wall_time_s``, ``world_size``,
``git_commit``, ``git_dirty``, ``hardware``), ``data`` (source; for a bank its size, seed and
the command that regenerates it), ``validation`` (metrics of the model and of the degraded
input on the fixed validation set), ``onnx`` (file, sha256, opset, the graph's input and output
names — :class:`OnnxSignature` — and ``max_abs_diff`` against PyTorch), ``uncertainty`` (the
uncertainty map's calibration for this model:
:mod:`emrestore.restoration.uncertainty.calibration`). Any other section
(``finetune``, ``description``...) is kept as it is.

Only the fields the code relies on are checked on load; a bad one raises
:class:`~emrestore.errors.ParameterError` naming the field, its value and the fix.
"""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import EMRestoreError, ParameterError
from ..image import MODALITIES
from .conditioning import MAX_CLIP_PERCENT

__all__ = ["ModelCard", "OnnxSignature", "EXPORTED_SIGNATURE", "CARD_FORMAT", "CARD_FORMAT_VERSION"]

#: The card format this version writes and the newest it reads.
CARD_FORMAT_VERSION = 1
#: The ``format`` field of the cards this version writes.
CARD_FORMAT = f"emrestore-model-card/{CARD_FORMAT_VERSION}"
_FORMAT_PATTERN = re.compile(r"emrestore-model-card/(\d+)")
_FIX = "Re-export the model with `emrestore export`, or fix the value in its .json card."


@dataclass(frozen=True)
class OnnxSignature:
    """Names of a model graph's inputs and output.

    Parameters
    ----------
    image : str
        Input (N, 1, H, W) float32: raw intensities.
    stats : str or None
        Input (N, 2) float32: the (mean, std) [input units] to normalise with; None for a graph
        that normalises each input by its own statistics.
    restored : str
        Output (N, 1, H, W) float32, in the input's units.
    stats_width : int
        Columns of ``stats``: 2, or 3 for a noise-conditioned network, whose third column is
        the frame's noise level (:func:`emrestore.model.conditioning.noise_level`).
    """

    image: str
    stats: str | None
    restored: str
    stats_width: int = 2

    def card_entries(self) -> dict[str, Any]:
        """The ``input``, ``stats_input`` and ``output`` entries of a card's ``onnx`` section."""
        image = ["batch", 1, "height", "width"]
        return {
            "input": {"name": self.image, "shape": image, "dtype": "float32"},
            "stats_input": ({"name": self.stats, "shape": ["batch", self.stats_width], "dtype": "float32",
                             "meaning": "mean, std [input units]" + (
                                 ", noise level [frame std] (emrestore.model.conditioning.noise_level)"
                                 if self.stats_width == 3 else "")} if self.stats is not None else None),
            "output": {"name": self.restored, "shape": image, "dtype": "float32"},
        }

    @classmethod
    def from_card(cls, onnx: dict[str, Any]) -> OnnxSignature | None:
        """The names a card's ``onnx`` section records; None if it records none."""
        try:
            image, restored = onnx["input"]["name"], onnx["output"]["name"]
            stats = onnx.get("stats_input")
            width = 2 if stats is None else int((stats.get("shape") or ["batch", 2])[1])
            return cls(str(image), None if stats is None else str(stats["name"]), str(restored), width)
        except (KeyError, TypeError):
            return None

    @classmethod
    def by_position(cls, inputs: list[str], outputs: list[str]) -> OnnxSignature:
        """For a graph whose card names nothing: the first input and output, a second input as stats."""
        return cls(inputs[0], inputs[1] if len(inputs) > 1 else None, outputs[0])


#: The names :func:`emrestore.training.export_onnx` gives the graph.
EXPORTED_SIGNATURE = OnnxSignature(image="image", stats="stats", restored="restored")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


#: Checks of the typed fields: (test of a present, non-null value, what it must be).
_CHECKS: dict[str, tuple[Any, str]] = {
    "name": (lambda v: isinstance(v, str), "a string"),
    "tag": (lambda v: isinstance(v, str), "a string"),
    "modality": (lambda v: v in MODALITIES, f"one of {', '.join(MODALITIES)}"),
    "config_name": (lambda v: isinstance(v, str), "a string"),
    "parameters": (lambda v: _is_int(v) and v >= 0, "an integer ≥ 0"),
    "size_multiple": (lambda v: _is_int(v) and v >= 1, "an integer ≥ 1"),
    "receptive_field_px": (lambda v: _is_int(v) and v >= 0, "an integer ≥ 0"),
    "pixel_size_nm": (lambda v: _is_number(v) and v > 0, "a number > 0 (or null)"),
    "input_clip_percent": (lambda v: _is_number(v) and 0.0 <= v <= MAX_CLIP_PERCENT,
                           f"a number in [0, {MAX_CLIP_PERCENT}]"),
}
_SECTIONS = ("receptive_field", "generator", "io", "training", "data", "validation", "onnx", "uncertainty")


@dataclass(frozen=True)
class ModelCard:
    """A model card (see the module docstring for the fields).

    Every field is optional: a graph exported elsewhere may come with a partial card or none.
    The sections (``generator``, ``training``, ...) are dicts as written; ``extra`` holds the
    sections this version does not interpret, in their order.
    """

    format_version: int = CARD_FORMAT_VERSION
    created_utc: str | None = None
    name: str | None = None
    tag: str | None = None
    modality: str | None = None
    config_name: str | None = None
    parameters: int | None = None
    size_multiple: int = 4
    receptive_field_px: int | None = None
    receptive_field: dict[str, Any] | None = None
    pixel_size_nm: float | None = None
    input_clip_percent: float = 0.0
    emrestore_version: str | None = None
    torch_version: str | None = None
    generator: dict[str, Any] | None = None
    io: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None
    onnx: dict[str, Any] | None = None
    uncertainty: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "the model card") -> ModelCard:
        """Check and type a card read from JSON.

        Parameters
        ----------
        values : dict
            The card's fields.
        source : str
            What the card is, for error messages (e.g. ``"the model card hrstem.json"``).

        Raises
        ------
        ParameterError
            A field of the wrong type or out of range, or a format newer than this version reads.
        """
        if not isinstance(values, dict):
            raise ParameterError(f"{source} is not a JSON object.", _FIX)
        values = dict(values)
        version = _format_version(values.pop("format", None), source)
        typed: dict[str, Any] = {"format_version": version}
        for key, (valid, rule) in _CHECKS.items():
            if values.get(key) is not None and not valid(values[key]):
                raise ParameterError(f"{source} has {key}={values[key]!r}, not {rule}.", _FIX)
        for key in _SECTIONS:
            if values.get(key) is not None and not isinstance(values[key], dict):
                raise ParameterError(f"{source} has a {key} section that is not a JSON object "
                                     f"({type(values[key]).__name__}).", _FIX)
        names = {f.name for f in fields(cls)} - {"format_version", "extra"}
        for key in [k for k in values if k in names]:
            value = values.pop(key)
            if value is not None or key not in ("size_multiple", "input_clip_percent"):
                typed[key] = value
        if "input_clip_percent" in typed:
            typed["input_clip_percent"] = float(typed["input_clip_percent"])
        return cls(**typed, extra=values)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ModelCard:
        """Read and check the card at ``path`` (see :meth:`from_dict`).

        Raises
        ------
        EMRestoreError
            The file is not valid JSON.
        ParameterError
            A field is bad (:meth:`from_dict`).
        """
        path = Path(path)
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise EMRestoreError(
                f"The model card {path.name} is not valid JSON ({error}).",
                "Re-export the model or restore the card from the package.",
            ) from error
        return cls.from_dict(values, source=f"The model card {path.name}")

    # ------------------------------------------------------------------ writing
    def to_dict(self) -> dict[str, Any]:
        """The card as JSON-ready fields, in the written order (a deep copy)."""
        out: dict[str, Any] = {"format": f"emrestore-model-card/{self.format_version}"}
        for f in fields(self):
            if f.name not in ("format_version", "extra"):
                out[f.name] = getattr(self, f.name)
        out.update(self.extra)
        return copy.deepcopy(out)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the card as indented JSON, atomically; returns ``path``."""
        from ..io.atomic import atomic_path

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as temp:
            Path(temp).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False, default=str) + "\n",
                                  encoding="utf-8")
        return path

    # ------------------------------------------------------------------ the contract
    @property
    def onnx_signature(self) -> OnnxSignature | None:
        """The graph's input and output names as the card records them (None: not recorded)."""
        return OnnxSignature.from_card(self.onnx) if self.onnx is not None else None

    @property
    def theoretical_receptive_px(self) -> int | None:
        """Theoretical receptive radius [px] of the ``generator`` config (None: unknown architecture)."""
        config = (self.generator or {}).get("config")
        if not isinstance(config, dict):
            return None
        from .receptive import theoretical_radius

        try:
            return theoretical_radius(config)
        except (EMRestoreError, TypeError, ValueError):
            return None

    @property
    def context_px(self) -> int | None:
        """Context [px] a tile needs beyond each output pixel to agree with the whole frame.

        The measured ``receptive_field_px``; for a card written before it was measured, the
        theoretical radius of its generator config (exact, but larger); None for a model of
        unknown architecture.
        """
        return self.receptive_field_px if self.receptive_field_px is not None else self.theoretical_receptive_px

    def tile_error_of_std(self, context_px: int) -> float | None:
        """Largest tile-vs-whole difference [fraction of the std] the card measured with
        ``context_px`` px of context (the nearest measured distance below), if recorded."""
        table = (self.receptive_field or {}).get("max_error_of_std_beyond_px")
        if not isinstance(table, dict):
            return None
        below = [(int(d), float(e)) for d, e in table.items() if str(d).isdigit() and int(d) <= context_px]
        return max(below)[1] if below else None


def _format_version(value: Any, source: str) -> int:
    """The version number of a card's ``format`` field (1 when absent)."""
    if value is None:
        return 1
    match = _FORMAT_PATTERN.fullmatch(str(value))
    if match is None:
        raise ParameterError(f"{source} has format={value!r}, not 'emrestore-model-card/<version>'.", _FIX)
    version = int(match.group(1))
    if not 1 <= version <= CARD_FORMAT_VERSION:
        raise ParameterError(
            f"{source} has format version {version}; this emrestore reads versions 1 to {CARD_FORMAT_VERSION}.",
            "Upgrade emrestore (pip install -U emrestore), or re-export the model with this version.")
    return version

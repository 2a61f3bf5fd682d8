"""Sizes of the CGRDN generator and the PatchGAN discriminator, and the named presets.

The configuration objects are plain frozen dataclasses (no torch), so that model cards and
training configs can be read and validated without PyTorch installed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import ParameterError

__all__ = [
    "STD_EPS",
    "GeneratorConfig",
    "DiscriminatorConfig",
    "GENERATOR_PRESETS",
    "generator_config",
    "generator_parameter_count",
    "generator_gflop",
]

#: Smallest std the network normalises an image by (flat or empty images) [input units]; the
#: exported graph clamps to it and :func:`emrestore.model.conditioning.frame_stats` uses it too.
STD_EPS = 1e-6


@dataclass(frozen=True)
class GeneratorConfig:
    """Sizes of a CGRDN (Concatenated Grouped Residual Dense Network).

    Parameters
    ----------
    groups : int
        Number of grouped blocks G in the body (each ends in a 1×1 fusion + residual).
    blocks : int
        Residual dense blocks B per group.
    layers : int
        Dense layers L per residual dense block.
    growth : int
        Channels each dense layer adds (its 3×3 conv output) [channels].
    channels : int
        Feature channels of the stem, body and fusions [channels].
    downsample : {2, 4}
        Resolution factor of the body. 2: 4×4 conv with stride 2 in, 4×4 transposed conv
        with stride 2 out (the paper). 4: pixel-unshuffle by 4 + 1×1 conv in, 1×1 conv +
        pixel-shuffle by 4 out (≈ 4× fewer FLOPs for the same weights).
    name : str
        Label used in logs and model cards ("custom" for unnamed sizes).
    noise_conditioned : bool
        Tell the network the frame's noise level (:func:`emrestore.model.conditioning.noise_level`):
        a learned vector times ``log10(level)`` is added to the features at the body's input,
        before each group and before the up-sampling, and the features before the
        up-sampling are gated per channel by ``2·sigmoid(w·log10(level) + b)``
        (``channels × (groups + 4)`` weights, zero at initialisation, so a conditioned copy of
        a trained network starts as that network). Not part of the size: a preset keeps its name.
    refine : int
        Channels of a full-resolution refinement head (0: none): three 3×3 convolutions on the
        input and the body's restoration, whose output is added to it. The body works at
        1/``downsample`` resolution; the head lets pixel-sharp edges be kept where the body's
        correction is too coarse (docs/network.md, "What makes edges blur"). Its last
        convolution starts at zero, so a network with a head added starts as the network
        without it.
    """

    groups: int = 4
    blocks: int = 4
    layers: int = 8
    growth: int = 32
    channels: int = 64
    downsample: int = 2
    name: str = "custom"
    noise_conditioned: bool = False
    refine: int = 0

    def __post_init__(self) -> None:
        for key in ("groups", "blocks", "layers", "growth", "channels"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ParameterError(
                    f"Generator configuration field {key!r} is {value!r}; it must be a positive integer.",
                    f"Set {key} to an integer ≥ 1 (the paper uses "
                    f"{getattr(GeneratorConfig(), key) if key != 'name' else ''}).",
                )
        if not isinstance(self.refine, int) or isinstance(self.refine, bool) or self.refine < 0:
            raise ParameterError(
                f"Generator field 'refine' is {self.refine!r}; it must be an integer ≥ 0.",
                "Set refine = 0 (no head) or the head's channels, e.g. 32.",
            )
        if not isinstance(self.noise_conditioned, bool):
            raise ParameterError(
                f"Generator field 'noise_conditioned' is {self.noise_conditioned!r}; it must be true or false.",
                "Set noise_conditioned = true or false.",
            )
        if self.downsample not in (2, 4):
            raise ParameterError(
                f"Generator down-sampling factor is {self.downsample!r}; only 2 and 4 are implemented.",
                "Use downsample = 2 (strided conv, as in the paper) or 4 (pixel-unshuffle).",
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dictionary of the fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GeneratorConfig":
        """Build from a dictionary; unknown keys raise :class:`ParameterError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ParameterError(
                f"Unknown generator configuration field(s): {', '.join(unknown)}.",
                f"Use only {', '.join(sorted(known))}.",
            )
        return cls(**data)


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Sizes of the conditional PatchGAN discriminator.

    Parameters
    ----------
    base_channels : int
        Channels of the first 4×4 conv; the next ones double up to ``8 * base_channels``
        (64 → 128 → 256 → 512 → 1 in the paper).
    in_channels : int
        Input channels: the degraded image stacked with a target or a prediction (2).
    """

    base_channels: int = 64
    in_channels: int = 2

    def __post_init__(self) -> None:
        for key in ("base_channels", "in_channels"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ParameterError(
                    f"Discriminator field {key!r} is {value!r}; it must be a positive integer.",
                    "Use base_channels = 64 and in_channels = 2 (the paper) or smaller base_channels.",
                )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dictionary of the fields."""
        return asdict(self)


#: Named generator sizes. ``paper`` is the published network (7,035,521 parameters); the
#: others were measured on this project's 2-core CPU machine (see docs/network.md).
GENERATOR_PRESETS: dict[str, GeneratorConfig] = {
    "paper": GeneratorConfig(4, 4, 8, 32, 64, 2, name="paper"),
    "paper-x4": GeneratorConfig(4, 4, 8, 32, 64, 4, name="paper-x4"),
    "compact": GeneratorConfig(2, 3, 6, 24, 48, 2, name="compact"),
    "fast": GeneratorConfig(2, 3, 6, 24, 48, 4, name="fast"),
    "tiny": GeneratorConfig(2, 2, 4, 16, 32, 4, name="tiny"),
}


def generator_config(spec: "str | GeneratorConfig | dict[str, Any]") -> GeneratorConfig:
    """Resolve a preset name, a dictionary of fields or a config object into a config.

    Raises
    ------
    ParameterError
        For an unknown preset name or bad fields.
    """
    if isinstance(spec, GeneratorConfig):
        return spec
    if isinstance(spec, str):
        try:
            return GENERATOR_PRESETS[spec]
        except KeyError:
            raise ParameterError(
                f"Unknown generator configuration {spec!r}.",
                f"Use one of {', '.join(GENERATOR_PRESETS)} or a GeneratorConfig.",
            ) from None
    if isinstance(spec, dict):
        data = dict(spec)
        if "preset" in data:
            base = generator_config(str(data.pop("preset"))).to_dict()
            changed = any(base.get(k) != v for k, v in data.items() if k not in ("name", "noise_conditioned"))
            base.update(data)
            if changed and "name" not in data:
                base["name"] = "custom"
            data = base
        return GeneratorConfig.from_dict(data)
    raise ParameterError(
        f"Cannot build a generator configuration from {type(spec).__name__}.",
        "Pass a preset name (e.g. 'paper'), a dict of fields or a GeneratorConfig.",
    )


def generator_parameter_count(config: "str | GeneratorConfig") -> int:
    """Number of trainable parameters of the CGRDN with these sizes (closed form, no torch)."""
    c = generator_config(config)
    ch, g = c.channels, c.growth

    def conv(cin: int, cout: int, k: int) -> int:
        return cin * cout * k * k + cout

    total = conv(1, ch, 3)  # stem
    if c.downsample == 2:
        total += conv(ch, ch, 4) * 2  # strided conv down, transposed conv up
    else:
        total += conv(ch * 16, ch, 1) + conv(ch, ch * 16, 1)
    rdb = sum(conv(ch + g * k, g, 3) for k in range(c.layers)) + conv(ch + g * c.layers, ch, 1)
    total += c.groups * (c.blocks * rdb + conv(ch * c.blocks, ch, 1))
    total += conv(ch * c.groups, ch, 1)  # global concatenation fusion
    total += conv(ch, 1, 3)  # output
    if c.refine:
        total += conv(2, c.refine, 3) + conv(c.refine, c.refine, 3) + conv(c.refine, 1, 3)
    if c.noise_conditioned:
        total += ch * (c.groups + 2) + 2 * ch  # the noise-level vectors and gates
    return total


def generator_gflop(config: "str | GeneratorConfig", height: int = 256, width: int = 256) -> float:
    """Multiply-add count ×2 of one forward pass on a ``height`` × ``width`` image [GFLOP].

    Counts convolutions only (activations, additions and normalisation are negligible).
    """
    c = generator_config(config)
    ch, g = c.channels, c.growth
    full = height * width
    low = full / (c.downsample**2)

    def macs(cin: int, cout: int, k: int, pixels: float) -> float:
        return cin * cout * k * k * pixels

    total = macs(1, ch, 3, full) + macs(ch, 1, 3, full)
    if c.refine:
        total += macs(2, c.refine, 3, full) + macs(c.refine, c.refine, 3, full) + macs(c.refine, 1, 3, full)
    if c.downsample == 2:
        total += macs(ch, ch, 4, low) * 2  # strided conv at output res; transposed conv at input res
    else:
        total += macs(ch * 16, ch, 1, low) + macs(ch, ch * 16, 1, low)
    rdb = sum(macs(ch + g * k, g, 3, low) for k in range(c.layers)) + macs(ch + g * c.layers, ch, 1, low)
    total += c.groups * (c.blocks * rdb + macs(ch * c.blocks, ch, 1, low))
    total += macs(ch * c.groups, ch, 1, low)
    return 2.0 * total / 1e9

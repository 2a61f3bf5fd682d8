"""Parameter specifications and the :class:`Stage` base class.

Every distortion stage declares its physical parameters as :class:`Param` objects:
name (with the unit in it), default sampling range, the neutral value (at which the
stage does nothing) and the valid domain. The base class turns these into validation
on construction, a ``sample(rng, **fixed)`` classmethod that draws the free parameters
from the default ranges, and a flat ``parameters()`` dict that can be saved as JSON and
passed back to reproduce a stage exactly. Every random parameter is drawn by
:meth:`Param.draw` (optional ones through ``p_active``, a high tail through ``tail_p``,
chain-derived ones through ``derived``). A chain runs a stage through
:meth:`Stage.apply` on a :class:`ChainState`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal

import numpy as np

from ..errors import ParameterError

Kind = Literal["float", "int", "bool", "choice"]
Value = float | int | bool | str | None


@dataclass(frozen=True)
class Param:
    """One physical parameter of a stage.

    Parameters
    ----------
    name : str
        Parameter name, carrying its unit (``dose_e_per_px``, ``dwell_time_us``).
    kind : {"float", "int", "bool", "choice"}
        Value type. ``"choice"`` draws uniformly from ``choices``.
    doc : str
        One-line description with the unit.
    neutral : float, int, bool, str or None
        Value at which the stage leaves the image unchanged (the constructor default).
    low, high : float, optional
        Default sampling range (inclusive) for ``float`` and ``int`` parameters.
    log : bool
        Sample log-uniformly between ``low`` and ``high``.
    choices : tuple, optional
        Allowed values for ``choice`` (sampled uniformly), also the valid set.
    p_active : float
        Probability that a draw comes from the range; otherwise the draw is ``neutral``.
        For ``bool`` parameters: probability of ``True``.
    minimum, maximum : float, optional
        Valid domain (inclusive), enforced on every value given or drawn.
    allow_none : bool
        ``None`` is a valid value (e.g. "no ADC").
    tail_high : float, optional
        Upper end of a high tail of ``float`` draws: with probability ``tail_p`` (of the
        active draws) the value comes from ``[high, tail_high]`` (log-uniform when ``log``)
        instead of ``[low, high]`` — e.g. the near-clean, very high doses of a dose range.
    tail_p : float
        Probability of the tail (0: no tail).
    derived : bool
        The chain derives the value (from the clean image and other parameters) unless
        the caller fixes it; a draw gives ``None`` (needs ``allow_none``).
    """

    name: str
    kind: Kind
    doc: str
    neutral: Value
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None
    p_active: float = 1.0
    minimum: float | None = None
    maximum: float | None = None
    allow_none: bool = False
    tail_high: float | None = None
    tail_p: float = 0.0
    derived: bool = False

    # ------------------------------------------------------------------ sampling
    def draw(self, rng: np.random.Generator) -> Value:
        """Draw one value: the one way every random parameter is drawn.

        With probability ``1 − p_active`` the value is ``neutral`` (a ``bool`` is
        ``True`` with probability ``p_active``), with ``tail_p`` (of the active draws) it
        comes from the tail, and a ``derived`` parameter draws ``None``. Always consumes
        the same number of random numbers (two), whatever the outcome, so fixing one
        parameter never changes the draws of the others.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of randomness.
        """
        u_active, u_value = rng.random(2)
        active = bool(u_active < self.p_active)
        if self.kind == "bool":
            return active
        if self.derived:
            return None
        if not active:
            return self.neutral
        if self.kind == "choice":
            assert self.choices is not None
            return self.choices[min(int(u_value * len(self.choices)), len(self.choices) - 1)]
        assert self.low is not None and self.high is not None
        if self.kind == "int":
            return int(min(self.low + math.floor(u_value * (self.high - self.low + 1)), self.high))
        low, high = self.low, self.high
        if self.tail_high is not None and self.tail_p > 0:
            # one uniform number picks the part (main range or tail) and the value inside it
            if u_value < self.tail_p:
                low, high, u_value = self.high, self.tail_high, u_value / self.tail_p
            else:
                u_value = (u_value - self.tail_p) / (1.0 - self.tail_p)
        if self.log:
            return float(math.exp(math.log(low) + u_value * (math.log(high) - math.log(low))))
        return float(low + u_value * (high - low))

    def with_range(self, **changes: Any) -> "Param":
        """Return a copy with a different default range (e.g. per modality)."""
        return Param(**{**self.__dict__, **changes})

    # ---------------------------------------------------------------- validation
    def check(self, value: Any) -> Value:
        """Validate and coerce a value; raise :class:`ParameterError` if invalid.

        Parameters
        ----------
        value : object
            The value given by a caller (or drawn).

        Returns
        -------
        float, int, bool, str or None
            The value as a plain JSON-serialisable Python scalar.
        """
        if value is None:
            if self.allow_none:
                return None
            raise ParameterError(f"Parameter {self.name} cannot be None.", f"Give {self._domain()}.")
        if self.kind == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                return value.lower() in ("true", "1", "yes")
            if isinstance(value, (int, np.integer)) and value in (0, 1):
                return bool(value)
            raise ParameterError(
                f"Parameter {self.name} must be true or false, got {value!r}.",
                f"Give {self._domain()}.",
            )
        if self.kind == "choice":
            assert self.choices is not None
            if value == self.neutral and type(value) is type(self.neutral):
                return self.neutral
            for choice in self.choices:
                if value == choice and type(value) is not bool:
                    return choice
            try:
                if isinstance(self.choices[0], (int, float)) and not isinstance(value, bool):
                    number = float(value)
                    for choice in self.choices:
                        if number == choice:
                            return choice
            except (TypeError, ValueError):
                pass
            raise ParameterError(
                f"Parameter {self.name} = {value!r} is not allowed.", f"Give {self._domain()}."
            )
        try:
            if isinstance(value, bool):
                raise TypeError
            number = float(value)
        except (TypeError, ValueError):
            raise ParameterError(
                f"Parameter {self.name} must be a number, got {value!r}.", f"Give {self._domain()}."
            ) from None
        if not math.isfinite(number):
            raise ParameterError(
                f"Parameter {self.name} must be finite, got {value!r}.", f"Give {self._domain()}."
            )
        if (self.minimum is not None and number < self.minimum) or (
            self.maximum is not None and number > self.maximum
        ):
            raise ParameterError(
                f"Parameter {self.name} = {value!r} is out of its valid range.",
                f"Give {self._domain()}.",
            )
        if self.kind == "int":
            if number != round(number):
                raise ParameterError(
                    f"Parameter {self.name} must be an integer, got {value!r}.",
                    f"Give {self._domain()}.",
                )
            return int(round(number))
        return number

    def _domain(self) -> str:
        if self.kind == "bool":
            text = "true or false"
        elif self.kind == "choice":
            text = "one of " + ", ".join(repr(c) for c in self.choices or ())
        else:
            low = "-inf" if self.minimum is None else f"{self.minimum:g}"
            high = "inf" if self.maximum is None else f"{self.maximum:g}"
            text = f"a{'n integer' if self.kind == 'int' else ' number'} in [{low}, {high}]"
        return text + (" (or None)" if self.allow_none else "") + f" — {self.doc}"


class Stage:
    """Base class of a distortion stage (one physical effect).

    Subclasses are frozen dataclasses whose fields are their parameters (neutral
    values as defaults). ``PARAMS`` lists the parameters the stage owns (sampled by
    :meth:`sample`); ``SHARED`` names parameters owned by another stage of the same
    chain that this stage also reads (e.g. the conversion gain for dark current).
    """

    #: Human-readable stage name (used in figures and docs).
    NAME: ClassVar[str] = "stage"
    #: Parameters owned (and sampled) by this stage.
    PARAMS: ClassVar[tuple[Param, ...]] = ()
    #: Parameters owned by other stages that this stage reads.
    SHARED: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for spec in self.PARAMS:
            object.__setattr__(self, spec.name, spec.check(getattr(self, spec.name)))

    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        """Names of the parameters this stage owns."""
        return tuple(spec.name for spec in cls.PARAMS)

    @classmethod
    def draw_parameters(
        cls,
        rng: np.random.Generator,
        ranges: dict[str, Param] | None = None,
    ) -> dict[str, Value]:
        """Draw every owned parameter from its default range (no validation of fixed ones).

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of randomness.
        ranges : dict, optional
            Replacement :class:`Param` specs by name (per-modality ranges).
        """
        ranges = ranges or {}
        return {spec.name: ranges.get(spec.name, spec).draw(rng) for spec in cls.PARAMS}

    @classmethod
    def sample(cls, rng: np.random.Generator, **fixed: Any) -> "Stage":
        """Return a stage with parameters drawn from the default ranges.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of randomness for the parameters.
        **fixed
            Parameters to fix instead of drawing (also the shared ones this stage reads;
            shared parameters not given keep their neutral defaults).
        """
        own = cls.param_names()
        unknown = sorted(set(fixed) - set(own) - set(cls.SHARED))
        if unknown:
            raise ParameterError(
                f"Unknown parameter(s) {', '.join(unknown)} for stage {cls.NAME}.",
                f"Valid names: {', '.join(own + cls.SHARED)}.",
            )
        values = cls.draw_parameters(rng)
        values.update(fixed)
        return cls(**values)  # type: ignore[call-arg]

    def parameters(self) -> dict[str, Value]:
        """The owned parameters as a flat, JSON-serialisable dict."""
        return {spec.name: getattr(self, spec.name) for spec in self.PARAMS}

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Apply the stage to an image (float32 (H, W)); return a new array."""
        raise NotImplementedError

    def apply(self, state: "ChainState", rng: np.random.Generator) -> None:
        """Take part in a running chain: by default ``state.signal ← stage(state.signal, rng)``.

        Stages that do not map an image to an image (scan displacements, the scan
        renderer, the display stage acting on the pair) override this.
        """
        state.signal = self(state.signal, rng)


@dataclass
class ChainState:
    """What the stages of a running chain read and write (see :meth:`Stage.apply`).

    Parameters
    ----------
    clean : numpy.ndarray
        The normalised clean image (H, W), mean 1.
    signal : numpy.ndarray
        The image so far (H, W), in the unit of the last stage applied.
    target : numpy.ndarray, optional
        The expected, noise-free signal (H, W); set by the chain before the stages on
        the final image, ``None`` while acquisitions are made.
    row_start_us : callable, optional
        ``row_start_us(line_time_us)``: start time [µs] of every row of this
        acquisition for a line time [µs] (scanned chains); ``None``: one frame from t = 0.
    effects : list of Stage
        Displacement stages met so far in this acquisition; the next scan renderer
        applies them together.
    static : dict
        Displacements of ``STATIC`` scan effects, shared by all acquisitions of an image.
    """

    clean: np.ndarray
    signal: np.ndarray
    target: np.ndarray | None = None
    row_start_us: Callable[[float], np.ndarray] | None = None
    effects: list[Stage] = field(default_factory=list)
    static: dict = field(default_factory=dict)


@functools.cache
def stage_fields(cls: type) -> tuple[str, ...]:
    """All constructor fields of a stage dataclass (owned and shared)."""
    return tuple(f.name for f in fields(cls))


def as_float_image(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as a float32 2-D array (no copy if it already is)."""
    return np.asarray(image, dtype=np.float32)

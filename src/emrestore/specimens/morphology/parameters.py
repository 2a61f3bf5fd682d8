"""Checking and drawing the generators' parameters (ranges, choices, feature sizes)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ...errors import ParameterError

#: Decimals of the floats recorded in a specimen's parameters.
PARAM_DIGITS = 6

if TYPE_CHECKING:
    from .canvas import Canvas


def check_size(size: int) -> None:
    """Raise :class:`ParameterError` unless ``size`` is an integer ≥ 16."""
    if not isinstance(size, (int, np.integer)) or size < 16:
        raise ParameterError(
            f"Image size must be an integer of at least 16 px, got {size!r}.",
            "Pass e.g. size=256.",
        )


def check_range(name: str, value: float, lo: float, hi: float, unit: str = "") -> float:
    """Return ``float(value)`` if ``lo <= value <= hi``, else raise ParameterError."""
    u = f" {unit}" if unit else ""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number, got {value!r}.",
                             f"Pass a value in [{lo}, {hi}]{u}.") from None
    if not (np.isfinite(v) and lo <= v <= hi):
        raise ParameterError(f"{name}={value!r}{u} is outside [{lo}, {hi}]{u}.",
                             f"Pass a value in [{lo}, {hi}]{u}.")
    return v


def check_choice(name: str, value: str, choices: tuple[str, ...] | list[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ParameterError."""
    if value not in choices:
        raise ParameterError(f"Unknown {name} {value!r}.", f"Use one of: {', '.join(choices)}.")
    return value


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """Draw from a log-uniform distribution on [lo, hi] (lo, hi > 0)."""
    if hi <= lo:
        return float(lo)
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def feature_range_nm(canvas: Canvas, lo_nm: float, hi_nm: float, min_px: float = 4.0,
                     max_fraction: float = 0.35) -> tuple[float, float]:
    """Intersect a physical size range with what is visible on the canvas.

    Returns the range [nm] of feature sizes that are physically sensible
    (``lo_nm``–``hi_nm``) *and* span at least ``min_px`` pixels and at most
    ``max_fraction`` of the field of view. If the two do not overlap, the nearest
    physically sensible size is returned as a degenerate range.
    """
    lo = max(lo_nm, min_px * canvas.pixel_size_nm)
    hi = min(hi_nm, max_fraction * canvas.field_of_view_nm)
    if hi < lo:
        v = float(np.clip(np.sqrt(lo * hi), lo_nm, hi_nm))
        return v, v
    return lo, hi


def given_or_drawn(name: str, value: float | None, draw: Callable[[], float], lo: float,
                   hi: float, unit: str = "") -> float:
    """A parameter as given, or drawn when it is None, checked to lie in [lo, hi].

    Parameters
    ----------
    name : str
        Parameter name for the error message.
    value : float or None
        The caller's value; None draws one.
    draw : callable
        Draws a default value; called (consuming random numbers) only when ``value`` is None.
    lo, hi : float
        Valid range (inclusive), in ``unit``.
    unit : str
        Unit for the error message.

    Returns
    -------
    float
        The checked value.
    """
    return check_range(name, draw() if value is None else value, lo, hi, unit)


def given_or_chosen(name: str, value: str | None, rng: np.random.Generator,
                    choices: Sequence[str], p: Sequence[float] | None = None) -> str:
    """A choice as given, or drawn from ``choices`` (weights ``p``) when it is None or empty.

    Raises
    ------
    ParameterError
        If a given value is not one of ``choices`` (``name`` names it in the message).
    """
    value = value or str(rng.choice(choices, p=p))
    return check_choice(name, value, tuple(choices))


def feature_size_nm(canvas: Canvas, rng: np.random.Generator, name: str, value: float | None,
                    range_nm: tuple[float, float], min_px: float = 4.0,
                    max_fraction: float = 0.35) -> float:
    """A feature size [nm] as given, or log-uniform over what the canvas shows of ``range_nm``.

    Parameters
    ----------
    canvas : Canvas
        The canvas (pixel size and field of view decide the visible sizes).
    rng : numpy.random.Generator
        Random source (used only when ``value`` is None).
    name : str
        Parameter name for the error message.
    value : float or None
        The caller's size [nm]; None draws one (see :func:`feature_range_nm` for
        ``min_px`` and ``max_fraction``).
    range_nm : tuple of float
        Physically sensible sizes [nm]; also the valid range of a given value.

    Returns
    -------
    float
        The checked size [nm].
    """
    if value is None:
        value = log_uniform(rng, *feature_range_nm(canvas, *range_nm, min_px, max_fraction))
    return check_range(name, value, *range_nm, "nm")

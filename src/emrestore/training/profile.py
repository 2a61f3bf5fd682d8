"""Where a training invocation spends its wall time, and how its wall-time budget is kept (torch-free).

:class:`TimeProfile` splits the wall time of one :meth:`~emrestore.training.Trainer.fit` call
into phases (:data:`PHASES`): ``startup`` (from the start of the budget to the first batch
request: the command's imports and set-up when the CLI passes its start, the trainer's
construction, the validation set), ``data`` (the main process waiting for the next batch,
the first start of the DataLoader workers included), ``step`` (forward, backward and
optimiser steps), ``validation``, ``log`` (log rows, progress bar), ``checkpoint`` and
``export`` (ONNX, weights, model card). Whatever no phase covers is ``other``.

:class:`WallBudget` measures the seconds per loop iteration (after :data:`RATE_SKIP_STEPS`
warm-up iterations) and decides whether one more step still fits before the budget, with
the final validation and checkpoint reserved; it also gives the number of steps that fit,
which the progress bar shows instead of the schedule's length.

Both read time from a ``clock`` callable [s] (``time.perf_counter``), so tests drive them
with a fake clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "PHASES",
    "LOOP_PHASES",
    "RATE_SKIP_STEPS",
    "CHECKPOINT_BYTES_PER_S",
    "VALIDATION_STEP_RATIO",
    "TimeProfile",
    "WallBudget",
    "checkpoint_seconds_estimate",
    "steps_in_budget",
    "summary_line",
    "validation_seconds_estimate",
]

#: Phases of an invocation's wall time, in the order they are reported.
PHASES = ("startup", "data", "step", "validation", "log", "checkpoint", "export")
#: Phases of the training loop proper (the steady-state shares are taken over these).
LOOP_PHASES = ("data", "step", "log")
#: Loop iterations not used for the step rate: the first start of the DataLoader workers and
#: the first calls of each convolution (oneDNN/cuDNN set-up) make them slow.
RATE_SKIP_STEPS = 2
#: A validation batch (forward pass only) in training steps of the same batch, assumed until
#: a validation has been timed: ≈ 1/3 in FLOP (backward ≈ 2 forward); measured 0.35-0.63 for
#: `fast` at 1 thread on the 2-core development machine (8 × 128² lrsem pairs: 0.47-0.63 s
#: per validation batch, 1.1-1.4 s per step; the high end with the step sharing its core).
VALIDATION_STEP_RATIO = 0.75
#: Writing speed assumed for the final checkpoint until one has been timed [bytes/s]
#: (conservative: a `fast` run's 45 MB checkpoint takes ≈ 0.15 s on the development machine).
CHECKPOINT_BYTES_PER_S = 100e6


class TimeProfile:
    """Seconds spent in each phase of one training invocation.

    Parameters
    ----------
    clock : callable
        Returns the time [s] (monotonic).
    start_s : float, optional
        Clock reading at which the invocation began (default: now).
    """

    def __init__(self, clock: Callable[[], float], start_s: float | None = None) -> None:
        self.clock = clock
        self.start_s = clock() if start_s is None else float(start_s)
        self.seconds: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        self._steady: tuple[float, dict[str, float], int] | None = None
        self._steps = 0
        self._last_step_s = self.start_s

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Count the wall time of the ``with`` block in phase ``name`` (one of :data:`PHASES`)."""
        if name not in self.seconds:
            raise KeyError(f"unknown profile phase {name!r}; use one of {', '.join(PHASES)}")
        begin = self.clock()
        try:
            yield
        finally:
            self.seconds[name] += self.clock() - begin

    def count_since_start(self, name: str) -> None:
        """Count the time from the start to now in phase ``name`` (work done before the first phase)."""
        self.seconds[name] += max(self.clock() - self.start_s - sum(self.seconds.values()), 0.0)

    @property
    def steps_counted(self) -> int:
        """Loop iterations noted so far (:meth:`count_step`)."""
        return self._steps

    def count_step(self) -> None:
        """Note the end of one loop iteration (for the steady-state window and rate)."""
        self._steps += 1
        self._last_step_s = self.clock()

    def start_steady(self) -> None:
        """Begin the steady-state window (after the warm-up iterations); idempotent."""
        if self._steady is None:
            self._steady = (self.clock(), dict(self.seconds), self._steps)

    def report(self, pairs_per_step: int = 0) -> dict[str, Any]:
        """The profile so far.

        Parameters
        ----------
        pairs_per_step : int
            Pairs of one optimiser step over all processes (for the pairs/s).

        Returns
        -------
        dict
            ``wall_s`` (since the start), ``seconds`` and ``shares`` per phase (plus
            ``other``), and ``steady``: over the loop after the warm-up iterations, its
            ``steps``, ``wall_s``, ``shares`` of :data:`LOOP_PHASES` in that window's wall time
            (periodic validations and checkpoints inside it make up the rest),
            ``seconds_per_step`` and ``pairs_per_s`` (None until the window has a step).
        """
        now = self.clock()
        wall = max(now - self.start_s, 0.0)
        seconds = {k: round(v, 4) for k, v in self.seconds.items()}
        seconds["other"] = round(max(wall - sum(self.seconds.values()), 0.0), 4)
        out: dict[str, Any] = {
            "wall_s": round(wall, 4),
            "seconds": seconds,
            "shares": {k: _share(v, wall) for k, v in seconds.items()},
            "steady": None,
        }
        if self._steady is not None and self._steps > self._steady[2]:
            t0, before, steps0 = self._steady
            steps = self._steps - steps0
            window = max(self._last_step_s - t0, 0.0)  # ends with the last iteration
            loop = {k: self.seconds[k] - before[k] for k in LOOP_PHASES}
            out["steady"] = {
                "steps": steps,
                "wall_s": round(window, 4),
                "shares": {k: _share(loop[k], window) for k in LOOP_PHASES},
                "seconds_per_step": round(window / steps, 5),
                "pairs_per_s": round(pairs_per_step * steps / window, 4) if window > 0 else None,
            }
        return out


def _share(seconds: float, wall: float) -> float:
    return round(seconds / wall, 4) if wall > 0 else 0.0


def summary_line(report: dict[str, Any]) -> str:
    """One line for people: ``"wall 31.2 s: step 62 %, data 3 %, ..."`` (phases ≥ 0.5 %)."""
    parts = [f"{name} {100 * share:.0f} %" for name, share in report["shares"].items() if share >= 0.005]
    line = f"wall {report['wall_s']:.1f} s: " + ", ".join(parts)
    steady = report.get("steady")
    if steady:
        line += (f"; loop after warm-up: step {100 * steady['shares']['step']:.0f} %, "
                 f"data wait {100 * steady['shares']['data']:.0f} %")
        if steady.get("pairs_per_s") is not None:
            line += f", {steady['pairs_per_s']:.3g} pairs/s"
    return line


def steps_in_budget(seconds_per_step: float, remaining_s: float) -> int:
    """How many more steps of ``seconds_per_step`` [s] fit into ``remaining_s`` [s] (≥ 0)."""
    if seconds_per_step <= 0 or not math.isfinite(seconds_per_step):
        raise ValueError(f"seconds_per_step must be a positive finite number, not {seconds_per_step!r}")
    return max(int(remaining_s / seconds_per_step), 0)


def validation_seconds_estimate(validation_size: int, batch_size: int, seconds_per_step: float) -> float:
    """Wall time of a validation pass not yet timed [s]: :data:`VALIDATION_STEP_RATIO` of a
    training step per batch of ``batch_size`` pairs."""
    return math.ceil(validation_size / batch_size) * VALIDATION_STEP_RATIO * seconds_per_step


def checkpoint_seconds_estimate(state_bytes: int) -> float:
    """Wall time of writing a checkpoint of ``state_bytes`` [bytes] not yet timed [s]."""
    return state_bytes / CHECKPOINT_BYTES_PER_S


class WallBudget:
    """The wall-time budget of one invocation: step rate, time left, steps that fit.

    Parameters
    ----------
    budget_s : float
        The budget [s]; 0 = none (never out of time).
    start_s : float
        Clock reading at which the budget began [s].
    clock : callable
        Returns the time [s].
    """

    def __init__(self, budget_s: float, start_s: float, clock: Callable[[], float]) -> None:
        self.budget_s = float(budget_s)
        self.start_s = float(start_s)
        self.clock = clock
        self._iterations = 0
        self._measured_s = 0.0
        self._measured_n = 0
        self._last_s: float | None = None

    @property
    def active(self) -> bool:
        return self.budget_s > 0

    def elapsed(self) -> float:
        """Seconds since the budget began."""
        return self.clock() - self.start_s

    def remaining(self) -> float:
        """Seconds left of the budget (infinite without one)."""
        return self.budget_s - self.elapsed() if self.active else math.inf

    def observe(self, iteration_s: float) -> None:
        """Record the wall time [s] of one loop iteration (data wait + step + log row)."""
        self._iterations += 1
        self._last_s = float(iteration_s)
        if self._iterations > RATE_SKIP_STEPS:
            self._measured_s += float(iteration_s)
            self._measured_n += 1

    @property
    def seconds_per_step(self) -> float | None:
        """Mean iteration time after the warm-up [s]; the last iteration's before; None before any."""
        if self._measured_n:
            return self._measured_s / self._measured_n
        return self._last_s

    @property
    def rate_measured(self) -> bool:
        """Whether the step rate comes from iterations after the warm-up."""
        return self._measured_n > 0

    def next_step_fits(self, reserve_s: float) -> bool:
        """Whether one more iteration, then ``reserve_s`` [s] (final validation, checkpoint), fit."""
        if not self.active:
            return True
        step_s = self.seconds_per_step or 0.0
        return self.elapsed() + step_s + reserve_s <= self.budget_s

    def steps_that_fit(self, reserve_s: float, periodic_s_per_step: float = 0.0) -> int | None:
        """More steps that fit before the budget less ``reserve_s`` [s] (None: no budget or no rate).

        ``periodic_s_per_step`` [s] adds the share of periodic validations and checkpoints.
        """
        step_s = self.seconds_per_step
        if not self.active or not step_s:
            return None
        return steps_in_budget(step_s + periodic_s_per_step, self.remaining() - reserve_s)

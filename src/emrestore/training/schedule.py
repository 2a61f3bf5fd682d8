"""The learning-rate schedule and the pixel phase fitted to a wall-time budget (torch-free)."""

from __future__ import annotations

import math
from collections.abc import Callable

from ..errors import ParameterError

#: ``fit_schedule``: steps skipped before the step rate is measured (loader start-up, cuDNN
#: autotuning), and steps measured before the first fit.
FIT_SKIP_STEPS = 5
FIT_MIN_STEPS = 10
#: ``fit_schedule``: wall time kept for the final validation, checkpoint and export
#: [s, at least; 3 % of the budget when that is more].
FIT_RESERVE_S = 15.0


def lr_factor(step: int, total: int, warmup: int, decay: str, min_ratio: float) -> float:
    """Learning-rate multiplier at ``step`` (0-based) of ``total``: linear warm-up, then decay.

    Cosine decay goes from 1 to ``min_ratio`` over the steps after warm-up; exponential
    decay multiplies by a constant per step to reach ``min_ratio`` at the last step.
    """
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if decay == "none" or total - warmup <= 1:
        return 1.0
    progress = min(max((step - warmup) / (total - warmup - 1), 0.0), 1.0)
    if decay == "cosine":
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return min_ratio**progress


def fitted_pixel_steps(step: int, rate: float, remaining_s: float) -> int:
    """Length of the pixel phase that ends when the time left runs out.

    Parameters
    ----------
    step : int
        Steps done so far.
    rate : float
        Measured optimiser steps per second.
    remaining_s : float
        Wall time left for training steps [s] (budget minus elapsed minus a reserve for the
        final validation, checkpoint and export).

    Returns
    -------
    int
        ``step + rate × remaining_s``; ``step`` (end now) when no time is left.
    """
    return step + int(rate * max(remaining_s, 0.0))


def check_fit_schedule(budget_s: float, gan_steps: int) -> None:
    """Raise :class:`ParameterError` unless the schedule can be fitted to the budget.

    Parameters
    ----------
    budget_s : float
        Wall-time budget of the call [s] (0: none).
    gan_steps : int
        Steps of the adversarial phase (fitting covers the pixel phase only).
    """
    if budget_s <= 0:
        raise ParameterError("Fitting the schedule needs a wall-time budget, and none was given.",
                             "Pass --minutes M (or set [schedule] minutes).")
    if gan_steps > 0:
        raise ParameterError(
            f"Fitting the schedule covers the pixel phase only; this run has an adversarial "
            f"phase (gan_steps = {gan_steps}).",
            "Pass --gan-steps 0, or give pixel_steps yourself.")


class ScheduleFit:
    """Measures the step rate of a call and fits the pixel phase to its wall-time budget.

    Parameters
    ----------
    first_step : int
        Step at the start of the call.
    budget_s : float
        Wall-time budget of the call [s].
    start_time_s : float
        Clock reading at the start of the call [s].
    """

    def __init__(self, first_step: int, budget_s: float, start_time_s: float) -> None:
        self.first_step = first_step
        self.budget_s = budget_s
        self.start_time_s = start_time_s
        self.rate_origin: tuple[int, float] | None = None

    def pixel_steps(self, step: int, clock: Callable[[], float], log_every: int) -> int | None:
        """A new pixel-phase length after ``step``, or None when it is not time to fit.

        The rate is measured from :data:`FIT_SKIP_STEPS` steps on; the first fit comes
        :data:`FIT_MIN_STEPS` steps later, then one at every log row (``log_every``).
        ``clock`` gives the time [s] and is read only when needed.
        """
        done = step - self.first_step
        if done == FIT_SKIP_STEPS:
            self.rate_origin = (step, clock())
            return None
        first_fit = FIT_SKIP_STEPS + FIT_MIN_STEPS
        if self.rate_origin is None or done < first_fit or (done != first_fit and step % log_every):
            return None
        now = clock()
        rate = (step - self.rate_origin[0]) / max(now - self.rate_origin[1], 1e-9)
        remaining = (self.budget_s - (now - self.start_time_s)
                     - max(FIT_RESERVE_S, 0.03 * self.budget_s))
        return fitted_pixel_steps(step, rate, remaining)

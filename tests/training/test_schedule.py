"""The pixel phase fitted to a wall-time budget, from the step rate measured on a given clock."""

import pytest

from emrestore.errors import ParameterError
from emrestore.training.schedule import (
    FIT_MIN_STEPS,
    FIT_RESERVE_S,
    FIT_SKIP_STEPS,
    ScheduleFit,
    check_fit_schedule,
)


def test_fit_measures_after_the_skipped_steps_and_refits_at_log_rows():
    now = [0.0]
    fit = ScheduleFit(first_step=0, budget_s=100.0, start_time_s=0.0)
    fitted = {}
    for step in range(1, 41):
        now[0] = step * 0.5  # 2 steps/s
        steps = fit.pixel_steps(step, lambda: now[0], log_every=10)
        if steps is not None:
            fitted[step] = steps
    first = FIT_SKIP_STEPS + FIT_MIN_STEPS
    assert sorted(fitted) == [first, 20, 30, 40]
    # 2 steps/s over what is left of 100 s, less the 15 s reserve
    assert fitted[first] == first + int(2.0 * (100.0 - first * 0.5 - FIT_RESERVE_S))
    assert fitted[40] == 40 + int(2.0 * (100.0 - 20.0 - FIT_RESERVE_S))


def test_fit_needs_a_budget_and_no_adversarial_phase():
    check_fit_schedule(60.0, 0)
    with pytest.raises(ParameterError, match="wall-time budget"):
        check_fit_schedule(0.0, 0)
    with pytest.raises(ParameterError, match="gan_steps = 5"):
        check_fit_schedule(60.0, 5)

"""emrestore.web.job_queue: a bounded wait list, cancellation, and a close that never waits."""

from __future__ import annotations

import threading

import pytest

from emrestore.web.job_queue import JobQueue, QueueFull

TIMEOUT_S = 30  # only a stuck worker reaches it


def test_calls_run_and_the_wait_list_is_bounded():
    release = threading.Event()
    queue = JobQueue(workers=1, max_waiting=1)
    try:
        running = queue.submit(release.wait, TIMEOUT_S)
        waiting = queue.submit(lambda: 7)
        with pytest.raises(QueueFull):
            queue.submit(lambda: 8)
        assert queue.unfinished == 2
        release.set()
        assert running.result(TIMEOUT_S) is True and waiting.result(TIMEOUT_S) == 7
        failing = queue.submit(lambda: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            failing.result(TIMEOUT_S)
    finally:
        release.set()
        queue.close()


def test_a_waiting_call_can_be_cancelled_a_running_one_not():
    inside, release = threading.Event(), threading.Event()
    queue = JobQueue(workers=1, max_waiting=2)
    try:
        running = queue.submit(lambda: (inside.set(), release.wait(TIMEOUT_S)))
        waiting = queue.submit(lambda: "never")
        assert inside.wait(TIMEOUT_S)
        assert queue.cancel(waiting) and waiting.cancelled()
        assert not queue.cancel(running)
    finally:
        release.set()
        queue.close()


def test_close_cancels_the_waiting_calls_without_waiting_for_the_running_one():
    inside, release = threading.Event(), threading.Event()
    queue = JobQueue(workers=1, max_waiting=2)
    running = queue.submit(lambda: (inside.set(), release.wait(TIMEOUT_S)))
    waiting = queue.submit(lambda: "never")
    assert inside.wait(TIMEOUT_S)
    assert queue.close() == [waiting] and waiting.cancelled()
    assert not running.done()  # close returned while it still runs
    with pytest.raises(QueueFull):
        queue.submit(lambda: 1)
    release.set()
    assert running.result(TIMEOUT_S)[1] is True

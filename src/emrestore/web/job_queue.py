"""The worker threads that run restorations, with a bounded list of calls waiting for them."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

#: Default number of restorations that may wait for a worker.
DEFAULT_MAX_QUEUE = 8


class QueueFull(Exception):
    """The job queue holds as many waiting calls as allowed."""


class JobQueue:
    """Daemon worker threads that run submitted calls in order, with a bounded wait list.

    Unlike :class:`concurrent.futures.ThreadPoolExecutor`, whose threads the interpreter
    joins at exit, these threads never keep the process alive: stopping the server does
    not wait for a restoration in progress (it is cancelled between tiles instead).

    Parameters
    ----------
    workers : int
        Calls that run at the same time.
    max_waiting : int
        Calls that may wait for a free worker; :meth:`submit` raises :class:`QueueFull`
        beyond ``workers + max_waiting`` unfinished calls.
    """

    def __init__(self, workers: int, max_waiting: int) -> None:
        self.workers = int(workers)
        self.max_waiting = int(max_waiting)
        self._cond = threading.Condition()
        self._waiting: deque[tuple[Future, Callable[..., Any], tuple[Any, ...]]] = deque()
        self._busy = 0
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"emrestore-restore-{i}", daemon=True)
                         for i in range(self.workers)]
        for thread in self._threads:
            thread.start()

    @property
    def unfinished(self) -> int:
        """Calls running or waiting."""
        with self._cond:
            return self._busy + len(self._waiting)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Queue ``fn(*args)``; returns its future.

        Raises
        ------
        QueueFull
            If ``workers + max_waiting`` calls are unfinished, or the queue is closed.
        """
        with self._cond:
            if self._closed or self._busy + len(self._waiting) >= self.workers + self.max_waiting:
                raise QueueFull
            future: Future = Future()
            self._waiting.append((future, fn, args))
            self._cond.notify()
        return future

    def cancel(self, future: Future) -> bool:
        """Take a waiting call off the list (its future is cancelled); False if it already started."""
        with self._cond:
            for item in self._waiting:
                if item[0] is future:
                    self._waiting.remove(item)
                    break
            else:
                return False
        future.cancel()
        return True

    def close(self) -> list[Future]:
        """Refuse new calls, cancel the waiting ones (returned) and let the workers end; never waits."""
        with self._cond:
            self._closed = True
            left = [item[0] for item in self._waiting]
            self._waiting.clear()
            self._cond.notify_all()
        for future in left:
            future.cancel()
        return left

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                future, fn, args = self._waiting.popleft()
                self._busy += 1
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(*args))
                    except BaseException as error:  # noqa: BLE001 - handed to whoever waits
                        future.set_exception(error)
            finally:
                with self._cond:
                    self._busy -= 1

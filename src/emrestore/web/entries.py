"""One upload or one restoration the web app keeps: its id, its folder and its state."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Job states in which a job still needs (or holds) a worker.
ACTIVE_STATES = ("queued", "running")


@dataclass
class Entry:
    """One upload or one restoration: a folder of server-named files.

    Times are :func:`time.monotonic` seconds.
    """

    id: str
    folder: Path
    kind: str  # "upload" or "job"
    name: str  # sanitised stem of the client's file name (download names only)
    created: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)
    # uploads
    ext: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    # jobs
    upload_id: str = ""
    state: str = "queued"  # jobs: queued, running, done, error, cancelled; uploads: stored
    phase: str = ""  # running jobs: reading, restoring, saving
    frames: int = 1
    tiles_done: int = 0
    tiles_total: int = 0
    started: float | None = None
    finished: float | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    status: int = 200
    future: Future | None = field(default=None, repr=False)
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)
    file_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # a finished job's uncertainty map, while it is computed (on request)
    map_future: Future | None = field(default=None, repr=False)

    @property
    def upload_path(self) -> Path:
        """An upload's stored file (``upload.<ext>``)."""
        return self.folder / f"upload{self.ext}"

    def touch(self) -> None:
        """Mark the entry used now (it expires ``keep_seconds`` after its last use)."""
        self.last_used = time.monotonic()

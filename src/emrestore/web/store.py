"""What the web app keeps between requests: its entries (uploads and restorations), their
folders, and when they go.

Every upload and every restoration gets a random id and its own folder inside one
temporary folder owned by the server (:class:`~emrestore.web.entries.Entry`; the files in
it: :mod:`emrestore.web.results`). Entries not used for ``keep_seconds`` are deleted by a
background sweeper, and the whole folder is deleted when the server stops. The store ties
the parts together for the HTTP routes: uploads are read within the server's limits
(:mod:`emrestore.web.uploads`), restorations run as jobs on a few worker threads
(:mod:`emrestore.web.jobs`, :mod:`emrestore.web.job_queue`; at most ``max_queue`` wait,
more are refused with a 503), and a finished job's uncertainty map is computed when first
asked for (:mod:`emrestore.web.uncertainty`). Closing the store cancels every job and
deletes the folder without waiting for a running one.
"""

from __future__ import annotations

import atexit
import logging
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Any

from ..errors import ParameterError
from ..model.registry import ModelInfo
from .entries import ACTIVE_STATES, Entry
from .errors import WebError
from .job_queue import DEFAULT_MAX_QUEUE, JobQueue, QueueFull
from .jobs import check_request, job_status, mark_cancelled, run_restoration
from .models import RESTORER_CACHE_SIZE, RestorerCache, choose_model
from .results import (
    HSPY_FILE,
    SERVED_FILES,
    UNCERTAINTY_FILES,
    no_such_file,
    write_hspy,
)
from .uncertainty import compute_map, computed_map
from .uploads import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_READ_TIMEOUT_S,
    UploadReader,
    safe_stem,
    upload_extension,
    write_previews,
)

logger = logging.getLogger("emrestore.web")

_ID = re.compile(r"^[0-9a-f]{32}$")


class Store:
    """Uploads, jobs, their files and the worker threads that restore.

    Parameters
    ----------
    models : dict
        Model name → :class:`ModelInfo` (see :func:`~emrestore.web.models.model_set`).
    keep_seconds : float
        Entries unused for this long are deleted (with their files) [s].
    workers : int
        Restorations that may run at the same time.
    temp_dir : Path, optional
        Where to create the server's temporary folder (default: the system's).
    url_prefix : str
        Prefix of the file URLs handed to clients.
    max_pixels : int
        Largest image (all frames together) read from an upload [pixels].
    read_timeout_s : float
        Deadline for parsing one upload (in a child process) [s].
    max_queue : int
        Restorations that may wait for a worker; more get a 503.
    restorer_cache : int
        Loaded restorers (model, tile size) kept, least recently used dropped first.
    """

    def __init__(self, models: dict[str, ModelInfo], *, keep_seconds: float = 3600.0,
                 workers: int = 2, temp_dir: Path | None = None, url_prefix: str = "/api/files",
                 max_pixels: int = DEFAULT_MAX_PIXELS, read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
                 max_queue: int = DEFAULT_MAX_QUEUE, restorer_cache: int = RESTORER_CACHE_SIZE) -> None:
        if keep_seconds <= 0:
            raise ParameterError(f"The keep time must be positive (got {keep_seconds} s).",
                                 "Give a time such as 60 minutes.")
        if workers < 1:
            raise ParameterError(f"At least one worker is needed (got {workers}).", "Use --workers 1 or more.")
        self.reader = UploadReader(max_pixels, read_timeout_s)
        if max_queue < 0:
            raise ParameterError(f"The queue length cannot be negative (got {max_queue}).",
                                 "Use --max-queue 0 (no waiting) or more.")
        self.restorers = RestorerCache(models, restorer_cache)
        self.models = models
        self.keep_seconds = float(keep_seconds)
        self.workers = int(workers)
        self.max_pixels = self.reader.max_pixels
        self.read_timeout_s = self.reader.read_timeout_s
        self.max_queue = int(max_queue)
        self.root = Path(tempfile.mkdtemp(prefix="emrestore-web-", dir=temp_dir))
        # a last resort: an interpreter that exits without close() still deletes the folder
        self._atexit = lambda root=self.root: shutil.rmtree(root, ignore_errors=True)
        atexit.register(self._atexit)
        self.url_prefix = url_prefix
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()
        self._queue = JobQueue(workers, self.max_queue)
        self._closed = False
        self._stop = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="emrestore-sweeper", daemon=True)
        self._sweeper.start()

    # ------------------------------------------------------------------ entries
    def _new_entry(self, kind: str, name: str, **fields: Any) -> Entry:
        entry_id = secrets.token_hex(16)
        folder = self.root / entry_id
        folder.mkdir()
        entry = Entry(id=entry_id, folder=folder, kind=kind, name=name, **fields)
        with self._lock:
            self._entries[entry_id] = entry
        return entry

    def get(self, entry_id: str, kind: str | None = None) -> Entry:
        """The entry with ``entry_id`` (refreshing its keep time).

        Raises
        ------
        WebError
            404 if the id is malformed, unknown or expired.
        """
        with self._lock:
            entry = self._entries.get(entry_id) if _ID.match(entry_id or "") else None
        if entry is None or (kind is not None and entry.kind != kind):
            what = {"upload": "uploaded file", "job": "restoration"}.get(kind or "", "item")
            minutes = self.keep_seconds / 60
            raise WebError(404, f"This {what} does not exist or has expired "
                                f"(files are kept {minutes:.3g} minutes after their last use).",
                           "Upload the file again.")
        entry.touch()
        return entry

    def url(self, entry: Entry, filename: str) -> str:
        """The URL a client fetches ``filename`` of ``entry`` from."""
        return f"{self.url_prefix}/{entry.id}/{filename}"

    def file_path(self, entry_id: str, filename: str) -> tuple[Path, Entry]:
        """The path of a served file (made first if it is made on demand), or a 404 :class:`WebError`."""
        entry = self.get(entry_id)
        if filename not in SERVED_FILES:
            raise no_such_file(filename)
        finished = entry.kind == "job" and entry.state == "done"
        if finished and filename == HSPY_FILE:
            with entry.file_lock:
                write_hspy(entry.folder)
        elif finished and filename in UNCERTAINTY_FILES:
            self.uncertainty(entry)
        path = entry.folder / filename
        if not path.is_file():
            raise no_such_file(filename)
        return path, entry

    def remove(self, entry_id: str) -> None:
        """Forget an entry and delete its folder."""
        with self._lock:
            entry = self._entries.pop(entry_id, None)
        if entry is not None:
            shutil.rmtree(entry.folder, ignore_errors=True)

    # ------------------------------------------------------------------ expiry and closing
    def sweep(self) -> int:
        """Delete entries unused for ``keep_seconds`` (running jobs, and jobs whose uncertainty
        map is being computed, are kept with their uploads); return how many."""
        now = time.monotonic()
        with self._lock:
            active = {e.id for e in self._entries.values()
                      if e.state in ACTIVE_STATES or (e.map_future is not None and not e.map_future.done())}
            active |= {e.upload_id for e in self._entries.values() if e.id in active}
            old = [e.id for e in self._entries.values()
                   if now - e.last_used > self.keep_seconds and e.id not in active]
        for entry_id in old:
            self.remove(entry_id)
        if old:
            logger.info("deleted %d expired upload(s)/result(s)", len(old))
        return len(old)

    def _sweep_loop(self) -> None:
        interval = min(60.0, max(0.2, self.keep_seconds / 4))
        while not self._stop.wait(interval):
            try:
                self.sweep()
            except Exception:  # never let the sweeper die
                logger.exception("cleaning the temporary folder failed")

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def discard_if_closed(self) -> None:
        """After a worker's call: if the server stopped meanwhile, delete what it wrote."""
        if self._closed:
            shutil.rmtree(self.root, ignore_errors=True)

    def close(self) -> None:
        """Cancel every job, stop the workers and the sweeper, delete the temporary folder.

        Never waits for a running restoration: it is told to stop after its current tile,
        and its worker thread (a daemon) deletes whatever it still writes when it ends.
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        with self._lock:
            jobs = [e for e in self._entries.values() if e.kind == "job"]
        for job in jobs:
            job.cancel_event.set()
        self._queue.close()  # cancels the waiting jobs' futures
        for job in jobs:
            if job.state == "queued" and job.future is not None and job.future.cancelled():
                mark_cancelled(job, "the server stopped")
        with self._lock:
            self._entries.clear()
        shutil.rmtree(self.root, ignore_errors=True)
        atexit.unregister(self._atexit)

    # ------------------------------------------------------------------ uploads
    def add_upload(self, filename: str | None, save: Callable[[Path], None]) -> Entry:
        """Store an uploaded file, read it and render its preview.

        Parameters
        ----------
        filename : str
            The client's file name: only its (validated) extension and a sanitised stem
            are used.
        save : callable
            Writes the uploaded bytes to the given path.

        Returns
        -------
        Entry
            With ``info``: shape, frames, dtype, pixel size, unit, modality, the model
            chosen automatically and why, and the preview URL.

        Raises
        ------
        WebError
            415/400 for a file type that cannot be read, 413 for an image larger than
            :attr:`max_pixels` (or too slow or hungry to parse), 422 for a file that
            cannot be read as an image, 503 without models.
        """
        ext = upload_extension(filename)
        entry = self._new_entry("upload", safe_stem(filename), ext=ext, state="stored")
        try:
            save(entry.upload_path)
            image, notes = self.reader.read_with_notes(entry.upload_path, filename)
            shown = write_previews(image, entry.folder)
            choice = choose_model(image, self.models) if self.models else None
            entry.info = {
                "upload": entry.id,
                "name": safe_stem(filename) + ext,
                **image.summary(),
                "model": choice.tag if choice else None,
                "model_reason": choice.reason if choice else None,
                "input_png": self.url(entry, "input.png"),
                "input_f32": self.url(entry, "input.f32"),
                "input_display": shown,
                "notes": notes,
            }
        except BaseException:
            self.remove(entry.id)
            raise
        return entry

    # ------------------------------------------------------------------ restorations
    def submit(self, upload: Entry, model: str | None, tile: int | None) -> Entry:
        """Queue the restoration of an upload; returns the job entry at once.

        Raises
        ------
        WebError
            400 for an unknown model or a tile size outside 0 or
            [:data:`~emrestore.web.jobs.MIN_TILE_PX`, :data:`~emrestore.web.jobs.MAX_TILE_PX`],
            413 for an upload larger than :attr:`max_pixels`, 503 without models or when
            :attr:`max_queue` jobs already wait.
        """
        check_request(self.models, model, tile)
        self.reader.check_pixels(upload.info.get("name", "The upload"), upload.info.get("shape") or [])
        if self._closed:
            raise WebError(503, "The server is stopping.", "Start it again and upload the file again.")
        job = self._new_entry("job", upload.name, upload_id=upload.id)
        try:
            job.future = self._queue.submit(run_restoration, self, job, upload, model, tile)
        except QueueFull:
            self.remove(job.id)
            raise self._busy_error() from None
        return job

    def _busy_error(self) -> WebError:
        return WebError(
            503,
            f"The server is busy: {self._queue.workers} restoration(s) are running and {self.max_queue} more are "
            "waiting, as many as it queues.",
            "Try again in a minute, or cancel a restoration you no longer need "
            "(POST /api/jobs/<id>/cancel); whoever runs the server can raise --max-queue or --workers.",
            headers={"Retry-After": "30"},
        )

    def cancel(self, job: Entry) -> None:
        """Cancel a job: at once if it waits, after its current tile if it runs; no-op if finished."""
        if job.state not in ACTIVE_STATES:
            return
        job.cancel_event.set()
        if job.future is not None and self._queue.cancel(job.future):
            mark_cancelled(job, "by request")
        logger.info("restoration %s cancelled", job.id)

    def job_status(self, job: Entry) -> dict[str, Any]:
        """What ``GET /api/jobs/<id>`` returns."""
        return job_status(job)

    def uncertainty(self, job: Entry) -> dict[str, Any]:
        """The uncertainty map of a finished job: computed on a worker the first time, then kept.

        Waits for the computation (requests that arrive meanwhile wait for the same one).

        Returns
        -------
        dict
            :data:`~emrestore.web.uncertainty.MAP_KEYS` (also added to the job's result).

        Raises
        ------
        WebError
            409 for a job that has not finished or failed, 404 when its upload has
            expired, 503 when the workers' queue is full or the server stops, and the
            status of a failed computation (e.g. 503 out of memory).
        """
        if job.state != "done":
            unfinished = job.state in ACTIVE_STATES
            raise WebError(409, f"This restoration {'has not finished yet' if unfinished else 'did not finish'}, "
                                "so it has no uncertainty map.",
                           "Wait until GET /api/jobs/<id> says done, then ask again." if unfinished
                           else "Restore the image again, then ask for its uncertainty map.")
        with job.file_lock:
            described = computed_map(job)
            if described is not None:
                return described
            future = job.map_future
            if future is None or future.done():
                upload = self.get(job.upload_id, kind="upload")
                if self._closed:
                    raise WebError(503, "The server is stopping.", "Start it again and upload the file again.")
                try:
                    future = self._queue.submit(compute_map, self, job, upload)
                except QueueFull:
                    raise self._busy_error() from None
                job.map_future = future
        try:
            return future.result()  # a WebError if the computation failed
        except CancelledError:
            raise WebError(503, "The server stopped before the uncertainty map was computed.",
                           "Start it again and upload the file again.") from None

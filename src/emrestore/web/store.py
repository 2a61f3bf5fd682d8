"""What the web app keeps between requests: uploads, restoration jobs and their files.

Every upload and every restoration gets a random id and its own folder inside one
temporary folder owned by the server. Files inside are named by the server
(``upload.<ext>``, ``input.png``, ``input.f32``, ``result.tif``, ``result.png``,
``result.f32``, and ``result.hspy`` once it is first asked for); the client's file
name is never used as a path, only (sanitised) as the name a download is offered
under. Entries not used for ``keep_seconds`` are deleted by a background sweeper, and
the whole folder is deleted when the server stops.

Restorations run on a few worker threads, so several requests can be served at once and
a page can poll a job's progress (its phase: reading, restoring, saving; and tiles done /
tiles in total) while it runs. At most
``max_queue`` restorations wait for a worker (more are refused with a 503), a job can be
cancelled (it stops after the tile it is on), and closing the store cancels every job
and deletes the folder without waiting for a running one.

Files are read with :class:`emrestore.io.limits.ReadLimits`: a pixel-count limit that is
checked against the size a file declares before its pixels are decoded, and a parse in
a child process that is killed after a deadline or at a memory ceiling.
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
import warnings
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EMRestoreError, LimitExceededError, ParameterError
from ..image import EMImage
from ..io.api import READ_FORMATS
from ..io.limits import ReadLimits
from ..io.signal import EMRestoreWarning
from ..model.registry import ModelInfo, find_model, shipped_models
from ..restoration.choose import ModelChoice, choose_model_tag
from ..restoration.engine import Restorer
from ..tags import Tag
from .display import write_display

logger = logging.getLogger("emrestore.web")

#: Extensions an upload may have: everything :func:`emrestore.read` reads from a single
#: file. HyperSpy Zarr ``.zspy`` is a folder, and a TIA ``.emi`` needs its ``.ser`` next
#: to it (the ``.ser`` alone holds the image), so neither can be uploaded.
UPLOAD_EXTENSIONS = tuple(ext for fmt in READ_FORMATS for ext in fmt.extensions if ext not in (".zspy", ".emi"))

#: Files of an entry that clients may fetch, and the suffix of their download names.
SERVED_FILES = {
    "input.png": ("", "image/png"),
    "input.f32": ("", "application/octet-stream"),
    "result.png": ("_restored", "image/png"),
    "result.tif": ("_restored", "image/tiff"),
    "result.f32": ("_restored", "application/octet-stream"),
    "result.hspy": ("_restored", "application/x-hdf5"),
    "uncertainty.tif": ("_uncertainty", "image/tiff"),
    "uncertainty.f32": ("_uncertainty", "application/octet-stream"),
}
#: Served files written only when first asked for, from the job's ``result.tif``.
ON_DEMAND_FILES = ("result.hspy",)

_ID = re.compile(r"^[0-9a-f]{32}$")

#: Default largest image (all frames together) the server reads [pixels]: 8192² = 64 Mpx.
DEFAULT_MAX_PIXELS = 8192**2
#: Default deadline for parsing one uploaded file in its child process [s].
DEFAULT_READ_TIMEOUT_S = 120.0
#: Default number of restorations that may wait for a worker.
DEFAULT_MAX_QUEUE = 8
#: Restorers (model + tile size, each an inference session) kept loaded.
RESTORER_CACHE_SIZE = 4
#: Tile sizes a client may ask for [px] (besides 0 = whole image). The engine enlarges a
#: tile that cannot hold two of its model's overlaps (292 px for hrstem) and says so.
MIN_TILE_PX = 160
MAX_TILE_PX = 8192
#: Job states in which a job still needs (or holds) a worker.
ACTIVE_STATES = ("queued", "running")
#: HTTP status of a cancelled restoration.
CANCELLED_STATUS = 409
#: ``model_reason`` of a restoration whose model the client named (also in the file's provenance).
USER_CHOICE_REASON = "chosen by the user"


class WebError(EMRestoreError):
    """An error the web app reports to the client with an HTTP status.

    Parameters
    ----------
    status : int
        HTTP status code (4xx for what the client can fix).
    cause, fix : str
        As for :class:`~emrestore.errors.EMRestoreError`.
    headers : dict, optional
        Extra response headers (e.g. ``Retry-After``).
    """

    def __init__(self, status: int, cause: str, fix: str = "", *,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(cause, fix)
        self.status = status
        self.headers = dict(headers or {})


class JobCancelled(Exception):
    """Raised inside a worker (from the per-tile progress callback) to stop a cancelled job."""


class QueueFull(Exception):
    """The job queue holds as many waiting restorations as allowed."""


def parse_pixel_count(text: str | int) -> int:
    """A pixel count from ``N`` or ``WxH`` (``67108864``, ``8192x8192``).

    Raises
    ------
    ParameterError
        If ``text`` is neither, or not positive.

    Examples
    --------
    >>> parse_pixel_count("8192x8192")
    67108864
    >>> parse_pixel_count(1000)
    1000
    """
    value = str(text).strip().lower().replace("×", "x").replace("_", "")
    try:
        if "x" in value:
            width, height = value.split("x", 1)
            pixels = int(width) * int(height)
        else:
            pixels = int(value)
    except ValueError:
        pixels = 0
    if pixels <= 0:
        raise ParameterError(f"The pixel limit {text!r} is not a positive number of pixels.",
                             "Give a count such as 67108864, or a size such as 8192x8192.")
    return pixels


def _megapixels(pixels: float) -> str:
    return f"{pixels / 1e6:.3g} Mpx"


def safe_stem(filename: str | None) -> str:
    """A harmless stem for download names: letters, digits, ``.-_`` only, at most 80 chars.

    Examples
    --------
    >>> safe_stem("../../etc/passwd.dm3")
    'passwd'
    >>> safe_stem("Probe 7 (HAADF).dm4")
    'Probe_7_HAADF'
    """
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")
    return stem[:80] or "image"


def upload_extension(filename: str | None) -> str:
    """The validated, lower-case extension of an uploaded file's name.

    Raises
    ------
    WebError
        400 for a TIA ``.emi`` (its pixels are in the ``.ser``), 415 for anything
        :func:`emrestore.read` cannot read from a single file.
    """
    name = (filename or "").strip()
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext == ".emi":
        raise WebError(
            400,
            "A TIA .emi file holds only the acquisition metadata; the image itself is in the "
            "matching .ser file (e.g. name_1.ser).",
            "Upload the .ser file instead.",
        )
    if ext not in UPLOAD_EXTENSIONS:
        shown = f"'{ext}'" if ext else "no extension"
        raise WebError(
            415,
            f"The file {name or '(unnamed)'} has {shown}, which is not a format emrestore reads.",
            f"Upload one of: {', '.join(UPLOAD_EXTENSIONS)}.",
        )
    return ext


# --------------------------------------------------------------------------- models
def model_set(models_dir: Path | None = None) -> dict[str, ModelInfo]:
    """The models the server offers: the shipped ones plus those in ``models_dir``.

    Parameters
    ----------
    models_dir : Path, optional
        Folder of ``.onnx`` models (each with an optional ``.json`` card). A model named
        like a shipped tag (``hrstem.onnx``) replaces the shipped one; others are added
        under their file stem.

    Raises
    ------
    EMRestoreError
        If ``models_dir`` is not a folder.
    """
    models = {info.name: info for info in shipped_models()}
    if models_dir is not None:
        folder = Path(models_dir).expanduser()
        if not folder.is_dir():
            raise EMRestoreError(f"The models folder {folder} does not exist.",
                                 "Pass a folder that holds .onnx models to --models-dir.")
        for path in sorted(folder.glob("*.onnx")):
            info = find_model(path)
            models[info.name] = info
    return models


def describe_model(info: ModelInfo) -> dict[str, Any]:
    """What ``GET /api/models`` says about one model (as ``emrestore models``, without server paths)."""
    described = {key: value for key, value in info.summary().items() if key != "file"}
    described["description"] = info.card.extra.get("description")
    return described


def no_models_error() -> WebError:
    """The 503 error of a server without any model."""
    return WebError(
        503,
        "This server has no restoration model installed.",
        "Start it with 'emrestore serve --models-dir FOLDER' pointing at a folder of .onnx models.",
    )


def choose_model(image: EMImage, models: dict[str, ModelInfo]) -> ModelChoice:
    """The model the server uses for ``image`` when the client names none.

    The tag :func:`~emrestore.restoration.choose.choose_model_tag` picks from the
    modality and pixel size; if that model is not installed, another model for the same
    modality (else any model) is used and the reason says so.

    Raises
    ------
    WebError
        503 if the server has no model at all.
    """
    if not models:
        raise no_models_error()
    choice = choose_model_tag(image)
    if choice.tag in models:
        return choice
    modality = Tag.get(choice.tag).modality
    same = [name for name, info in models.items() if info.modality == modality]
    fallback = (same or list(models))[0]
    return ModelChoice(
        tag=fallback,
        reason=f"{choice.reason}; the {choice.tag} model is not installed here, so {fallback} is used",
    )


# --------------------------------------------------------------------------- storage
@dataclass
class Entry:
    """One upload or one restoration: a folder of server-named files."""

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

    def touch(self) -> None:
        self.last_used = time.monotonic()


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


class Store:
    """Uploads, jobs, their files and the worker threads that restore.

    Parameters
    ----------
    models : dict
        Model name → :class:`ModelInfo` (see :func:`model_set`).
    keep_seconds : float
        Entries unused for this long are deleted (with their files).
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
        if not max_pixels >= 1:
            raise ParameterError(f"The pixel limit must be positive (got {max_pixels}).",
                                 "Use e.g. --max-pixels 8192x8192.")
        if not read_timeout_s > 0:
            raise ParameterError(f"The read timeout must be positive (got {read_timeout_s} s).",
                                 "Use e.g. --read-timeout 120.")
        if max_queue < 0:
            raise ParameterError(f"The queue length cannot be negative (got {max_queue}).",
                                 "Use --max-queue 0 (no waiting) or more.")
        if restorer_cache < 1:
            raise ParameterError(f"At least one restorer must be kept (got {restorer_cache}).",
                                 "Use restorer_cache=1 or more.")
        self.models = models
        self.keep_seconds = float(keep_seconds)
        self.workers = int(workers)
        self.max_pixels = int(max_pixels)
        self.read_timeout_s = float(read_timeout_s)
        self.max_queue = int(max_queue)
        self.restorer_cache = int(restorer_cache)
        self.root = Path(tempfile.mkdtemp(prefix="emrestore-web-", dir=temp_dir))
        # a last resort: an interpreter that exits without close() still deletes the folder
        self._atexit = lambda root=self.root: shutil.rmtree(root, ignore_errors=True)
        atexit.register(self._atexit)
        self.url_prefix = url_prefix
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()
        self._restorers: OrderedDict[tuple[str, int | None], Restorer] = OrderedDict()
        self._restorer_lock = threading.Lock()
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
        """The path of a served file (written first if it is made on demand), or a 404 :class:`WebError`."""
        entry = self.get(entry_id)
        path = entry.folder / filename
        if filename in ON_DEMAND_FILES and entry.kind == "job" and entry.state == "done":
            self._write_on_demand(entry, path)
        if filename not in SERVED_FILES or not path.is_file():
            raise WebError(404, f"There is no file {filename!r} here.",
                           "Use the URLs returned by /api/restore.")
        return path, entry

    def _write_on_demand(self, job: Entry, path: Path) -> None:
        """Write ``result.hspy`` of a finished job from its ``result.tif`` (once; atomically).

        HyperSpy's format takes longer to write than the TIFF, so it is made only for
        those who download it. The TIFF holds the same data, calibration and metadata.
        """
        from ..io import read, write

        with job.file_lock:
            if path.is_file():
                return
            try:
                restored = read(job.folder / "result.tif", limits=ReadLimits(isolate=False))
                write(restored, path)
            except EMRestoreError as error:
                raise WebError(500, f"The HyperSpy file could not be written: {error.cause}",
                               "Download the TIFF instead; it holds the same data and calibration.") from error

    def remove(self, entry_id: str) -> None:
        """Forget an entry and delete its folder."""
        with self._lock:
            entry = self._entries.pop(entry_id, None)
        if entry is not None:
            shutil.rmtree(entry.folder, ignore_errors=True)

    def sweep(self) -> int:
        """Delete entries unused for ``keep_seconds`` (running jobs are kept); return how many."""
        now = time.monotonic()
        with self._lock:
            active = {e.id for e in self._entries.values() if e.state in ACTIVE_STATES}
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
                _mark_cancelled(job, "the server stopped")
        with self._lock:
            self._entries.clear()
        shutil.rmtree(self.root, ignore_errors=True)
        atexit.unregister(self._atexit)

    # ------------------------------------------------------------------ reading
    def pixel_limit_error(self, name: str, shape: tuple[int, ...] | list[int], declared: bool = False) -> WebError:
        """The 413 error of an image with more pixels than :attr:`max_pixels`."""
        pixels = 1
        for n in shape:
            pixels *= int(n)
        size = " × ".join(str(int(n)) for n in shape)
        verb = "declares" if declared else "is"
        return WebError(
            413,
            f"{name} {verb} an image of {size} px = {_megapixels(pixels)}; this server reads images of up "
            f"to {_megapixels(self.max_pixels)} ({self.max_pixels} pixels, all frames together).",
            "Crop or bin the image first, or restart the server with a larger --max-pixels "
            "(e.g. --max-pixels 16384x16384).",
        )

    def _limits(self) -> ReadLimits:
        """The :class:`~emrestore.io.limits.ReadLimits` for uploads."""
        return ReadLimits(max_pixels=self.max_pixels, timeout_s=self.read_timeout_s, isolate=True)

    def read_upload(self, path: Path, filename: str | None) -> EMImage:
        """Read an uploaded file within the server's limits.

        The declared pixel count is checked before the pixels are decoded, and the parse
        runs in a child process killed after :attr:`read_timeout_s` (by
        :func:`emrestore.read` with :class:`~emrestore.io.limits.ReadLimits`); the pixel
        count of the image read is checked again here.

        Raises
        ------
        WebError
            413 when the image exceeds :attr:`max_pixels` or its parse exceeded its time
            or memory budget, 422 when the file cannot be read as an image.
        """
        from ..io import read

        name = safe_stem(filename) + path.suffix
        try:
            image = read(path, limits=self._limits())
        except LimitExceededError as error:
            raise WebError(
                413,
                _plain(error.cause, path, filename),
                "Crop or bin the image first; if the file is genuine, restart the server with larger "
                f"limits (--max-pixels, now {_megapixels(self.max_pixels)}; --read-timeout, now "
                f"{self.read_timeout_s:g} s).",
            ) from error
        except EMRestoreError as error:
            raise WebError(422, _plain(str(error), path, filename)) from error
        if image.data.size > self.max_pixels:
            raise self.pixel_limit_error(name, image.shape)
        return image

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
        from ..io import write

        ext = upload_extension(filename)
        entry = self._new_entry("upload", safe_stem(filename), ext=ext, state="stored")
        path = entry.folder / f"upload{ext}"
        try:
            save(path)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", EMRestoreWarning)
                image = self.read_upload(path, filename)
            notes = [_plain(str(w.message), path, filename) for w in caught
                     if issubclass(w.category, EMRestoreWarning)]
            bar = image.metadata.get("databar_height_px")
            if bar:
                notes.append(f"The SEM data bar ({bar} px at the bottom) was removed; "
                             "only the image above it is restored.")
            write(image, entry.folder / "input.png")
            shown = write_display(image, entry.folder / "input.f32")
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

    # ------------------------------------------------------------------ restoring
    def restorer(self, model: str, tile: int | None) -> Restorer:
        """The cached :class:`Restorer` for a model name and tile size.

        At most :attr:`restorer_cache` are kept; the least recently used is dropped (a job
        that still uses it keeps its own reference).
        """
        key = (model, tile)
        with self._restorer_lock:
            if key in self._restorers:
                self._restorers.move_to_end(key)
                return self._restorers[key]
            info = self.models[model]
            restorer = Restorer(info.onnx_path, tile=tile, progress=False)
            self._restorers[key] = restorer
            while len(self._restorers) > self.restorer_cache:
                self._restorers.popitem(last=False)
            return restorer

    def submit(self, upload: Entry, model: str | None, tile: int | None) -> Entry:
        """Queue the restoration of an upload; returns the job entry at once.

        Raises
        ------
        WebError
            400 for an unknown model or a tile size outside 0 or
            [:data:`MIN_TILE_PX`, :data:`MAX_TILE_PX`], 413 for an upload larger than
            :attr:`max_pixels`, 503 without models or when :attr:`max_queue` jobs already wait.
        """
        if not self.models:
            raise no_models_error()
        if model and model not in self.models:
            raise WebError(400, f"Unknown model {model!r}.",
                           f"Use one of: {', '.join(self.models)} (or leave it empty to choose automatically).")
        if tile is not None and tile != 0 and not MIN_TILE_PX <= tile <= MAX_TILE_PX:
            raise WebError(400, f"The tile size must be 0 (whole image) or {MIN_TILE_PX} to {MAX_TILE_PX} px, "
                                f"got {tile}.",
                           "Use e.g. 512, or 0 to restore the whole image at once.")
        shape = upload.info.get("shape") or []
        pixels = 1
        for n in shape:
            pixels *= int(n)
        if shape and pixels > self.max_pixels:
            raise self.pixel_limit_error(upload.info.get("name", "The upload"), shape)
        if self._closed:
            raise WebError(503, "The server is stopping.", "Start it again and upload the file again.")
        job = self._new_entry("job", upload.name, upload_id=upload.id)
        try:
            job.future = self._queue.submit(self._run, job, upload, model, tile)
        except QueueFull:
            self.remove(job.id)
            workers = self._queue.workers
            raise WebError(
                503,
                f"The server is busy: {workers} restoration(s) are running and {self.max_queue} more are "
                "waiting, as many as it queues.",
                "Try again in a minute, or cancel a restoration you no longer need "
                "(POST /api/jobs/<id>/cancel); whoever runs the server can raise --max-queue or --workers.",
                headers={"Retry-After": "30"},
            ) from None
        return job

    def cancel(self, job: Entry) -> None:
        """Cancel a job: at once if it waits, after its current tile if it runs; no-op if finished."""
        if job.state not in ACTIVE_STATES:
            return
        job.cancel_event.set()
        if job.future is not None and self._queue.cancel(job.future):
            _mark_cancelled(job, "by request")
        logger.info("restoration %s cancelled", job.id)

    def _run(self, job: Entry, upload: Entry, model: str | None, tile: int | None) -> None:
        from ..io import write

        job.state, job.phase, job.started = "running", "reading", time.monotonic()
        try:
            _check_cancelled(job)
            with warnings.catch_warnings():  # already passed on as the upload's notes
                warnings.simplefilter("ignore", EMRestoreWarning)
                image = self.read_upload(upload.folder / f"upload{upload.ext}", upload.info.get("name"))
            _check_cancelled(job)
            if model:
                choice = ModelChoice(tag=model, reason=USER_CHOICE_REASON)
            else:
                choice = choose_model(image, self.models)
            base = self.restorer(choice.tag, tile)
            job.frames = image.frames
            job.tiles_total = base.tile_count(image.shape)
            job.phase = "restoring"
            restored = base.restore_image(image, choice, on_tiles=_progress(job))
            _check_cancelled(job)
            job.phase = "saving"
            restored.metadata["restoration"]["input_file"] = upload.info.get("name")
            write(restored, job.folder / "result.tif")
            write(restored, job.folder / "result.png")
            shown = write_display(restored, job.folder / "result.f32")
            job.phase = "uncertainty"
            umap = base.uncertainty(image.data, restored.data, modality=image.modality)
            _check_cancelled(job)
            map_image = umap.as_image(restored)
            map_image.metadata["uncertainty_of"] = f"{upload.name}_restored.tif"
            write(map_image, job.folder / "uncertainty.tif")
            map_shown = write_display(map_image, job.folder / "uncertainty.f32")
            job.result = {
                "job": job.id,
                "model": choice.tag,
                "model_reason": choice.reason,
                "model_chosen_by": "user" if model else "automatic",
                "tile": base.tile,
                "shape": list(restored.shape),
                "pixel_size": restored.pixel_size,
                "unit": restored.unit,
                "modality": restored.modality,
                "seconds": round(time.monotonic() - job.started, 3),
                "input_png": self.url(upload, "input.png"),
                "result_png": self.url(job, "result.png"),
                "result_tif": self.url(job, "result.tif"),
                "result_hspy": self.url(job, "result.hspy"),
                "input_f32": self.url(upload, "input.f32"),
                "result_f32": self.url(job, "result.f32"),
                "input_display": upload.info.get("input_display"),
                "result_display": shown,
                "uncertainty_tif": self.url(job, "uncertainty.tif"),
                "uncertainty_f32": self.url(job, "uncertainty.f32"),
                "uncertainty_display": map_shown,
                "uncertainty": {key: umap.record()[key] for key in ("method", "units", "total", "median", "p99")},
                "notes": upload.info.get("notes", []),
            }
            job.phase, job.state = "", "done"
        except JobCancelled:
            _mark_cancelled(job, "the server stopped" if self._closed else "by request")
        except WebError as error:
            job.error, job.status, job.state = str(error), error.status, "error"
        except EMRestoreError as error:
            source = upload.folder / f"upload{upload.ext}"
            job.error, job.status, job.state = _plain(str(error), source, upload.info.get("name")), 422, "error"
        except MemoryError:
            job.error, job.status, job.state = (
                "The server ran out of memory while restoring this image. Fix: choose tiled "
                "restoration (smaller tiles use less memory) or a smaller image.", 503, "error")
        except Exception as error:  # a bug: log the traceback, tell the client in plain words
            logger.exception("restoring upload %s failed", upload.id)
            job.error, job.status, job.state = (
                f"The restoration failed unexpectedly ({type(error).__name__}). The details are "
                "in the server's log; please report them.", 500, "error")
        finally:
            job.phase = ""
            job.finished = job.finished or time.monotonic()
            job.touch()
            upload.touch()
            if self._closed:  # the server stopped meanwhile: delete what this job wrote
                shutil.rmtree(self.root, ignore_errors=True)

    def job_status(self, job: Entry) -> dict[str, Any]:
        """What ``GET /api/jobs/<id>`` returns."""
        now = job.finished or time.monotonic()
        status: dict[str, Any] = {
            "job": job.id,
            "state": job.state,
            "phase": job.phase,
            "frames": job.frames,
            "tiles_done": job.tiles_done,
            "tiles_total": job.tiles_total,
            "elapsed_s": round(now - job.started, 2) if job.started else 0.0,
        }
        if job.state in ACTIVE_STATES:
            status["cancel_requested"] = job.cancel_event.is_set()
        if job.state == "done":
            status["result"] = job.result
        elif job.state in ("error", "cancelled"):
            status["error"] = job.error
            status["status"] = job.status
        return status


def _mark_cancelled(job: Entry, why: str) -> None:
    job.state = "cancelled"
    job.status = CANCELLED_STATUS
    job.error = (f"The restoration was cancelled ({why}) after {job.tiles_done} of "
                 f"{job.tiles_total or '?'} tiles. Fix: press Restore (or POST /api/restore) to run it again.")
    job.finished = job.finished or time.monotonic()


def _check_cancelled(job: Entry) -> None:
    if job.cancel_event.is_set():
        raise JobCancelled


def _progress(job: Entry) -> Callable[[int], None]:
    """Progress callback for the restorer: counts each batch's tiles, then stops a cancelled job.

    The restorer calls it after every network call, so a cancellation takes effect
    between tiles (:class:`JobCancelled` propagates out of the restorer).
    """

    def add(tiles: int) -> None:
        job.tiles_done += tiles
        _check_cancelled(job)

    return add


def _plain(message: str, path: Path, filename: str | None) -> str:
    """An error message with the server's temporary file name replaced by the client's."""
    shown = safe_stem(filename) + path.suffix
    return message.replace(str(path), shown).replace(path.name, shown)

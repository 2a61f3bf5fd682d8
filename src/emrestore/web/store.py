"""What the web app keeps between requests: uploads, restoration jobs and their files.

Every upload and every restoration gets a random id and its own folder inside one
temporary folder owned by the server. Files inside are named by the server
(``upload.<ext>``, ``input.png``, ``result.tif``, ``result.png``); the client's file
name is never used as a path, only (sanitised) as the name a download is offered
under. Entries not used for ``keep_seconds`` are deleted by a background sweeper, and
the whole folder is deleted when the server stops.

Restorations run on a small thread pool, so several requests can be served at once and
a page can poll a job's progress (tiles done / tiles in total) while it runs.
"""

from __future__ import annotations

import logging
import re
import secrets
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EMRestoreError, ParameterError
from ..image import EMImage
from ..io.api import READ_FORMATS
from ..io.signal import EMRestoreWarning
from ..restoration.choose import ModelChoice, choose_model_tag
from ..restoration.engine import Restorer
from ..restoration.models import ModelInfo, find_model, shipped_models

logger = logging.getLogger("emrestore.web")

#: Extensions an upload may have: everything :func:`emrestore.read` reads from a single
#: file. HyperSpy Zarr ``.zspy`` is a folder, and a TIA ``.emi`` needs its ``.ser`` next
#: to it (the ``.ser`` alone holds the image), so neither can be uploaded.
UPLOAD_EXTENSIONS = tuple(ext for fmt in READ_FORMATS for ext in fmt.extensions if ext not in (".zspy", ".emi"))

#: Files of an entry that clients may fetch, and the suffix of their download names.
SERVED_FILES = {
    "input.png": ("", "image/png"),
    "result.png": ("_restored", "image/png"),
    "result.tif": ("_restored", "image/tiff"),
}

_ID = re.compile(r"^[0-9a-f]{32}$")


class WebError(EMRestoreError):
    """An error the web app reports to the client with an HTTP status.

    Parameters
    ----------
    status : int
        HTTP status code (4xx for what the client can fix).
    cause, fix : str
        As for :class:`~emrestore.errors.EMRestoreError`.
    """

    def __init__(self, status: int, cause: str, fix: str = "") -> None:
        super().__init__(cause, fix)
        self.status = status


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
    described["description"] = info.card.get("description")
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
    modality = choice.tag[2:]
    same = [name for name, info in models.items()
            if (info.card.get("modality") or (info.tag or name)[2:]) == modality]
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
    state: str = "queued"  # jobs: queued, running, done, error; uploads: stored
    tiles_done: int = 0
    tiles_total: int = 0
    started: float | None = None
    finished: float | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    status: int = 200
    future: Future | None = field(default=None, repr=False)

    def touch(self) -> None:
        self.last_used = time.monotonic()


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
    """

    def __init__(self, models: dict[str, ModelInfo], *, keep_seconds: float = 3600.0,
                 workers: int = 2, temp_dir: Path | None = None, url_prefix: str = "/api/files") -> None:
        if keep_seconds <= 0:
            raise ParameterError(f"The keep time must be positive (got {keep_seconds} s).",
                                 "Give a time such as 60 minutes.")
        if workers < 1:
            raise ParameterError(f"At least one worker is needed (got {workers}).", "Use --workers 1 or more.")
        self.models = models
        self.keep_seconds = float(keep_seconds)
        self.root = Path(tempfile.mkdtemp(prefix="emrestore-web-", dir=temp_dir))
        self.url_prefix = url_prefix
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()
        self._restorers: dict[tuple[str, int | None], Restorer] = {}
        self._restorer_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emrestore-restore")
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
        """The path of a served file, or a 404 :class:`WebError`."""
        entry = self.get(entry_id)
        path = entry.folder / filename
        if filename not in SERVED_FILES or not path.is_file():
            raise WebError(404, f"There is no file {filename!r} here.",
                           "Use the URLs returned by /api/restore.")
        return path, entry

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
            active = {e.id for e in self._entries.values() if e.state in ("queued", "running")}
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

    def close(self) -> None:
        """Stop the workers and the sweeper and delete the temporary folder."""
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            self._entries.clear()
        shutil.rmtree(self.root, ignore_errors=True)

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
            415/400 for a file type that cannot be read, 422 for a file that cannot be
            read as an image, 503 without models.
        """
        from ..io import read, write

        ext = upload_extension(filename)
        entry = self._new_entry("upload", safe_stem(filename), ext=ext, state="stored")
        path = entry.folder / f"upload{ext}"
        try:
            save(path)
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", EMRestoreWarning)
                    image = read(path)
            except EMRestoreError as error:
                raise WebError(422, _plain(str(error), path, filename)) from error
            notes = [_plain(str(w.message), path, filename) for w in caught
                     if issubclass(w.category, EMRestoreWarning)]
            bar = image.metadata.get("databar_height_px")
            if bar:
                notes.append(f"The SEM data bar ({bar} px at the bottom) was removed; "
                             "only the image above it is restored.")
            write(image, entry.folder / "input.png")
            choice = choose_model(image, self.models) if self.models else None
            entry.info = {
                "upload": entry.id,
                "name": safe_stem(filename) + ext,
                **image.summary(),
                "model": choice.tag if choice else None,
                "model_reason": choice.reason if choice else None,
                "input_png": self.url(entry, "input.png"),
                "notes": notes,
            }
        except BaseException:
            self.remove(entry.id)
            raise
        return entry

    # ------------------------------------------------------------------ restoring
    def restorer(self, model: str, tile: int | None) -> Restorer:
        """The cached :class:`Restorer` for a model name and tile size."""
        key = (model, tile)
        with self._restorer_lock:
            if key not in self._restorers:
                info = self.models[model]
                self._restorers[key] = Restorer(info.onnx_path, tile=tile, progress=False)
            return self._restorers[key]

    def submit(self, upload: Entry, model: str | None, tile: int | None) -> Entry:
        """Queue the restoration of an upload; returns the job entry at once.

        Raises
        ------
        WebError
            400 for an unknown model or a bad tile size, 503 without models.
        """
        if not self.models:
            raise no_models_error()
        if model and model not in self.models:
            raise WebError(400, f"Unknown model {model!r}.",
                           f"Use one of: {', '.join(self.models)} (or leave it empty to choose automatically).")
        if tile is not None and tile < 0:
            raise WebError(400, f"The tile size must be 0 (whole image) or a positive number of pixels, got {tile}.",
                           "Use e.g. 512, or 0 to restore the whole image at once.")
        job = self._new_entry("job", upload.name, upload_id=upload.id)
        job.future = self._pool.submit(self._run, job, upload, model, tile)
        return job

    def _run(self, job: Entry, upload: Entry, model: str | None, tile: int | None) -> None:
        from ..io import read, write

        job.state, job.started = "running", time.monotonic()
        try:
            with warnings.catch_warnings():  # already passed on as the upload's notes
                warnings.simplefilter("ignore", EMRestoreWarning)
                image = read(upload.folder / f"upload{upload.ext}")
            if model:
                choice = ModelChoice(tag=model, reason="chosen by the user")
            else:
                choice = choose_model(image, self.models)
            base = self.restorer(choice.tag, tile)
            job.tiles_total = base.tile_count(image.shape)
            restored = base.restore_image(image, choice, on_tiles=_progress(job))
            restored.metadata["restoration"]["input_file"] = upload.info.get("name")
            write(restored, job.folder / "result.tif")
            write(restored, job.folder / "result.png")
            job.result = {
                "job": job.id,
                "model": choice.tag,
                "model_reason": choice.reason,
                "tile": base.tile,
                "shape": list(restored.shape),
                "pixel_size": restored.pixel_size,
                "unit": restored.unit,
                "modality": restored.modality,
                "seconds": round(time.monotonic() - job.started, 3),
                "input_png": self.url(upload, "input.png"),
                "result_png": self.url(job, "result.png"),
                "result_tif": self.url(job, "result.tif"),
                "notes": upload.info.get("notes", []),
            }
            job.state = "done"
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
            job.finished = time.monotonic()
            job.touch()
            upload.touch()

    def job_status(self, job: Entry) -> dict[str, Any]:
        """What ``GET /api/jobs/<id>`` returns."""
        now = job.finished or time.monotonic()
        status: dict[str, Any] = {
            "job": job.id,
            "state": job.state,
            "tiles_done": job.tiles_done,
            "tiles_total": job.tiles_total,
            "elapsed_s": round(now - job.started, 2) if job.started else 0.0,
        }
        if job.state == "done":
            status["result"] = job.result
        elif job.state == "error":
            status["error"] = job.error
            status["status"] = job.status
        return status


def _progress(job: Entry) -> Callable[[int], None]:
    """Progress callback for the restorer: adds each batch's tiles to ``job.tiles_done``."""

    def add(tiles: int) -> None:
        job.tiles_done += tiles

    return add


def _plain(message: str, path: Path, filename: str | None) -> str:
    """An error message with the server's temporary file name replaced by the client's."""
    shown = safe_stem(filename) + path.suffix
    return message.replace(str(path), shown).replace(path.name, shown)

"""A restoration job of the web app: what its worker does, its progress, cancellation and status.

A job runs on one of the store's worker threads: it reads the upload again (within the
server's limits), chooses or takes the model, restores tile batch by tile batch and writes
the result files. Its phase (reading, restoring, saving) and tiles done / tiles in total
can be polled while it runs. A cancelled job stops after the tile batch it is on: the
restorer calls :func:`_progress`'s callback after every network call, and it raises
:class:`JobCancelled` there. The uncertainty map is not computed here but on request
(:mod:`emrestore.web.uncertainty`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import EMRestoreError
from ..model.registry import ModelInfo
from ..restoration.choose import ModelChoice
from .entries import ACTIVE_STATES, Entry
from .errors import WebError
from .models import choose_model, no_models_error
from .results import write_result
from .uploads import client_message

if TYPE_CHECKING:
    from .store import Store

logger = logging.getLogger("emrestore.web")

#: Tile sizes a client may ask for [px] (besides 0 = whole image). The engine enlarges a
#: tile that cannot hold two of its model's overlaps (292 px for hrstem) and says so.
MIN_TILE_PX = 160
MAX_TILE_PX = 8192
#: HTTP status of a cancelled restoration.
CANCELLED_STATUS = 409
#: ``model_reason`` of a restoration whose model the client named (also in the file's provenance).
USER_CHOICE_REASON = "chosen by the user"


class JobCancelled(Exception):
    """Raised inside a worker (from the per-tile progress callback) to stop a cancelled job."""


def check_request(models: dict[str, ModelInfo], model: str | None, tile: int | None) -> None:
    """Refuse a restoration request the server cannot run.

    Parameters
    ----------
    models : dict
        The models the server offers.
    model : str or None
        The model the client named (None: automatic choice).
    tile : int or None
        The tile edge the client asked for [px] (0: whole image; None: the default).

    Raises
    ------
    WebError
        503 without models; 400 for an unknown model or a tile size outside 0 or
        [:data:`MIN_TILE_PX`, :data:`MAX_TILE_PX`].
    """
    if not models:
        raise no_models_error()
    if model and model not in models:
        raise WebError(400, f"Unknown model {model!r}.",
                       f"Use one of: {', '.join(models)} (or leave it empty to choose automatically).")
    if tile is not None and tile != 0 and not MIN_TILE_PX <= tile <= MAX_TILE_PX:
        raise WebError(400, f"The tile size must be 0 (whole image) or {MIN_TILE_PX} to {MAX_TILE_PX} px, "
                            f"got {tile}.",
                       "Use e.g. 512, or 0 to restore the whole image at once.")


def run_restoration(store: Store, job: Entry, upload: Entry, model: str | None, tile: int | None) -> None:
    """Restore ``upload`` into ``job``'s folder (on a worker thread); the outcome is left on ``job``.

    Parameters
    ----------
    store : Store
        Its reader, models, restorers and URLs.
    job, upload : Entry
        The job (its state, phase, progress, result or error are set here) and its upload.
    model : str or None
        The model the client named (None: automatic choice).
    tile : int or None
        Tile edge [px] (0: whole image; None: the default).
    """
    job.state, job.phase, job.started = "running", "reading", time.monotonic()
    try:
        _check_cancelled(job)
        image = store.reader.read_quietly(upload.upload_path, upload.info.get("name"))
        _check_cancelled(job)
        if model:
            choice = ModelChoice(tag=model, reason=USER_CHOICE_REASON)
        else:
            choice = choose_model(image, store.models)
        base = store.restorers.get(choice.tag, tile)
        job.frames = image.frames
        job.tiles_total = base.tile_count(image.shape)
        job.phase = "restoring"
        restored = base.restore_image(image, choice, on_tiles=_progress(job))
        _check_cancelled(job)
        job.phase = "saving"
        restored.metadata["restoration"]["input_file"] = upload.info.get("name")
        shown = write_result(restored, job.folder)
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
            "input_png": store.url(upload, "input.png"),
            "result_png": store.url(job, "result.png"),
            "result_tif": store.url(job, "result.tif"),
            "result_hspy": store.url(job, "result.hspy"),
            "input_f32": store.url(upload, "input.f32"),
            "result_f32": store.url(job, "result.f32"),
            "input_display": upload.info.get("input_display"),
            "result_display": shown,
            "uncertainty_url": f"/api/jobs/{job.id}/uncertainty",
            "notes": upload.info.get("notes", []),
        }
        job.phase, job.state = "", "done"
    except JobCancelled:
        mark_cancelled(job, "the server stopped" if store.closed else "by request")
    except Exception as error:
        job.error, job.status = describe_failure(error, upload)
        job.state = "error"
    finally:
        job.phase = ""
        job.finished = job.finished or time.monotonic()
        job.touch()
        upload.touch()
        store.discard_if_closed()


@dataclass(frozen=True)
class Work:
    """What a worker does for a job, in the words of its failure messages."""

    name: str  # "The restoration"
    doing: str  # "restoring this image"
    memory_fix: str  # what to do after running out of memory


#: The restoration itself.
RESTORING = Work("The restoration", "restoring this image",
                 "choose tiled restoration (smaller tiles use less memory) or a smaller image.")


def describe_failure(error: BaseException, upload: Entry, work: Work = RESTORING) -> tuple[str, int]:
    """The client's message and HTTP status for a failure of ``work`` on ``upload``.

    Parameters
    ----------
    error : BaseException
        What the work raised.
    upload : Entry
        The upload it worked on (its stored file's name is replaced by the client's).
    work : Work
        What it was, for the messages.

    Returns
    -------
    message : str
    status : int
        The :class:`WebError`'s own status, 422 for a file or parameter the client can
        fix, 503 out of memory, 500 (with the traceback in the server's log) for a bug.
    """
    if isinstance(error, WebError):
        return str(error), error.status
    if isinstance(error, EMRestoreError):
        return client_message(str(error), upload.upload_path, upload.info.get("name")), 422
    if isinstance(error, MemoryError):
        return f"The server ran out of memory while {work.doing}. Fix: {work.memory_fix}", 503
    logger.error("%s failed for upload %s", work.name, upload.id, exc_info=error)
    return (f"{work.name} failed unexpectedly ({type(error).__name__}). The details are in the server's log; "
            "please report them."), 500


def job_status(job: Entry) -> dict[str, Any]:
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


def mark_cancelled(job: Entry, why: str) -> None:
    """Set ``job`` cancelled (HTTP :data:`CANCELLED_STATUS`), saying ``why`` and how far it got."""
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

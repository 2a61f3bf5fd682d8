"""A finished restoration's uncertainty map, computed when first asked for, then kept.

A restoration does not compute its map (about 2 s per 1024² frame on 2 cores, wasted on
those who never look at it). ``POST /api/jobs/<id>/uncertainty`` (the page's
*Uncertainty map* button), or a first ``GET`` of ``uncertainty.tif`` / ``uncertainty.f32``,
computes it once on one of the store's workers (so it waits its turn with the
restorations and counts towards ``--max-queue``) and writes both files into the job's
folder; later requests are served from them. The map is the physics check of
``input − restored`` against the frame's noise model, without the dihedral or re-noise
spreads (:func:`emrestore.restoration.uncertainty.uncertainty_map`, docs/uncertainty.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .display import write_display
from .entries import Entry
from .errors import WebError
from .jobs import Work, describe_failure
from .results import read_result

if TYPE_CHECKING:
    from .store import Store

#: The keys the map adds to a job's result once computed.
MAP_KEYS = ("uncertainty_tif", "uncertainty_f32", "uncertainty_display", "uncertainty")
#: The summary of the map in the result (from :meth:`UncertaintyMap.record`).
SUMMARY_KEYS = ("method", "units", "total", "median", "p99")
#: The map's computation, for failure messages.
MAPPING = Work("The uncertainty map", "computing the uncertainty map",
               "try again when fewer restorations run, or restore a smaller image.")


def computed_map(job: Entry) -> dict[str, Any] | None:
    """The map's part of ``job``'s result (:data:`MAP_KEYS`), or None before it is computed."""
    result = job.result or {}
    if not all(key in result for key in MAP_KEYS):
        return None
    return {key: result[key] for key in MAP_KEYS}


def compute_map(store: Store, job: Entry, upload: Entry) -> dict[str, Any]:
    """Compute and write ``job``'s uncertainty map (on a worker thread); add it to the job's result.

    Parameters
    ----------
    store : Store
        Its reader and URLs.
    job : Entry
        A finished restoration (its ``result.tif`` is read back).
    upload : Entry
        Its upload (read again within the server's limits).

    Returns
    -------
    dict
        :data:`MAP_KEYS`: the files' URLs, the displayed frame's description and the
        map's summary (:data:`SUMMARY_KEYS`).

    Raises
    ------
    WebError
        Whatever went wrong, in the client's words (:func:`~emrestore.web.jobs.describe_failure`).
    """
    from ..io import write
    from ..io.metadata import restoration_record
    from ..restoration.uncertainty import (
        DEFAULT_CALIBRATION,
        MapCalibration,
        uncertainty_map,
    )

    try:
        restored = read_result(job.folder)
        image = store.reader.read_quietly(upload.upload_path, upload.info.get("name"))
        info = store.models.get(str((restoration_record(restored) or {}).get("model")))
        calibration = DEFAULT_CALIBRATION if info is None else MapCalibration.from_card(info.card, info.name)
        umap = uncertainty_map(image.data, restored.data, modality=image.modality, calibration=calibration)
        map_image = umap.as_image(restored)
        map_image.metadata["uncertainty_of"] = f"{job.name}_restored.tif"
        write(map_image, job.folder / "uncertainty.tif")
        shown = write_display(map_image, job.folder / "uncertainty.f32")
        record = umap.record()
        described = {
            "uncertainty_tif": store.url(job, "uncertainty.tif"),
            "uncertainty_f32": store.url(job, "uncertainty.f32"),
            "uncertainty_display": shown,
            "uncertainty": {key: record[key] for key in SUMMARY_KEYS},
        }
        with job.file_lock:
            job.result = {**(job.result or {}), **described}
        return described
    except WebError:
        raise
    except Exception as error:
        message, status = describe_failure(error, upload, MAPPING)
        raise WebError(status, message) from error
    finally:
        job.touch()
        store.discard_if_closed()

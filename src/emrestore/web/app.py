"""The Flask application: the page and the HTTP API.

Routes
------
``GET /``                       the page (static HTML + JS + CSS, no external assets)
``GET /api/config``             upload limit, accepted extensions, keep time, version
``GET /api/models``             the models this server offers
``POST /api/inspect``           multipart ``file`` → shape, calibration, automatic model, preview
``POST /api/restore``           multipart ``file`` (or ``upload`` id from inspect), optional
                                ``model``, ``tile``, ``wait`` → result JSON with file URLs
``GET /api/jobs/<id>``          state and tile progress of a restoration
``GET /api/files/<id>/<name>``  ``input.png``, ``result.png`` or ``result.tif``
                                (``?download=1`` offers it under the original file's name)

Every error is JSON ``{"error": "..."}`` with a 4xx status (5xx only for a server
fault), in plain words; tracebacks go to the server's log, never to the client.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from flask import Flask, Response, jsonify, request, send_file, send_from_directory
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .. import __version__
from ..errors import EMRestoreError
from .store import SERVED_FILES, UPLOAD_EXTENSIONS, Store, WebError, describe_model

logger = logging.getLogger("emrestore.web")

#: The page's files.
STATIC_DIR = Path(__file__).resolve().parent / "static"

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def _megabytes(n_bytes: float) -> str:
    return f"{n_bytes / 1e6:.4g} MB"


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _request_hostname() -> str:
    host = request.host
    if host.startswith("["):  # [::1]:8000
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _parse_tile(text: str | None) -> int | None:
    if text is None or str(text).strip().lower() in ("", "auto", "default"):
        return None
    if str(text).strip().lower() in ("whole", "0"):
        return 0
    try:
        return int(str(text).strip())
    except ValueError:
        raise WebError(400, f"The tile size {text!r} is not a whole number.",
                       "Use e.g. 512 for 512-px tiles, or 0 (or 'whole') for the whole image at once.") from None


def create_app(store: Store, *, max_upload_bytes: int = 512 * 10**6, local_only: bool = True) -> Flask:
    """Build the web application around a :class:`~emrestore.web.store.Store`.

    Parameters
    ----------
    store : Store
        Uploads, jobs and models.
    max_upload_bytes : int
        Largest request body accepted; larger uploads get a 413 with a clear message.
    local_only : bool
        Answer only requests addressed to a loopback host name (``localhost``,
        ``127.0.0.1``, ``[::1]``): a web page elsewhere cannot reach the server through
        a rebound DNS name. Set False when serving on a network address.

    Returns
    -------
    flask.Flask
    """
    app = Flask("emrestore.web", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = int(max_upload_bytes)
    app.json.sort_keys = False
    app.json.ensure_ascii = False

    def error_response(message: str, status: int) -> Response:
        response = jsonify({"error": message})
        response.status_code = status
        return response

    @app.before_request
    def check_host() -> Response | None:
        if local_only and not _is_loopback(_request_hostname()):
            return error_response(
                "This emrestore server only answers requests addressed to localhost. Fix: open "
                "http://127.0.0.1:<port>/, or start the server with --host 0.0.0.0 to serve a network.",
                403)
        return None

    @app.errorhandler(WebError)
    def web_error(error: WebError) -> Response:
        return error_response(str(error), error.status)

    @app.errorhandler(EMRestoreError)
    def user_error(error: EMRestoreError) -> Response:
        return error_response(str(error), 422)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error: RequestEntityTooLarge) -> Response:
        sent = request.content_length
        size = f"The upload is {_megabytes(sent)}; " if sent else "The upload is too large: "
        return error_response(
            f"{size}this server accepts files up to {_megabytes(max_upload_bytes)}. Fix: crop or bin "
            "the image first, or restart the server with a larger --max-upload-mb.", 413)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        messages = {
            404: "There is nothing at this address. Fix: see GET /api/models and POST /api/restore in docs/web.md.",
            405: f"{request.method} is not allowed here. Fix: check the method (GET or POST) in docs/web.md.",
        }
        text = messages.get(error.code or 0, f"{error.name}: {error.description}")
        return error_response(text, error.code or 400)

    @app.errorhandler(Exception)
    def server_fault(error: Exception) -> Response:
        logger.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(
            f"The server failed unexpectedly ({type(error).__name__}). The details are in the "
            "server's log; please report them.", 500)

    @app.after_request
    def no_sniff(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    # ------------------------------------------------------------------ page
    @app.get("/")
    def page() -> Response:
        return send_from_directory(STATIC_DIR, "index.html")

    @app.get("/static/<path:name>")
    def static_file(name: str) -> Response:
        return send_from_directory(STATIC_DIR, name)  # refuses paths outside STATIC_DIR

    # ------------------------------------------------------------------ API
    @app.get("/api/config")
    def config() -> Response:
        return jsonify({
            "version": __version__,
            "max_upload_bytes": int(max_upload_bytes),
            "extensions": list(UPLOAD_EXTENSIONS),
            "keep_minutes": round(store.keep_seconds / 60, 3),
        })

    @app.get("/api/models")
    def models() -> Response:
        return jsonify({"models": [describe_model(info) for info in store.models.values()]})

    def upload_from_request():
        upload = request.files.get("file")
        if upload is None:
            raise WebError(400, "No file was sent.",
                           "Send the image as the multipart form field 'file' "
                           "(curl -F file=@image.dm4 ...).")
        return store.add_upload(upload.filename, upload.save)

    @app.post("/api/inspect")
    def inspect() -> Response:
        return jsonify(upload_from_request().info)

    @app.post("/api/restore")
    def restore() -> Response:
        form = request.form  # parses the body first, so a too-large upload is a 413
        if "file" in request.files:
            upload = upload_from_request()
        elif form.get("upload"):
            upload = store.get(form["upload"], kind="upload")
        else:
            raise WebError(400, "No file was sent.",
                           "Send the image as the multipart form field 'file' "
                           "(curl -F file=@image.dm4 ...).")
        model = (form.get("model") or "").strip()
        model = None if model.lower() in ("", "auto") else model
        job = store.submit(upload, model, _parse_tile(form.get("tile")))
        if form.get("wait", "1").strip().lower() in ("0", "false", "no"):
            response = jsonify({"job": job.id, "state": job.state, "status_url": f"/api/jobs/{job.id}"})
            response.status_code = 202
            return response
        job.future.result()
        status = store.job_status(job)
        if job.state == "error":
            return error_response(job.error or "The restoration failed.", job.status)
        return jsonify(status["result"])

    @app.get("/api/jobs/<job_id>")
    def job(job_id: str) -> Response:
        return jsonify(store.job_status(store.get(job_id, kind="job")))

    @app.get("/api/files/<entry_id>/<name>")
    def files(entry_id: str, name: str) -> Response:
        path, entry = store.file_path(entry_id, name)
        suffix, mimetype = SERVED_FILES[name]
        download = request.args.get("download", "0") not in ("0", "", "false")
        return send_file(path, mimetype=mimetype, as_attachment=download,
                         download_name=f"{entry.name}{suffix}{path.suffix}", max_age=0)

    return app


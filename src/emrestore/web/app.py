"""The Flask application: the page and the HTTP API.

Routes
------
``GET /``                       the page (static HTML + JS + CSS, no external assets)
``GET /api/config``             upload limit, accepted extensions, keep time, version
``GET /api/models``             the models this server offers
``POST /api/inspect``           multipart ``file`` → shape, calibration, automatic model, preview
``POST /api/restore``           multipart ``file`` (or ``upload`` id from inspect), optional
                                ``model``, ``tile``, ``wait`` → result JSON with file URLs
``GET /api/jobs/<id>``          state, phase and tile progress of a restoration
``POST /api/jobs/<id>/cancel``  cancel a restoration (it stops after its current tile)
``POST /api/jobs/<id>/uncertainty``  compute a finished restoration's uncertainty map (once;
                                later requests are served from it) → its URLs, display range
                                and summary
``GET /api/files/<id>/<name>``  ``input.png``, ``result.png``, ``result.tif``, ``result.hspy``
                                (written on first request), ``uncertainty.tif`` (the
                                restoration's uncertainty map, docs/uncertainty.md; computed
                                on first request), or the displayed frame as raw float32,
                                ``input.f32`` / ``result.f32`` / ``uncertainty.f32``
                                (``?download=1`` offers a file under the original file's name)

Every error is JSON ``{"error": "..."}`` with a 4xx status (5xx only for a server
fault), in plain words; tracebacks go to the server's log, never to the client.

Cross-origin rule
-----------------
A web page on another origin must not be able to drive the server through its
visitors' browsers. Requests to ``/api/`` and every request that is not GET/HEAD are
refused (403) when they carry ``Origin: null`` or an ``Origin`` other than the server's
own (or one allowed with ``--allow-origin``), or ``Sec-Fetch-Site: cross-site`` /
``same-site``. A request that looks like a browser's (an ``Origin`` or ``Sec-Fetch-*``
header, or a ``Mozilla/`` user agent) and changes something (POST, PUT, PATCH, DELETE)
must also carry ``X-Requested-With``, which a cross-origin form cannot send and a
cross-origin script cannot send without a CORS preflight, which this server answers
only for allowed origins. Clients outside a browser (curl, Python) send none of these
headers and are not affected. Every response carries a Content-Security-Policy
(``default-src 'self'``, ``frame-ancestors 'none'``), ``X-Frame-Options: DENY``,
``Referrer-Policy: no-referrer`` and ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from concurrent.futures import CancelledError
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, request, send_file, send_from_directory
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestEntityTooLarge

from .. import __version__
from ..errors import EMRestoreError, ParameterError
from .errors import WebError
from .jobs import MAX_TILE_PX, MIN_TILE_PX
from .models import describe_model
from .results import SERVED_FILES
from .store import Store
from .uploads import UPLOAD_EXTENSIONS

logger = logging.getLogger("emrestore.web")

#: The page's files.
STATIC_DIR = Path(__file__).resolve().parent / "static"

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}

#: Header a browser must send with a state-changing request (the page's script does).
CSRF_HEADER = "X-Requested-With"
#: Methods that change something on the server.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Sec-Fetch-Site values of requests made by the server's own page or typed by the user.
ALLOWED_FETCH_SITES = frozenset({"", "same-origin", "none"})
#: The page loads only its own script, style sheet and images (``data:`` for the empty
#: favicon, ``blob:`` for local previews); nothing may frame it.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
                           "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


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


def normalise_origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower case, without a default port.

    Raises
    ------
    ParameterError
        If ``url`` is not an http(s) origin such as ``http://lims.example:8080``.

    Examples
    --------
    >>> normalise_origin("HTTP://Lims.Example:80/")
    'http://lims.example'
    """
    text = str(url).strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname
            or parts.path not in ("", "/") or parts.query or parts.fragment or parts.username):
        raise ParameterError(f"{text!r} is not a web origin.",
                             "Give scheme, host and port only, e.g. --allow-origin http://lims.example:8080.")
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


def _own_origin() -> str | None:
    """The origin the request was addressed to (from its scheme and Host header)."""
    try:
        return normalise_origin(f"{request.scheme}://{request.host}")
    except ParameterError:
        return None


def _looks_like_a_browser() -> bool:
    headers = request.headers
    if "Origin" in headers or any(key.lower().startswith("sec-fetch-") for key, _ in headers.items()):
        return True
    return headers.get("User-Agent", "").startswith("Mozilla/")


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


def create_app(store: Store, *, max_upload_bytes: int = 512 * 10**6, local_only: bool = True,
               allow_origins: Iterable[str] = (), request_timeout_s: float | None = None) -> Flask:
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
    allow_origins : iterable of str
        Web origins (``http://host:port``) besides the server's own whose pages may use
        the API from a browser (they get CORS headers); see the module's cross-origin rule.
    request_timeout_s : float, optional
        The server's idle-connection timeout (reported in ``/api/config``; a request body
        that stalls this long gets a 408).

    Returns
    -------
    flask.Flask
    """
    allowed = frozenset(normalise_origin(origin) for origin in allow_origins)
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

    def refuse(cause: str, fix: str) -> Response:
        logger.warning("refused %s %s (Origin %s, Sec-Fetch-Site %s): %s", request.method, request.path,
                       request.headers.get("Origin", "-"), request.headers.get("Sec-Fetch-Site", "-"), cause)
        return error_response(f"{cause} Fix: {fix}", 403)

    @app.before_request
    def check_origin() -> Response | None:
        if not (request.path.startswith("/api/") or request.method not in ("GET", "HEAD", "OPTIONS")):
            return None  # the page and its static files may be opened from anywhere (links)
        origin = request.headers.get("Origin")
        site = request.headers.get("Sec-Fetch-Site", "").strip().lower()
        own = _own_origin()
        listed = False
        if origin is not None:
            if origin.strip().lower() == "null":
                return refuse(
                    "This request came from a page with an opaque origin ('Origin: null': a local "
                    "file, a sandboxed frame or a redirect), which may not use this server.",
                    f"Open the emrestore page itself ({own or 'http://127.0.0.1:<port>'}/); scripts "
                    "outside a browser (curl, Python) are not affected.")
            try:
                origin_key = normalise_origin(origin)
            except ParameterError:
                origin_key = None
            listed = origin_key in allowed
            if origin_key is None or (origin_key != own and not listed):
                return refuse(
                    f"This request came from the web page at {origin}, not from the emrestore page; "
                    "other sites may not use this server through a visitor's browser.",
                    f"Use the emrestore page ({own or 'http://127.0.0.1:<port>'}/), or restart the server "
                    f"with --allow-origin {origin} if that site should be allowed.")
        if site not in ALLOWED_FETCH_SITES and not listed:
            return refuse(
                f"This request came from another site (Sec-Fetch-Site: {site}); other sites may not "
                "use this server through a visitor's browser.",
                f"Use the emrestore page ({own or 'http://127.0.0.1:<port>'}/), or restart the server "
                "with --allow-origin URL for a site that should be allowed.")
        if request.method == "OPTIONS":
            if listed:  # a CORS preflight from an allowed origin
                response = Response(status=204)
                response.headers["Access-Control-Allow-Methods"] = "GET, POST"
                response.headers["Access-Control-Allow-Headers"] = CSRF_HEADER
                response.headers["Access-Control-Max-Age"] = "600"
                return response
            return None
        if (request.method in UNSAFE_METHODS and _looks_like_a_browser()
                and not request.headers.get(CSRF_HEADER, "").strip()):
            return refuse(
                f"A browser request that changes something must carry the header {CSRF_HEADER} "
                "(the emrestore page sends it), so that other web pages cannot submit forms to this server.",
                f"Send '{CSRF_HEADER}: emrestore' with the request; scripts outside a browser "
                "(curl, Python) need no such header.")
        return None

    @app.errorhandler(WebError)
    def web_error(error: WebError) -> Response:
        response = error_response(str(error), error.status)
        response.headers.update(error.headers)
        return response

    def stalled() -> Response:
        limit = f" for {request_timeout_s:g} s" if request_timeout_s else ""
        return error_response(
            f"The request stopped arriving{limit} before it was complete, so the server dropped it. "
            "Fix: check the network connection and send the file again.", 408)

    @app.errorhandler(TimeoutError)
    def timed_out(error: TimeoutError) -> Response:
        return stalled()

    @app.errorhandler(ClientDisconnected)
    def disconnected(error: ClientDisconnected) -> Response:
        # werkzeug reports a body read that timed out as a disconnect
        if isinstance(error.__context__, TimeoutError) or isinstance(error.__cause__, TimeoutError):
            return stalled()
        return error_response("The request ended before all of it arrived. Fix: send the file again.", 400)

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
    def security_headers(response: Response) -> Response:
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        response.headers.setdefault("Cache-Control", "no-store")
        origin = request.headers.get("Origin")
        if origin and allowed:
            response.vary.add("Origin")
            try:
                if normalise_origin(origin) in allowed:
                    response.headers["Access-Control-Allow-Origin"] = origin
            except ParameterError:
                pass
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
            "max_pixels": store.max_pixels,
            "read_timeout_s": store.read_timeout_s,
            "max_queue": store.max_queue,
            "workers": store.workers,
            "tile_px": {"min": MIN_TILE_PX, "max": MAX_TILE_PX},
            "request_timeout_s": request_timeout_s,
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
        try:
            job.future.result()
        except CancelledError:  # cancelled while it waited for a worker
            pass
        status = store.job_status(job)
        if job.state in ("error", "cancelled"):
            return error_response(job.error or "The restoration failed.", job.status)
        return jsonify(status["result"])

    @app.get("/api/jobs/<job_id>")
    def job(job_id: str) -> Response:
        return jsonify(store.job_status(store.get(job_id, kind="job")))

    @app.post("/api/jobs/<job_id>/cancel")
    def cancel(job_id: str) -> Response:
        job = store.get(job_id, kind="job")
        store.cancel(job)
        return jsonify(store.job_status(job))

    @app.post("/api/jobs/<job_id>/uncertainty")
    def uncertainty(job_id: str) -> Response:
        job = store.get(job_id, kind="job")
        return jsonify({"job": job.id, **store.uncertainty(job)})

    @app.get("/api/files/<entry_id>/<name>")
    def files(entry_id: str, name: str) -> Response:
        path, entry = store.file_path(entry_id, name)
        suffix, mimetype = SERVED_FILES[name]
        download = request.args.get("download", "0") not in ("0", "", "false")
        return send_file(path, mimetype=mimetype, as_attachment=download,
                         download_name=f"{entry.name}{suffix}{path.suffix}", max_age=0)

    return app


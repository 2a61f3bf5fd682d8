"""Run the web app on a threaded local HTTP server (``emrestore serve``).

The server is werkzeug's threaded WSGI server with three bounds added: every
connection's socket operations time out (``request_timeout_s``, so a half-sent request
cannot hold its thread), at most ``max_connections`` connections are served at once
(more get an immediate 503), and stopping never waits for a restoration in progress.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from werkzeug.serving import (
    ThreadedWSGIServer,
    WSGIRequestHandler,
    get_sockaddr,
    select_address_family,
)

from ..errors import EMRestoreError, ParameterError
from ..model.registry import ModelInfo
from .app import SECURITY_HEADERS, _is_loopback, create_app, normalise_origin
from .job_queue import DEFAULT_MAX_QUEUE
from .models import model_set
from .store import Store
from .uploads import DEFAULT_MAX_PIXELS, DEFAULT_READ_TIMEOUT_S

logger = logging.getLogger("emrestore.web")

#: Default upload limit [MB].
DEFAULT_MAX_UPLOAD_MB = 512.0
#: Default time results are kept after their last use [minutes].
DEFAULT_KEEP_MINUTES = 60.0
#: Default idle timeout of a connection: a request that sends nothing for this long is dropped [s].
DEFAULT_REQUEST_TIMEOUT_S = 30.0
#: Default number of connections served at once (each holds a thread).
DEFAULT_MAX_CONNECTIONS = 64


class _QuietHandler(WSGIRequestHandler):
    """Request handler that does not log every request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def _handler(quiet: bool, timeout_s: float) -> type[WSGIRequestHandler]:
    """A request handler class whose connections time out after ``timeout_s`` without progress.

    socketserver's StreamRequestHandler applies the class attribute ``timeout`` to the
    connection's socket, so every read (request line, headers, body) and write fails
    after that long without data; werkzeug then drops the connection.
    """
    base = _QuietHandler if quiet else WSGIRequestHandler
    return type("EMRestoreRequestHandler", (base,), {"timeout": float(timeout_s)})


_BUSY_BODY = json.dumps({"error": "The server is serving as many connections as it allows. "
                                  "Fix: try again in a few seconds."}).encode()


class BoundedThreadedServer(ThreadedWSGIServer):
    """werkzeug's threaded server with at most ``max_connections`` connection threads.

    A connection beyond the limit gets ``503`` at once and is closed, so a flood of idle
    connections cannot exhaust the machine's threads.
    """

    def __init__(self, *args: Any, max_connections: int = DEFAULT_MAX_CONNECTIONS, **kwargs: Any) -> None:
        self.max_connections = int(max_connections)
        self._slots = threading.BoundedSemaphore(self.max_connections)
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, request: socket.socket) -> None:
        head = ["HTTP/1.1 503 Service Unavailable", "Content-Type: application/json",
                f"Content-Length: {len(_BUSY_BODY)}", "Retry-After: 5", "Connection: close",
                *(f"{key}: {value}" for key, value in SECURITY_HEADERS.items())]
        try:
            request.settimeout(1.0)
            request.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + _BUSY_BODY)
        except OSError:
            pass
        finally:
            self.shutdown_request(request)
        logger.warning("refused a connection: %d connections are open already", self.max_connections)


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port), opened here so that errors are ours to word."""
    family = select_address_family(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(get_sockaddr(host, port, family))
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    return sock


class WebServer:
    """The emrestore web app on a threaded HTTP server.

    Parameters
    ----------
    host : str
        Address to listen on (default ``127.0.0.1``: this computer only).
    port : int
        Port (``0`` picks a free one; see :attr:`port`).
    models_dir : Path, optional
        Folder of extra ``.onnx`` models; a model named like a shipped tag replaces it.
    models : dict, optional
        Model name → :class:`ModelInfo`, instead of the shipped models + ``models_dir``.
    max_upload_mb : float
        Upload size limit [MB] (default 512).
    keep_minutes : float
        Uploads and results are deleted this long after their last use (default 60).
    workers : int
        Restorations that may run at the same time (default 2).
    temp_dir : Path, optional
        Parent of the server's temporary folder (default: the system's).
    quiet : bool
        Do not log each request.
    max_pixels : int
        Largest image read from an upload, all frames together [pixels] (default 8192² =
        64 Mpx); a file declaring more gets a 413 before its pixels are decoded.
    read_timeout_s : float
        Deadline for parsing one upload in its child process [s] (default 120).
    max_queue : int
        Restorations that may wait for a worker (default 8); more get a 503.
    allow_origins : iterable of str
        Web origins (``http://host:port``) besides the server's own whose pages may use
        the API from a browser.
    request_timeout_s : float
        A connection that sends or accepts nothing for this long is dropped [s] (default 30).
    max_connections : int
        Connections served at once (default 64); more get an immediate 503.

    Examples
    --------
    >>> with WebServer(port=0, models_dir="models") as server:   # doctest: +SKIP
    ...     server.start()
    ...     print(server.url)
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8000, *, models_dir: str | Path | None = None,
                 models: dict[str, ModelInfo] | None = None, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
                 keep_minutes: float = DEFAULT_KEEP_MINUTES, workers: int = 2,
                 temp_dir: str | Path | None = None, quiet: bool = False,
                 max_pixels: int = DEFAULT_MAX_PIXELS, read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
                 max_queue: int = DEFAULT_MAX_QUEUE, allow_origins: Iterable[str] = (),
                 request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS) -> None:
        if not max_upload_mb > 0:
            raise ParameterError(f"The upload limit must be positive (got {max_upload_mb} MB).",
                                 "Use e.g. --max-upload-mb 512.")
        if not 0 <= port <= 65535:
            raise ParameterError(f"Port {port} does not exist.", "Use a port from 1024 to 65535, e.g. 8000.")
        if not request_timeout_s > 0:
            raise ParameterError(f"The request timeout must be positive (got {request_timeout_s} s).",
                                 "Use e.g. --request-timeout 30.")
        if max_connections < 1:
            raise ParameterError(f"At least one connection must be allowed (got {max_connections}).",
                                 "Use e.g. max_connections=64.")
        allow_origins = [normalise_origin(origin) for origin in allow_origins]  # ParameterError if malformed
        if models is None:
            models = model_set(Path(models_dir) if models_dir is not None else None)
        self.store = Store(models, keep_seconds=keep_minutes * 60, workers=workers,
                           temp_dir=Path(temp_dir) if temp_dir is not None else None,
                           max_pixels=max_pixels, read_timeout_s=read_timeout_s, max_queue=max_queue)
        try:
            self.app = create_app(self.store, max_upload_bytes=int(max_upload_mb * 1e6),
                                  local_only=_is_loopback(host), allow_origins=allow_origins,
                                  request_timeout_s=request_timeout_s)
            listener = _listen(host, port)
        except OSError as error:
            self.store.close()
            raise EMRestoreError(f"Cannot listen on {host}:{port} ({error.strerror or error}).",
                                 "Choose another port with --port (e.g. --port 8001), or stop "
                                 "the program that uses it.") from error
        except BaseException:
            self.store.close()
            raise
        with listener:  # werkzeug duplicates the listening socket
            self._server = BoundedThreadedServer(
                host, port, self.app, _handler(quiet, request_timeout_s), fd=listener.fileno(),
                max_connections=max_connections)
        self._server.daemon_threads = True
        self.host = host
        self.allow_origins = tuple(allow_origins)
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._server.socket.getsockname()[1])

    @property
    def url(self) -> str:
        """The page's address."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/"

    def start(self) -> WebServer:
        """Serve in a background thread (for tests and embedding); returns self."""
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="emrestore-web", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (Ctrl+C) or :meth:`request_stop`."""
        self._server.serve_forever(poll_interval=0.5)

    def request_stop(self) -> None:
        """Make :meth:`serve_forever` return soon; safe to call from a signal handler.

        Raising from a signal handler can be lost: when the signal lands while the main
        thread runs a finaliser, Python prints the exception and carries on serving. This
        asks the serving loop to end instead (from a helper thread, as socketserver
        requires).
        """
        threading.Thread(target=self._server.shutdown, name="emrestore-web-stop", daemon=True).start()

    def stop(self) -> None:
        """Stop serving, cancel the restorations and delete the temporary files.

        Returns without waiting for a restoration in progress: it is cancelled (it stops
        after its current tile, in a daemon thread that cannot keep the process alive).
        Calling it again does nothing.
        """
        if self._stopped:
            return
        self._stopped = True
        try:
            if self._thread is not None:
                self._server.shutdown()  # the accept loop ends within its poll interval
                self._thread.join(timeout=10)
                self._thread = None
            self._server.server_close()
        finally:
            self.store.close()

    def __enter__(self) -> WebServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

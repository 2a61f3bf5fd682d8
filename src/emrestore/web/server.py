"""Run the web app on a threaded local HTTP server (``emrestore serve``)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, get_sockaddr, make_server, select_address_family

from ..errors import EMRestoreError, ParameterError
from ..restoration.models import ModelInfo
from .app import _is_loopback, create_app
from .store import Store, model_set


#: Default upload limit [MB].
DEFAULT_MAX_UPLOAD_MB = 512.0
#: Default time results are kept after their last use [minutes].
DEFAULT_KEEP_MINUTES = 60.0


class _QuietHandler(WSGIRequestHandler):
    """Request handler that does not log every request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


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

    Examples
    --------
    >>> with WebServer(port=0, models_dir="models") as server:   # doctest: +SKIP
    ...     server.start()
    ...     print(server.url)
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8000, *, models_dir: str | Path | None = None,
                 models: dict[str, ModelInfo] | None = None, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
                 keep_minutes: float = DEFAULT_KEEP_MINUTES, workers: int = 2,
                 temp_dir: str | Path | None = None, quiet: bool = False) -> None:
        if not max_upload_mb > 0:
            raise ParameterError(f"The upload limit must be positive (got {max_upload_mb} MB).",
                                 "Use e.g. --max-upload-mb 512.")
        if not 0 <= port <= 65535:
            raise ParameterError(f"Port {port} does not exist.", "Use a port from 1024 to 65535, e.g. 8000.")
        if models is None:
            models = model_set(Path(models_dir) if models_dir is not None else None)
        self.store = Store(models, keep_seconds=keep_minutes * 60, workers=workers,
                           temp_dir=Path(temp_dir) if temp_dir is not None else None)
        self.app = create_app(self.store, max_upload_bytes=int(max_upload_mb * 1e6),
                              local_only=_is_loopback(host))
        try:
            listener = _listen(host, port)
        except OSError as error:
            self.store.close()
            raise EMRestoreError(f"Cannot listen on {host}:{port} ({error.strerror or error}).",
                                 "Choose another port with --port (e.g. --port 8001), or stop "
                                 "the program that uses it.") from error
        with listener:  # werkzeug duplicates the listening socket
            self._server: BaseWSGIServer = make_server(
                host, port, self.app, threaded=True, fd=listener.fileno(),
                request_handler=_QuietHandler if quiet else WSGIRequestHandler)
        self._server.daemon_threads = True
        self.host = host
        self._thread: threading.Thread | None = None
        self._closed = False

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

    def start(self) -> "WebServer":
        """Serve in a background thread (for tests and embedding); returns self."""
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="emrestore-web", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (Ctrl+C)."""
        self._server.serve_forever(poll_interval=0.5)

    def stop(self) -> None:
        """Stop serving, wait for running restorations and delete the temporary files."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        if not self._closed:
            self._closed = True
            self._server.server_close()
            self.store.close()

    def __enter__(self) -> "WebServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""The emrestore web app: a drag-and-drop page and a small local HTTP API.

Start it with ``emrestore serve`` (see ``docs/web.md``) or from Python::

    from emrestore.web import WebServer
    with WebServer(port=8000) as server:
        server.serve_forever()
"""

from __future__ import annotations

from .job_queue import DEFAULT_MAX_QUEUE
from .server import (
    DEFAULT_KEEP_MINUTES,
    DEFAULT_MAX_UPLOAD_MB,
    DEFAULT_REQUEST_TIMEOUT_S,
    WebServer,
)
from .uploads import DEFAULT_MAX_PIXELS, DEFAULT_READ_TIMEOUT_S

__all__ = ["WebServer", "DEFAULT_KEEP_MINUTES", "DEFAULT_MAX_UPLOAD_MB", "DEFAULT_MAX_PIXELS",
           "DEFAULT_MAX_QUEUE", "DEFAULT_READ_TIMEOUT_S", "DEFAULT_REQUEST_TIMEOUT_S"]

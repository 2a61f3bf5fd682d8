"""The emrestore web app: a drag-and-drop page and a small local HTTP API.

Start it with ``emrestore serve`` (see ``docs/web.md``) or from Python::

    from emrestore.web import WebServer
    with WebServer(port=8000) as server:
        server.serve_forever()
"""

from __future__ import annotations

from .server import DEFAULT_KEEP_MINUTES, DEFAULT_MAX_UPLOAD_MB, WebServer

__all__ = ["WebServer", "DEFAULT_KEEP_MINUTES", "DEFAULT_MAX_UPLOAD_MB"]

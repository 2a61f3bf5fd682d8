"""``emrestore serve [--host 127.0.0.1] [--port 8000]``: the drag-and-drop web app and HTTP API."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import EMRestoreError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "serve",
        help="start the web app (drag-and-drop page + HTTP API)",
        description=(
            "Start the emrestore web app: open the printed address in a browser, drop an image, "
            "compare original and restored, download the calibrated result. Scripts can call "
            "the same HTTP API (POST /api/restore). By default only this computer can connect."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this computer only; "
                             "0.0.0.0 serves the whole network)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--models-dir", type=Path, metavar="DIR",
                        help="folder of extra .onnx models (with .json cards); a model named like a "
                             "shipped tag (hrstem.onnx, ...) replaces the shipped one")
    parser.add_argument("--max-upload-mb", type=float, default=512.0, metavar="MB",
                        help="largest upload accepted, in MB (default 512)")
    parser.add_argument("--keep-minutes", type=float, default=60.0, metavar="MIN",
                        help="delete uploads and results this long after their last use (default 60)")
    parser.add_argument("--workers", type=int, default=2,
                        help="restorations that may run at the same time (default 2)")
    parser.add_argument("--open", action="store_true", help="open the page in the default browser")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        from ..web import WebServer
    except ImportError as error:
        raise EMRestoreError(
            f"The web app needs Flask, which is not installed ({error}).",
            "Install it with: pip install 'emrestore[web]'.",
        ) from error

    server = WebServer(args.host, args.port, models_dir=args.models_dir, max_upload_mb=args.max_upload_mb,
                       keep_minutes=args.keep_minutes, workers=args.workers)
    models = ", ".join(server.store.models) or "none (use --models-dir)"
    print(f"emrestore web app on {server.url}  (models: {models})", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("warning: anyone who can reach this computer on the network can upload files to "
              "this server.", file=sys.stderr, flush=True)
    print("Press Ctrl+C to stop.", flush=True)
    if args.open:
        import webbrowser

        webbrowser.open(server.url)
    import signal

    def terminate(signum, frame):  # service managers and `kill` send SIGTERM: stop as on Ctrl+C
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        server.serve_forever()  # returns on Ctrl+C
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    print("stopped; temporary files deleted.", flush=True)
    return 0

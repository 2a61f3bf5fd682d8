"""``emrestore serve [--host 127.0.0.1] [--port 8000]``: the drag-and-drop web app and HTTP API."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from ..errors import EMRestoreError
from .common_options import is_quiet


def _pixel_count(text: str) -> int:
    from ..errors import ParameterError
    from ..web.uploads import parse_pixel_count

    try:
        return parse_pixel_count(text)
    except ParameterError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "serve",
        help="start the web app (drag-and-drop page + HTTP API)",
        description=(
            "Start the emrestore web app: open the printed address in a browser, drop an image, "
            "compare original and restored, download the calibrated result. Scripts can call "
            "the same HTTP API (POST /api/restore). By default only this computer can connect, "
            "and only the server's own page may use it from a browser."
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
    parser.add_argument("--max-pixels", type=_pixel_count, default=8192 * 8192, metavar="N",
                        help="largest image read, all frames together, as a pixel count or WxH "
                             "(default 8192x8192 = 64 Mpx); files declaring more are refused "
                             "before their pixels are decoded")
    parser.add_argument("--read-timeout", type=float, default=120.0, metavar="S",
                        help="deadline for reading one uploaded file, in seconds (default 120); "
                             "the reader runs in a child process that is stopped then")
    parser.add_argument("--keep-minutes", type=float, default=60.0, metavar="MIN",
                        help="delete uploads and results this long after their last use (default 60)")
    parser.add_argument("--workers", type=int, default=2,
                        help="restorations that may run at the same time (default 2)")
    parser.add_argument("--max-queue", type=int, default=8, metavar="N",
                        help="restorations that may wait for a worker (default 8); more are refused "
                             "with 503 until one finishes")
    parser.add_argument("--allow-origin", action="append", default=[], metavar="URL",
                        help="let pages of this web origin (e.g. http://lims.example:8080) use the "
                             "API from a browser; repeatable (default: only the server's own page)")
    parser.add_argument("--request-timeout", type=float, default=30.0, metavar="S",
                        help="drop a connection that sends nothing for this many seconds (default 30)")
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

    def terminate(signum: int, frame: Any) -> None:  # service managers and `kill` send SIGTERM
        if server is None:
            raise KeyboardInterrupt  # still starting: stop as on Ctrl+C
        server.request_stop()  # serving: end the loop (an exception raised here could be lost)

    # installed before the server makes its temporary folder, so that no SIGTERM leaves it behind
    server = None
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        server = WebServer(args.host, args.port, models_dir=args.models_dir, max_upload_mb=args.max_upload_mb,
                           keep_minutes=args.keep_minutes, workers=args.workers,
                           max_pixels=args.max_pixels, read_timeout_s=args.read_timeout,
                           max_queue=args.max_queue, allow_origins=args.allow_origin,
                           request_timeout_s=args.request_timeout)
        models = ", ".join(server.store.models) or "none (use --models-dir)"
        print(f"emrestore web app on {server.url}  (models: {models})", flush=True)
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print("warning: anyone who can reach this computer on the network can upload files to "
                  "this server.", file=sys.stderr, flush=True)
        if not is_quiet(args):
            print("Press Ctrl+C to stop.", flush=True)
        if args.open:
            import webbrowser

            webbrowser.open(server.url)
        server.serve_forever()  # returns on Ctrl+C (werkzeug catches the KeyboardInterrupt)
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            # a second Ctrl+C or SIGTERM must not interrupt the clean-up (it does not wait
            # for running restorations, so it is quick)
            interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            try:
                server.stop()
            finally:
                signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGTERM, previous)
    if server is None:  # interrupted while starting
        return 130
    if not is_quiet(args):
        print("stopped; temporary files deleted.", flush=True)
    return 0

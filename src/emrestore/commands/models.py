"""``emrestore models [--json]``: the models shipped with this version."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("models", help="list the shipped restoration models",
                                   description="List the models shipped inside the package.")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..model.registry import MODELS_DIR, shipped_models

    models = shipped_models()
    if args.json:
        print(json.dumps([m.summary() for m in models], indent=2))
        return 0
    if not models:
        print(f"No models are shipped in this version (looked in {MODELS_DIR}).")
        return 0
    for model in models:
        s = model.summary()
        params = f"{s['parameters']:,} params" if s.get("parameters") else "? params"
        print(f"{s['name']:8s} {s['modality'] or '?':5s} {s['config'] or '?':24s} {params:>16s}  {s['size_mb']} MB")
    return 0

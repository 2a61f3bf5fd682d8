"""``emrestore export CHECKPOINT OUT.onnx``: export a trained generator to ONNX + model card."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import OutputExistsError, ParameterError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export",
        help="export a training checkpoint to ONNX (with model card)",
        description=(
            "Export the generator of a checkpoint (a .pt file or a run directory) to ONNX with "
            "dynamic batch/height/width, check it against PyTorch, and write OUT.json (model card) "
            "and OUT.pt (PyTorch weights for the torch restore backend)."
        ),
    )
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint .pt file or run directory")
    parser.add_argument("output", metavar="OUT.onnx", help="ONNX file to write")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument("--weights", choices=("float32", "float16"), default="float32",
                        help="how the file stores the weights (default float32); float16 halves the file "
                             "and still computes in float32 (docs/network.md)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output")
    parser.add_argument("--no-stats-input", action="store_true",
                        help="single-input graph that normalises each input by its own mean/std "
                             "(default: a second input 'stats' = (mean, std) per image, used by tiling)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ParameterError("Export needs PyTorch, which is not installed.", "pip install 'emrestore[train]'.") from None
    from ..nn import build_generator
    from ..training.checkpoint import load_checkpoint
    from ..training.config import config_from_dict
    from ..training.export import export_onnx, save_torch_weights
    from ..training.model_card import (
        build_model_card,
        git_commit,
        hardware_info,
        write_model_card,
    )

    out = Path(args.output)
    if out.suffix.lower() != ".onnx":
        raise ParameterError(f"Output {out} does not end in .onnx.", "Name the output FILE.onnx.")
    card_path = out.with_suffix(".json")
    if not args.force and (out.exists() or card_path.exists()):
        raise OutputExistsError(f"{out} or {card_path} already exists.", "Use --force or another name.")
    state = load_checkpoint(args.checkpoint)
    config = config_from_dict(state["config"])
    generator = build_generator(config.model)
    generator.load_state_dict(state["generator"])
    info = export_onnx(generator, out, opset=args.opset, metadata={"tag": config.tag},
                       stats_input=not args.no_stats_input, weights=args.weights)
    save_torch_weights(generator, out.with_suffix(".pt"))
    progress = {
        "steps": int(state["step"]),
        "total_steps": config.total_steps,
        "pairs_seen": int(state["pairs_seen"]),
        "wall_time_s": round(float(state["wall_time_s"]), 3),
        "world_size": int(state.get("world_size", 1)),
        "finished": int(state["step"]) >= config.total_steps,
        "checkpoint": str(Path(state["path"]).resolve()),
        "initialised_from": state.get("initialised_from"),
    }
    hardware = state.get("hardware") or hardware_info(None, progress["world_size"])
    card = build_model_card(config.to_dict(), progress, state.get("validation"), info, hardware,
                            state.get("git") or git_commit())
    write_model_card(card_path, card)
    print(json.dumps({"onnx": str(out), "model_card": str(card_path), "max_abs_diff": info["max_abs_diff"]}))
    return 0

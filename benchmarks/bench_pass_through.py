"""What a model does to a frame that has no noise: the simulated twin of the real-data
pass-through criterion (a near-clean frame must come back at ≥ 35 dB).

For every ``stride``-th pair of each tag's evaluation set (``emrestore evaluate``'s cached set)
it restores (a) the pair's *target* itself — the expected frame, noise-free by definition — and
scores the output against it, and (b) the pair re-rendered at 10⁶ e⁻/px with the same specimen
and distortion parameters (``bench_error_budget.rerender``), against its target. Printed: the
mean PSNR [dB] of the input and of each model, and the correlation of the model's correction
(output − input) with the input's high-pass (``x − mean of 4 neighbours``) on the target
input: near −1 means the model removes real fine detail as if it were noise.

Usage::

    python benchmarks/bench_pass_through.py [--tags lrtem ...] [--stride 4] [--model tag=path.onnx ...]

Results: docs/models.md (cycle 8).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_error_budget import HIGH_DOSE, rerender  # noqa: E402

from emrestore.commands.evaluate import _cache_dir  # noqa: E402
from emrestore.datasets.bank import render_sample  # noqa: E402
from emrestore.evaluation.metrics import psnr  # noqa: E402
from emrestore.evaluation.validation import DOSE_KEYS, validation_pairs  # noqa: E402
from emrestore.restoration.engine import Restorer  # noqa: E402


def highpass(image: np.ndarray) -> np.ndarray:
    p = np.pad(image, 1, mode="reflect")
    return image - 0.25 * (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:])


def pass_through(tag: str, models: dict[str, str], stride: int, cache: Path) -> dict[str, dict[str, float]]:
    valset = validation_pairs(tag, cache_dir=cache, progress=False)
    restorers = {name: Restorer(path, progress=False) for name, path in models.items()}
    size = valset.inputs.shape[-1]
    rows: dict[str, dict[str, list[float]]] = {}

    def add(name: str, key: str, value: float) -> None:
        rows.setdefault(name, {}).setdefault(key, []).append(value)

    for i in range(0, len(valset), stride):
        target = valset.targets[i].astype(np.float32)
        original = render_sample(tag, size, valset.seed, i, pairs=True)
        reference = json.loads(str(original["params"]))["distortion"]
        key = next(k for k in DOSE_KEYS if k in reference)
        high = rerender(tag, size, valset.seed, i, {key: HIGH_DOSE}, reference)
        add("input", "dose 1e6", psnr(high["input"], high["target"]))
        for name, restorer in restorers.items():
            out = restorer.restore_array(target)
            add(name, "target as input", psnr(out, target))
            add(name, "correlation", float(np.corrcoef((out - target).ravel(), highpass(target).ravel())[0, 1]))
            add(name, "dose 1e6", psnr(restorer.restore_array(high["input"]), high["target"]))
    return {name: {k: float(np.nanmean(v)) for k, v in values.items()} for name, values in rows.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tags", nargs="*", default=["hrstem", "lrstem", "hrtem", "lrtem", "hrsem", "lrsem"])
    parser.add_argument("--stride", type=int, default=4, help="use every N-th pair of the 64 (default 4)")
    parser.add_argument("--model", action="append", default=[], help="also score TAG=PATH.onnx (repeatable)")
    parser.add_argument("--cache", default=None)
    args = parser.parse_args()
    cache = _cache_dir(args.cache)
    extra: dict[str, list[tuple[str, str]]] = {}
    for item in args.model:
        tag, path = item.split("=", 1)
        extra.setdefault(tag, []).append((f"{tag} ({Path(path).parent.name or path})", path))
    print("| tag | model | target as input [dB] | corr(correction, high-pass) | dose 1e6: input [dB] | dose 1e6: model [dB] |")
    print("|---|---|---:|---:|---:|---:|")
    for tag in args.tags:
        models = {f"{tag} (shipped)": tag, **dict(extra.get(tag, []))}
        result = pass_through(tag, models, args.stride, cache)
        for name, values in result.items():
            if name == "input":
                continue
            print(f"| {tag} | {name} | {values['target as input']:.2f} | {values['correlation']:+.2f} | "
                  f"{result['input']['dose 1e6']:.2f} | {values['dose 1e6']:.2f} |", flush=True)


if __name__ == "__main__":
    main()

"""The CPU training loop: network-step share of wall time and pairs/s per thread/worker split.

Runs :meth:`emrestore.training.Trainer.fit` (``max_steps``) with a tag's shipped config (crop,
batch, renderer + physical chain) and a generator preset, for each split of the cores into
torch intra-op threads (main process) and DataLoader workers, each in a fresh process, and
reports the trainer's own time profile (:mod:`emrestore.training.profile`) over the loop after
its warm-up: the share of wall time in the network step (forward + backward + optimiser), in
waiting for data, and the pairs/s. The validation set is made once (cached) and kept small,
so it does not count.

    PYTHONPATH=src python benchmarks/bench_train_loop.py --tag lrsem --presets tiny fast compact \\
        --splits 2x1 1x1 1x2 --json bench_train_loop.json

A split ``TxW`` is T torch threads and W workers (W = 0: pairs made in the main process).
``/proc/loadavg`` is recorded before and after each run: other jobs on the machine change the
numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Optimiser steps measured per preset after the warm-up (≈ 20-60 s each on 2 quiet cores).
DEFAULT_STEPS = {"tiny": 30, "fast": 16, "compact": 10}


def loadavg() -> str:
    """The 1/5/15-minute load averages (``/proc/loadavg``), or "" where there is none."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return ""


def measure(tag: str, preset: str, threads: int, workers: int, steps: int, cache: str) -> dict:
    """One run in this process: the trainer's time profile of ``steps`` steps (+ warm-up)."""
    import torch

    from emrestore.training import Trainer, config_from_dict, default_config
    from emrestore.training.profile import RATE_SKIP_STEPS

    data = default_config(tag).to_dict()
    data["model"] = {"preset": preset}
    data["data"].update(workers=workers, validation_size=8, validation_cache=cache)
    data["schedule"].update(validate_every=0, checkpoint_every=0, log_every=10**6)
    config = config_from_dict(data)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(config, run_dir, device="cpu", threads=threads, progress=False, export=False)
        result = trainer.fit(max_steps=steps + RATE_SKIP_STEPS)
    profile = result["time_profile"]
    steady = profile["steady"]
    return {
        "tag": tag, "preset": preset, "threads": threads, "workers": workers,
        "torch_threads": torch.get_num_threads(), "crop": config.data.crop, "batch": config.data.batch_size,
        "steps": steady["steps"], "seconds_per_step": steady["seconds_per_step"],
        "pairs_per_s": steady["pairs_per_s"], "step_share": steady["shares"]["step"],
        "data_share": steady["shares"]["data"], "log_share": steady["shares"]["log"],
        "startup_s": profile["seconds"]["startup"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default="lrsem")
    parser.add_argument("--presets", nargs="+", default=["tiny", "fast", "compact"])
    parser.add_argument("--splits", nargs="+", default=["2x1", "1x1", "1x2"],
                        help="TxW: T torch threads, W DataLoader workers")
    parser.add_argument("--steps", type=int, help="steps measured per run (default per preset)")
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("--child", nargs=5, metavar=("PRESET", "T", "W", "STEPS", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        preset, threads, workers, steps, cache = args.child
        print(json.dumps(measure(args.tag, preset, int(threads), int(workers), int(steps), cache)))
        return 0
    rows = []
    cache = tempfile.mkdtemp(prefix="bench_train_loop_")
    for preset in args.presets:
        steps = args.steps or DEFAULT_STEPS.get(preset, 20)
        for split in args.splits:
            threads, workers = (int(v) for v in split.lower().split("x"))
            before, began = loadavg(), time.perf_counter()
            out = subprocess.run([sys.executable, __file__, "--tag", args.tag, "--child", preset, str(threads),
                                  str(workers), str(steps), cache], capture_output=True, text=True, env=os.environ)
            if out.returncode:
                print(out.stderr, file=sys.stderr)
                return out.returncode
            row = json.loads(out.stdout.strip().splitlines()[-1])
            row.update(loadavg_before=before, loadavg_after=loadavg(), run_s=round(time.perf_counter() - began, 1))
            rows.append(row)
            print(f"{preset:8s} {threads} threads x {workers} workers: {row['pairs_per_s']:.3g} pairs/s, "
                  f"step {100 * row['step_share']:.0f} %, data wait {100 * row['data_share']:.0f} % "
                  f"({row['seconds_per_step']:.3g} s/step; load {before} -> {row['loadavg_after']})", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Speed of the CGRDN configurations: inference ms per 256×256 and training pairs/s.

Usage::

    MALLOC_MMAP_THRESHOLD_=17179869184 PYTHONPATH=src python benchmarks/bench_network.py \\
        [--configs paper fast tiny] [--threads 2] [--repeats 3] [--train-steps 3] [--json out.json]

For each configuration it measures, on random 256×256 inputs (batch 1):

* ``eager``: PyTorch, contiguous tensors, ``torch.no_grad``;
* ``channels-last``: PyTorch, channels-last + ``torch.inference_mode``;
* ``onnxruntime``: the exported graph (with the ``stats`` input), CPU provider;

and the training throughput of the real training step (:meth:`Trainer.train_step`, pixel
phase and adversarial phase) on batches of ``--batch`` × ``--crop``² pairs that are made
once beforehand (so pair generation is excluded; it is measured separately as
``data pairs/s`` for the synthetic source with Poisson noise, 1 process). Prints a
Markdown table (best of the repeats: the cores of the machine this was written on are
shared, and slower runs measure the neighbours).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from emrestore.nn import GENERATOR_PRESETS, build_generator, generator_gflop, generator_parameter_count
from emrestore.training import config_from_dict, export_onnx
from emrestore.training.trainer import Trainer


def timed(fn, repeats: int) -> float:
    """Best of ``repeats`` timed calls after one warm-up [s].

    The best (not the median) is reported because the benchmark machine's cores are shared:
    slower calls measure the neighbours' load, not the code.
    """
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _sync(device: torch.device):
    def run(fn):
        def wrapped():
            result = fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            return result
        return wrapped
    return run


def bench_inference(name: str, repeats: int, threads: int, device: torch.device) -> dict[str, float]:
    import onnxruntime as ort

    sync = _sync(device)
    model = build_generator(name, seed=0).eval().to(device)
    x = torch.rand(1, 1, 256, 256, device=device) * 100
    out: dict[str, float] = {}
    with torch.no_grad():
        out["eager_ms"] = 1e3 * timed(sync(lambda: model(x)), repeats)
    model_cl = model.to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        out["channels_last_ms"] = 1e3 * timed(sync(lambda: model_cl(x_cl)), repeats)
    model = model.cpu()
    x = x.cpu()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        export_onnx(model, path, check_shapes=((1, 64, 64),))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        feeds = {"image": x.numpy(), "stats": np.float32([[float(x.mean()), float(x.std())]])}
        out["onnxruntime_ms"] = 1e3 * timed(lambda: session.run(None, feeds), repeats)
    return out


def bench_training(name: str, steps: int, batch: int, crop: int, device: torch.device) -> dict[str, float]:
    config = config_from_dict({
        "tag": "hrstem", "seed": 0, "model": {"preset": name},
        "data": {"source": "synthetic", "degradation": "poisson", "crop": crop, "batch_size": batch,
                 "workers": 0, "validation_size": 1},
        "optim": {"warmup_steps": 0},
        "schedule": {"pixel_steps": 1000, "gan_steps": 1000},
    })
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, tmp, progress=False, export=False, device=str(device))
        sync = _sync(device)
        from emrestore.training import make_dataset

        dataset = make_dataset(config)
        start = time.perf_counter()
        pairs = [dataset[i] for i in range(batch)]
        out["data_pairs_per_s"] = batch / (time.perf_counter() - start)
        x = torch.stack([p[0] for p in pairs])
        y = torch.stack([p[1] for p in pairs])
        for phase, step0 in (("pixel", 0), ("gan", 1000)):
            trainer.step = step0
            best = timed(sync(lambda: trainer.train_step(x, y)), steps)
            out[f"train_{phase}_pairs_per_s"] = batch / best
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=list(GENERATOR_PRESETS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (torch runs; onnxruntime uses CUDA "
                        "when its CUDA provider is installed)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    machine = {
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu, "threads": args.threads, "cpu_count": os.cpu_count(),
        "torch": torch.__version__, "python": platform.python_version(),
        "malloc_mmap_threshold": os.environ.get("MALLOC_MMAP_THRESHOLD_", "unset"),
        "load_avg": os.getloadavg()[0],
        "device": args.device,
    }
    device = torch.device(args.device)
    if device.type == "cuda":
        machine["gpu"] = torch.cuda.get_device_name(device)
    print(f"# {machine}", flush=True)
    rows = []
    header = ("| config | params | GFLOP/256² | eager ms | channels-last ms | onnxruntime ms | "
              f"train pairs/s (pixel, {args.batch}×{args.crop}²) | train pairs/s (GAN) | data pairs/s |")
    print(header)
    print("|" + "---|" * 9, flush=True)
    for name in args.configs:
        row = {"config": name, "params": generator_parameter_count(name), "gflop_256": generator_gflop(name)}
        row.update(bench_inference(name, args.repeats, args.threads, device))
        row.update(bench_training(name, args.train_steps, args.batch, args.crop, device))
        rows.append(row)
        print(f"| {name} | {row['params']:,} | {row['gflop_256']:.1f} | {row['eager_ms']:.0f} | "
              f"{row['channels_last_ms']:.0f} | {row['onnxruntime_ms']:.0f} | "
              f"{row['train_pixel_pairs_per_s']:.2f} | {row['train_gan_pairs_per_s']:.2f} | "
              f"{row['data_pairs_per_s']:.0f} |", flush=True)
    machine["load_avg_end"] = os.getloadavg()[0]
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

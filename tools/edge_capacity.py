"""Can a generator body denoise while keeping pixel-sharp edges? The same small task for each.

Usage (from the repository root)::

    PYTHONPATH=src python tools/edge_capacity.py tiny [--steps 2000] [--refine 32]
    PYTHONPATH=src python tools/edge_capacity.py nlm          # the non-local-means reference

Task (docs/network.md, "What makes edges blur"): 64² frames of a random background and 1–4
random polygons, each pixel the area fraction of every shape (4× supersampled; edge σ ≈ 0.3 px),
half of them blurred by σ U[0, 1] px, with Poisson noise at 50–2,000 e⁻/px; L1 against the
clean frame; batch 8, one-cycle learning rate 5·10⁻⁴, seed 0, one thread. Scored on 64 held-out
frames (seed 999): RMS error over the step (1st–99th percentile of the clean frame) within about
1 px of the edges and in flat parts (≥ 4 px from any edge), and the noisy input's the same way.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

import numpy as np
from scipy import ndimage

SIZE, SUPERSAMPLE = 64, 4


def sample(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One (noisy, clean) pair, float32."""
    from PIL import Image, ImageDraw

    canvas = Image.new("F", (SIZE * SUPERSAMPLE, SIZE * SUPERSAMPLE), float(rng.uniform(0.2, 1.0)))
    draw = ImageDraw.Draw(canvas)
    for _ in range(rng.integers(1, 5)):
        centre = rng.uniform(0, SIZE * SUPERSAMPLE, 2)
        radius, corners = rng.uniform(8, 30) * SUPERSAMPLE, rng.integers(3, 8)
        angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
        draw.polygon([(float(centre[0] + radius * np.cos(a)), float(centre[1] + radius * np.sin(a)))
                      for a in angles], fill=float(rng.uniform(0.1, 1.0)))
    clean = np.asarray(canvas, np.float64).reshape(SIZE, SUPERSAMPLE, SIZE, SUPERSAMPLE).mean(axis=(1, 3))
    if rng.random() < 0.5:
        clean = ndimage.gaussian_filter(clean, rng.uniform(0, 1.0))
    dose = np.exp(rng.uniform(np.log(50), np.log(2000)))
    return (rng.poisson(clean * dose) / dose).astype(np.float32), clean.astype(np.float32)


def score(restore, frames: int = 64) -> dict[str, float]:
    """Mean edge-band and flat RMS error / step of ``restore`` and of the input over held-out frames."""
    rng = np.random.default_rng(999)
    rows: dict[str, list[float]] = {"band": [], "flat": [], "raw_band": [], "raw_flat": []}
    for _ in range(frames):
        noisy, clean = sample(rng)
        gradient = np.hypot(*np.gradient(clean))
        step = np.percentile(clean, 99) - np.percentile(clean, 1)
        if gradient.max() < 0.05 or step < 0.05:
            continue
        out = restore(noisy)
        band = ndimage.binary_dilation(gradient > 0.3 * gradient.max(), iterations=1)
        flat = ~ndimage.binary_dilation(gradient > 0.02, iterations=3)
        rows["band"].append(np.sqrt(np.mean((out - clean)[band] ** 2)) / step)
        rows["raw_band"].append(np.sqrt(np.mean((noisy - clean)[band] ** 2)) / step)
        if flat.sum() > 50:
            rows["flat"].append(np.sqrt(np.mean((out - clean)[flat] ** 2)) / step)
            rows["raw_flat"].append(np.sqrt(np.mean((noisy - clean)[flat] ** 2)) / step)
    return {k: float(np.mean(v)) for k, v in rows.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", help="a generator preset (tiny, fast, compact, paper) or 'nlm'")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--refine", type=int, default=0, help="channels of a full-resolution head (0: none)")
    args = parser.parse_args(argv)
    if args.preset == "nlm":
        from skimage.restoration import denoise_nl_means, estimate_sigma

        def nlm(y: np.ndarray) -> np.ndarray:
            sigma = float(estimate_sigma(y))
            return denoise_nl_means(y.astype(np.float64), h=0.8 * sigma, sigma=sigma, patch_size=5,
                                    patch_distance=6, fast_mode=True)

        print(json.dumps({"method": "nlm", **score(nlm)}))
        return 0
    import torch

    from emrestore.nn import build_generator
    from emrestore.nn.configs import generator_config

    torch.set_num_threads(1)
    config = replace(generator_config(args.preset), refine=args.refine)
    generator = build_generator(config, seed=0)
    optimiser = torch.optim.Adam(generator.parameters(), lr=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=5e-4, total_steps=args.steps, pct_start=0.05)
    rng = np.random.default_rng(1)
    started = time.time()
    for step in range(args.steps):
        noisy, clean = zip(*(sample(rng) for _ in range(8)))
        x, target = (torch.from_numpy(np.stack(a)[:, None]) for a in (noisy, clean))
        pred, mean, std = generator.forward_training(x)
        loss = (pred * std + mean - target).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 200 == 0:
            print(f"step {step}: L1 {loss.item():.4f} ({time.time() - started:.0f} s)", file=sys.stderr, flush=True)
    train_s = time.time() - started
    generator.eval()

    def network(y: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            pred, mean, std = generator.forward_training(torch.from_numpy(y)[None, None])
            return (pred * std + mean)[0, 0].numpy()

    print(json.dumps({"method": args.preset, "refine": args.refine, "steps": args.steps, "train_s": round(train_s),
                      "parameters": sum(p.numel() for p in generator.parameters()), **score(network)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

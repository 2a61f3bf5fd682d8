"""``emrestore demo``: simulate a low-dose HR-STEM frame, restore it, show the result.

With no arguments it renders a clean HR-STEM image with emrestore's own simulator (fixed
seed), degrades it with the STEM forward model at a low dose, restores it with the shipped
``hrstem`` model, and writes ``demo/``:

- ``input.tif`` — the simulated low-dose frame (calibrated float32 TIFF);
- ``target.tif`` — the noise-free truth;
- ``restored.tif`` — the restoration;
- ``side_by_side.png`` — the panels next to each other, PSNR against the truth in the titles.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo",
        help="simulate a low-dose HR-STEM image, restore it, write demo/",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--out", type=Path, default=Path("demo"), help="output folder (default demo/)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--dose", type=float, default=8.0, help="electron dose [e-/px] (default 8)")
    parser.add_argument("--size", type=int, default=384, help="image size [px] (default 384)")
    parser.set_defaults(func=run)
    return parser


def side_by_side(panels: list[tuple[str, np.ndarray]], path: Path, title: str) -> None:
    """Write panels next to each other, one shared grey scale (the target's), titled."""
    from PIL import Image, ImageDraw

    reference = panels[-1][1]
    low, high = np.percentile(reference, [0.5, 99.5])
    gap, header, footer = 8, 28, 4
    h, w = reference.shape
    sheet = Image.new("L", (len(panels) * w + (len(panels) - 1) * gap, h + header * 2 + footer), 255)
    draw = ImageDraw.Draw(sheet)
    draw.text((4, 4), title, fill=0)
    for i, (name, data) in enumerate(panels):
        scaled = np.clip((data - low) / max(high - low, 1e-12), 0, 1)
        tile = Image.fromarray(np.rint(scaled * 255).astype(np.uint8))
        x = i * (w + gap)
        sheet.paste(tile, (x, header * 2))
        draw.text((x + 4, header + 6), name, fill=0)
    sheet.save(path)


def run(args: argparse.Namespace) -> int:
    from .. import io
    from ..datasets import get_renderer
    from ..datasets.atomic import DEMO_PIXEL_NM
    from ..distortions import distort
    from ..evaluation.metrics import psnr  # lazily: scipy.ndimage costs every command ~1 s otherwise
    from ..image import EMImage
    from ..io.atomic import write_text_atomic
    from ..restoration import restore

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    sample = get_renderer("hrstem")(args.size, rng, pixel_size_nm=DEMO_PIXEL_NM)
    degraded, target, params = distort(
        sample.image, "stem", seed=args.seed, dose_e_per_px=args.dose,
        display_applied=False,
    )
    meta = {"simulated": True, "dose_e_per_px": args.dose, "specimen": sample.params.get("specimen")}
    calibration = dict(pixel_size=sample.pixel_size_nm, unit="nm", modality="stem")
    input_image = EMImage(degraded, metadata=meta, **calibration)
    target_image = EMImage(target, metadata=meta, **calibration)
    written = [io.write(input_image, out / "input.tif", overwrite=True),
               io.write(target_image, out / "target.tif", overwrite=True)]
    write_text_atomic(out / "parameters.json", json.dumps({"clean": sample.params, "distortion": params},
                                                          indent=2, default=str))
    scores = {"input": psnr(degraded, target)}
    panels = [(f"input ({args.dose:g} e-/px): PSNR {scores['input']:.1f} dB", degraded)]
    restored = restore(input_image, model="hrstem", progress=False)
    written.append(io.write(restored, out / "restored.tif", overwrite=True))
    scores["restored"] = psnr(restored.data, target)
    panels.append((f"restored (hrstem): PSNR {scores['restored']:.1f} dB", restored.data))
    panels.append(("noise-free truth", target))
    title = (f"emrestore demo: simulated HR-STEM, {sample.pixel_size_nm:.4g} nm/px, "
             f"dose {args.dose:g} e-/px")
    side_by_side(panels, out / "side_by_side.png", title)
    written.append(out / "side_by_side.png")
    for path in written:
        print(path)
    print("PSNR against the noise-free truth: " + ", ".join(f"{k} {v:.2f} dB" for k, v in scores.items()))
    return 0

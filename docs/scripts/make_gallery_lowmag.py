"""Gallery and timing of the morphology tags (hrsem, lrsem, lrtem, lrstem).

For each tag: 16 random clean targets (256 × 256), each above its degraded input made
by :func:`emrestore.distortions.distort`, with pixel size and dose in the titles, saved
as ``docs/gallery/<tag>.png``. If the distortion chains are not installed, the gallery
shows the clean targets only (titles say so).

With ``--timing N`` it also renders N clean images per tag on one core and prints the
seconds per 256² image as a Markdown table (paste it into docs/ground-truth-lr.md).

Usage::

    PYTHONPATH=src python docs/scripts/make_gallery_lowmag.py [--tags lrsem ...]
        [--seed 2024] [--out docs/gallery] [--size 256] [--timing 50]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # timings are per core
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from emrestore.datasets import get_renderer  # noqa: E402

TAGS = ("hrsem", "lrsem", "lrtem", "lrstem")
SIZE = 256


def _display(image: np.ndarray) -> np.ndarray:
    """Robust grey-level stretch (0.5–99.5 percentiles), as an operator would set it."""
    lo, hi = np.percentile(image, [0.5, 99.5])
    return np.clip((image - lo) / max(hi - lo, 1e-12), 0.0, 1.0)


def _format_px(nm: float) -> str:
    return f"{nm:.3g} nm/px" if nm < 1000 else f"{nm / 1000:.3g} µm/px"


def _dose(params: dict) -> str:
    for key, value in params.items():
        if key.startswith("dose"):
            unit = key.split("_", 1)[1].replace("_per_", "/") if "_" in key else ""
            return f"{float(value):.3g} {unit}"
    return "dose ?"


def make_gallery(tag: str, seed: int, out: Path, size: int = SIZE) -> Path:
    """Render the gallery of one tag (16 images of ``size`` px) and return the PNG path."""
    try:
        from emrestore.distortions import distort
    except ImportError:
        distort = None
        print(f"{tag}: emrestore.distortions not available, clean targets only", file=sys.stderr)
    render = get_renderer(tag)
    seq = np.random.SeedSequence([seed, TAGS.index(tag)])
    children = seq.spawn(16)
    rows = 8 if distort else 4
    fig, axes = plt.subplots(rows, 4, figsize=(4 * 2.6, rows * 2.75),
                             squeeze=False)
    for i, child in enumerate(children):
        rng = np.random.default_rng(child)
        sample = render(size, rng)
        kind = sample.params["kind"].replace("_", " ")
        contrast = sample.params["contrast"].upper()
        title = f"{kind}, {contrast}\n{_format_px(sample.pixel_size_nm)}"
        if distort is not None:
            r, c = 2 * (i // 4), i % 4
            degraded, _target, dparams = distort(sample.image, sample.modality,
                                                 seed=int(rng.integers(2 ** 31)))
            axes[r, c].imshow(_display(sample.image), cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_title(f"clean: {title}", fontsize=7)
            axes[r + 1, c].imshow(_display(np.asarray(degraded)), cmap="gray", vmin=0, vmax=1)
            axes[r + 1, c].set_title(f"degraded: {_dose(dparams)}", fontsize=7)
        else:
            r, c = i // 4, i % 4
            axes[r, c].imshow(_display(sample.image), cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_title(f"clean: {title}\n(no distortion chain: dose n/a)", fontsize=7)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.suptitle(f"{tag}: clean targets" + (" above degraded inputs" if distort else ""),
                 fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{tag}.png"
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    # everything is grey: store 8-bit grey (a third of the RGBA size)
    with Image.open(tmp) as im:
        im.convert("L").save(tmp, optimize=True)
    tmp.replace(path)
    return path


def timing(tags: tuple[str, ...], n: int, seed: int) -> str:
    """Seconds per clean 256² image for each tag, as a Markdown table."""
    lines = [f"Machine: {platform.processor() or platform.machine()}, "
             f"{platform.python_implementation()} {platform.python_version()}, one core; "
             f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {n} images per tag.", "",
             "| tag | mean s/image | median | 95th percentile |", "|---|---|---|---|"]
    for tag in tags:
        render = get_renderer(tag)
        render(SIZE, np.random.default_rng(seed))  # warm-up (imports, caches)
        times = []
        for i in range(n):
            rng = np.random.default_rng([seed, i])
            t0 = time.perf_counter()
            render(SIZE, rng)
            times.append(time.perf_counter() - t0)
        t = np.array(times)
        lines.append(f"| {tag} | {t.mean():.3f} | {np.median(t):.3f} | "
                     f"{np.percentile(t, 95):.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", nargs="+", default=list(TAGS), choices=TAGS)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", type=Path, default=Path("docs/gallery"))
    parser.add_argument("--size", type=int, default=SIZE, help="image side [px] (default 256)")
    parser.add_argument("--timing", type=int, default=0, metavar="N",
                        help="also time N renders per tag")
    parser.add_argument("--no-gallery", action="store_true")
    args = parser.parse_args(argv)
    if not args.no_gallery:
        for tag in args.tags:
            print(make_gallery(tag, args.seed, args.out, args.size))
    if args.timing:
        print(timing(tuple(args.tags), args.timing, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())

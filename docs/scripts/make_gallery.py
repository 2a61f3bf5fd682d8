"""Gallery of a model tag: 16 random clean targets above their degraded inputs.

Usage::

    PYTHONPATH=src python docs/scripts/make_gallery.py --tag hrstem --out docs/gallery/hrstem.png

Works for any tag with a renderer (``emrestore.datasets.available_tags()``). Samples are
rendered exactly as ``emrestore simulate --tag TAG --seed SEED --pairs`` would render them
(:func:`emrestore.datasets.bank.render_sample`). Without the distortion chain
(``emrestore.distortions``) only the clean rows are drawn, with a note.
"""

from __future__ import annotations

import argparse
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from emrestore.datasets.bank import render_sample  # noqa: E402


def _label(params: dict) -> str:
    spec = params.get("clean", {}).get("specimen", {})
    kind = spec.get("kind", "")
    name = spec.get("structure") or spec.get("material") or ""
    if kind == "nanoparticle" and spec.get("particles"):
        p = spec["particles"][0]
        name = f"{p.get('metal', '')} {p.get('shape', '')}".strip()
    elif kind in ("grain_boundary",) and spec.get("grains"):
        name = spec["grains"][0].get("structure", "")
    elif kind in ("interface",) and spec.get("grains"):
        name = "/".join(g.get("structure", "") for g in spec["grains"])
    elif kind == "interface" and spec.get("crystal"):
        name = f"{spec['crystal'].get('structure', '')}/a-{spec.get('amorphous', '')}"
    elif kind == "precipitate" and spec.get("matrix"):
        name = f"{spec['matrix'].get('structure', '')}+{spec['precipitate'].get('structure', '')}"
    za = spec.get("zone_axis")
    za = "[" + "".join(str(v) if v >= 0 else f"-{-v}" for v in za) + "]" if za else ""
    return f"{kind.replace('_', ' ')} {name} {za}".strip()


def _dose(dparams: dict) -> str:
    for key, value in dparams.items():
        if "dose" in key and isinstance(value, (int, float)):
            return f"{value:.3g} {key.replace('dose_', '').replace('_per_', '/').replace('_', ' ')}"
    return "dose n/a"


def _show(ax, image: np.ndarray, title: str) -> None:
    lo, hi = np.percentile(image, [0.5, 99.5])
    ax.imshow(image, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest")
    ax.set_title(title, fontsize=6.5)
    ax.set_xticks([])
    ax.set_yticks([])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--cols", type=int, default=8)
    parser.add_argument("--dpi", type=int, default=80)
    args = parser.parse_args(argv)
    try:
        import emrestore.distortions  # noqa: F401

        pairs = True
    except ImportError:
        pairs = False
        print("emrestore.distortions not available: drawing clean targets only", file=sys.stderr)
    samples = [render_sample(args.tag, args.size, args.seed, i, pairs=pairs) for i in range(args.n)]
    cols = args.cols
    groups = int(np.ceil(args.n / cols))
    rows = groups * (2 if pairs else 1)
    fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, 2.45 * rows + 0.8), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, s in enumerate(samples):
        params = json_params(s)
        g, c = divmod(i, cols)
        r = g * (2 if pairs else 1)
        px_a = params["pixel_size_nm"] * 10
        ax = axes[r, c]
        ax.axis("on")
        _show(ax, s["target"], f"clean · {px_a:.3g} Å/px\n{_label(params)}")
        if pairs:
            ax = axes[r + 1, c]
            ax.axis("on")
            _show(ax, s["input"], f"input · {px_a:.3g} Å/px\n{_dose(params.get('distortion', {}))}")
    note = "" if pairs else " (degraded inputs pending: distortion chain not installed)"
    fig.suptitle(f"{args.tag}: {args.n} random clean targets{' above their degraded inputs' if pairs else ''}"
                 f" (seed {args.seed}, {args.size}×{args.size}){note}", fontsize=10)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.85 / (2.45 * rows + 0.8), wspace=0.05, hspace=0.32)
    fig.savefig(args.out, dpi=args.dpi)
    print(f"wrote {args.out}")
    return 0


def json_params(sample: dict) -> dict:
    import json

    return json.loads(str(sample["params"]))


if __name__ == "__main__":
    sys.exit(main())

"""Does `emrestore finetune` help on real series? Frame-split: adapt without the scored frame.

A thin driver of :func:`emrestore.finetune.frame_split.score_finetune_split` (the same
measurement `emrestore evaluate --real-series DIR --finetune-steps N` puts into the evaluation
report), with options to compare the objectives: for every series of one field in the folder
(``../shared/data/real-series``: the 5-frame TIA TEM preview and the 2-page Zeiss FIB-SEM file)
and every frame *k*, the chosen shipped model is fine-tuned on the other frames, and frame *k* is
scored as the real-data benchmark's frame-split scorer does (registered, central ≤ 512² px,
against the registered mean of the other frames; PSNR, noise-corrected PSNR, SSIM).

Run::

    .venv/bin/python benchmarks/bench_finetune.py --steps 100 --only TEM --json /tmp/bench_finetune.json
    .venv/bin/python benchmarks/bench_finetune.py --steps 50 --only ZEISS --blind-spot pixel --w-synthetic 0.5
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
                        / "real-series", help="folder of real series (default ../shared/data/real-series)")
    parser.add_argument("--steps", type=int, default=100, help="fine-tuning steps per fold (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blind-spot", choices=("auto", "pixel", "row"),
                        help="what the blind-spot objective hides (default: finetune's, auto)")
    parser.add_argument("--w-synthetic", type=float, help="weight of the forward-model pairs (default: finetune's)")
    parser.add_argument("--only", help="score only files whose name contains this")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    from emrestore.finetune.frame_split import score_finetune_split
    from emrestore.evaluation.real_files import discover
    from emrestore.io.atomic import write_text_atomic

    if not args.series.is_dir():
        print(f"no folder {args.series}", file=sys.stderr)
        return 2
    overrides = {k: v for k, v in (("blind_spot", args.blind_spot), ("w_synthetic", args.w_synthetic)) if v is not None}
    files, _ = discover(args.series)
    series = [f for f in files if f.role == "series" and (args.only is None or args.only in f.name)]
    results = []
    for real in series:
        result = score_finetune_split(real, args.steps, seed=args.seed, progress=not args.quiet, **overrides)
        results.append(result.to_json())
        print(f"\n{real.name} ({result.tag}, {real.frames} frames, scored {list(result.scored_shape)})")
        for m in result.methods:
            print(f"  {m.name:34s} PSNR {m.psnr_db:6.2f} dB  corrected {m.psnr_corrected_db:6.2f} dB  SSIM {m.ssim:.3f}")
        for fold in result.folds:
            print(f"  fold k={fold['scored_frame']}: {fold['objectives']} ({fold['blind_spot']}) {fold['steps']} steps "
                  f"{fold['wall_time_s']} s, loss {fold['loss_first']['loss']:.4f} -> {fold['loss_last']['loss']:.4f}")
        if args.json:
            write_text_atomic(args.json, json.dumps({"steps": args.steps, "seed": args.seed, "overrides": overrides,
                                                     "results": results}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())

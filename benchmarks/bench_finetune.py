"""Does `emrestore finetune` help on real series? Frame-split: adapt without the scored frame.

For every series of one field in the folder (``../shared/data/real-series``: the 5-frame TIA TEM
preview and the 2-page Zeiss FIB-SEM file) and every frame *k*:

1. fine-tune the automatically chosen shipped model on the *other* frames (a fixed number of
   steps, so the result does not depend on the machine's speed),
2. restore frame *k* with the shipped model and with the fine-tuned one,
3. score both (and the raw frame) exactly as the real-data benchmark's frame-split scorer does
   (:func:`emrestore.evaluation.real_data.score_series`): frames registered, the restoration moved
   like frame *k*, compared on the central ≤ 512² px with the registered mean of the other frames;
   PSNR, noise-corrected PSNR (reference noise σ²/(N − 1) removed) and SSIM; means over *k*.

Caveat: the reference (mean of the other frames) is made of the frames the model adapted on;
Noise2Noise sees their noise only as targets (never the scored frame), but a model that learned
those frames' specific content could score better than on an unseen field. With 2 frames
(the SEM file) only the blind-spot and synthetic objectives run (no pair is left).

Run::

    .venv/bin/python benchmarks/bench_finetune.py --steps 100 --json /tmp/bench_finetune.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def score_file(real, steps: int, out_root: Path, seed: int, progress: bool, blind_spot: str = "auto",
               w_synthetic: float | None = None) -> dict:
    from emrestore.evaluation.real_data import (
        _accumulate,
        _scores,
        applicable_models,
        central_crop,
    )
    from emrestore.evaluation.registration import (
        difference_noise_variance,
        register_series,
    )
    from emrestore.finetune import FinetuneSettings, finetune
    from emrestore.restoration import load_model

    data = np.asarray(real.image.data, np.float32)
    n = len(data)
    tag = applicable_models(real)[0][0]
    registered = register_series(data)
    reference_var = difference_noise_variance(registered) / (n - 1)
    crop = central_crop(registered.frames.shape)
    shipped = load_model(tag, progress=False)
    rows: dict = {}
    folds = []
    for k in range(n):
        reference = registered.others_mean(k)[crop]
        _accumulate(rows, ("raw input", "baseline", False), registered.frames[k][crop], reference, reference_var)
        base = registered.align(shipped.restore_array(data[k]), k)[crop]
        _accumulate(rows, (f"emrestore {tag} (shipped)", "model", True), base, reference, reference_var)
        started = time.monotonic()
        out = out_root / f"{Path(real.name).stem}-k{k}"
        result = finetune([real.image], out, FinetuneSettings(model=tag, steps=steps, minutes=None, seed=seed,
                                                                    blind_spot=blind_spot,
                                                                    **({} if w_synthetic is None
                                                                       else {"w_synthetic": w_synthetic})),
                          frames={0: [i for i in range(n) if i != k]}, progress=progress, overwrite=True)
        tuned = registered.align(load_model(str(result.onnx_path), progress=False).restore_array(data[k]), k)[crop]
        _accumulate(rows, (f"emrestore {tag} fine-tuned", "model", False), tuned, reference, reference_var)
        card = json.loads(result.card_path.read_text())["finetune"]
        folds.append({"scored_frame": k, "adapted_on": [i for i in range(n) if i != k],
                      "objectives": card["objectives"]["active"],
                      "blind_spot": card["objectives"]["blind_spot"], "steps": result.steps,
                      "wall_time_s": round(time.monotonic() - started, 1),
                      "loss_first": card["loss_first_steps"], "loss_last": card["loss_last_steps"]})
    return {"file": real.name, "tag": tag, "frames": n, "scored_shape": list(registered.frames[0][crop].shape),
            "methods": [m.to_json() for m in _scores(rows)], "folds": folds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
                        / "real-series", help="folder of real files (default ../shared/data/real-series)")
    parser.add_argument("--steps", type=int, default=100, help="fine-tuning steps per fold (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blind-spot", default="auto", choices=("auto", "pixel", "row"),
                        help="what the blind-spot objective hides (default auto: rows for STEM/SEM)")
    parser.add_argument("--w-synthetic", type=float, help="weight of the forward-model pairs (default: finetune's)")
    parser.add_argument("--only", help="score only files whose name contains this")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    from emrestore.evaluation.real_files import discover

    if not args.series.is_dir():
        print(f"no folder {args.series}", file=sys.stderr)
        return 2
    files, _ = discover(args.series)
    series = [f for f in files if f.role == "series" and (args.only is None or args.only in f.name)]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as tmp:
        for real in series:
            result = score_file(real, args.steps, Path(tmp), args.seed, not args.quiet, args.blind_spot,
                                args.w_synthetic)
            results.append(result)
            print(f"\n{result['file']} ({result['tag']}, {result['frames']} frames, scored {result['scored_shape']})")
            for m in result["methods"]:
                print(f"  {m['name']:34s} PSNR {m['psnr_db']:6.2f} dB  corrected {m['psnr_corrected_db']:6.2f} dB  "
                      f"SSIM {m['ssim']:.3f}")
            for fold in result["folds"]:
                print(f"  fold k={fold['scored_frame']}: {fold['objectives']} {fold['steps']} steps "
                      f"{fold['wall_time_s']} s, loss {fold['loss_first']['loss']:.4f} -> {fold['loss_last']['loss']:.4f}")
            if args.json:
                args.json.write_text(json.dumps({"steps": args.steps, "seed": args.seed, "results": results},
                                                indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())

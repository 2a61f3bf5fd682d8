"""``emrestore evaluate``: score the shipped models against classical baselines, write the report.

For each tag: a held-out evaluation set (64 pairs of 256×256 px by default, rendered once and
cached), the baselines (raw, median, oracle Gaussian / non-local means / BM3D when the ``bm3d``
package is installed) and the shipped model (plus any ``--model`` files), with PSNR, SSIM,
low-dose PSNR and ms per image; per tag a plot of PSNR (and, for hrstem, column precision)
against dose and a side-by-side of raw / Gaussian / BM3D / models / truth on the truth's grey
scale; for hrstem, the precision of atomic columns located on raw, baseline and restored images; restored versions
of real files (``--real DIR``); the real-data benchmark (``--real-series DIR``:
:mod:`emrestore.evaluation.real_data`), which leads the report. Writes ``OUT/evaluation.md`` and ``OUT/evaluation/``.
"""

from __future__ import annotations

import argparse
import os
import pickle
from pathlib import Path

from .common_options import progress_enabled


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate",
        help="score models against classical baselines; write evaluation.md and figures",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--tag", action="append", metavar="TAG",
                        help="evaluate this tag (repeatable; default: every tag with a shipped model)")
    parser.add_argument("--model", action="append", default=[], metavar="ONNX",
                        help="also score this .onnx model (on the tag of its model card and, with --real-series, on the real files of its modality; repeatable)")
    parser.add_argument("--out", type=Path, default=Path("docs"),
                        help="folder for evaluation.md and evaluation/ (default docs)")
    parser.add_argument("--real", type=Path, metavar="DIR",
                        help="restore the micrographs in DIR (e.g. ../shared/data/real) and show them")
    parser.add_argument("--real-series", action="append", default=[], type=Path, metavar="DIR",
                        help="real-data benchmark on the files in DIR and its sub-folders (repeatable): frame-split "
                             "scoring of series, near-clean frames degraded at a dose ladder, Bragg-spot fidelity")
    parser.add_argument("--real-only", action="store_true",
                        help="only the real-data benchmark (no simulated evaluation sets)")
    parser.add_argument("--finetune-steps", type=int, default=0, metavar="N",
                        help="also fine-tune the chosen model on all frames but one of every real series, N steps "
                             "per frame, and score the held-out frame (needs the train extra; minutes per frame; "
                             "with --from-results: measured now and added to the saved results)")
    parser.add_argument("--n", type=int, default=64, help="evaluation pairs per tag (default 64)")
    parser.add_argument("--size", type=int, default=256, help="image edge [px] (default 256)")
    parser.add_argument("--bm3d-images", type=int, default=8, metavar="N",
                        help="run BM3D on N images spread over the doses (default 8; -1 all, 0 none)")
    parser.add_argument("--no-columns", action="store_true",
                        help="skip the atomic-column precision of hrstem (about 3 min on 2 cores)")
    parser.add_argument("--cache", type=Path, metavar="DIR",
                        help="cache for evaluation sets and baseline scores (default ~/.cache/emrestore/evaluation)")
    parser.add_argument("--save-results", type=Path, metavar="FILE",
                        help="also keep everything measured in FILE (a pickle), to redraw the report later")
    parser.add_argument("--from-results", type=Path, metavar="FILE",
                        help="redraw evaluation.md and its figures from a --save-results FILE (no measuring)")
    # -q/--quiet (no progress bars) and -v/--verbose: common_options, added by emrestore.cli
    parser.set_defaults(func=run)
    return parser


def _cache_dir(option: Path | None) -> Path:
    if option is not None:
        return option
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "emrestore" / "evaluation"


def command_line(args: argparse.Namespace) -> str:
    """The ``emrestore evaluate`` command that reproduces a report (options that differ from the defaults)."""
    parts = ["emrestore evaluate"]
    parts += [f"--tag {tag}" for tag in args.tag or []]
    parts += [f"--model {path}" for path in args.model]
    for option, value, default in (("--out", args.out, Path("docs")), ("--real", args.real, None),
                                   ("--n", args.n, 64), ("--size", args.size, 256),
                                   ("--bm3d-images", args.bm3d_images, 8)):
        if value != default:
            parts.append(f"{option} {value}")
    parts += [f"--real-series {path}" for path in args.real_series]
    if args.real_only:
        parts.append("--real-only")
    if args.finetune_steps:
        parts.append(f"--finetune-steps {args.finetune_steps}")
    if args.no_columns:
        parts.append("--no-columns")
    return " ".join(parts)


def _check_dependencies() -> None:
    import importlib.util

    from ..errors import ParameterError

    missing = [name for name, module in (("scikit-image", "skimage"), ("PyWavelets", "pywt"),
                                         ("matplotlib", "matplotlib"))
               if importlib.util.find_spec(module) is None]
    if missing:
        raise ParameterError(f"emrestore evaluate needs {' and '.join(missing)}, which is not installed.",
                             "pip install 'emrestore[eval]' (and 'emrestore[bench]' for the BM3D baseline).")


def _check_finetune_dependencies() -> None:
    import importlib.util

    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("onnx") is None:
        from ..errors import ParameterError

        raise ParameterError("--finetune-steps needs PyTorch and onnx, which are not installed.",
                             "pip install 'emrestore[train]', or drop --finetune-steps.")


def _add_finetune(real_data, steps: int, progress: bool) -> None:  # noqa: ANN001 - a RealBenchmark or None
    """Measure the fine-tuning frame split of the benchmark's real series and attach it to ``real_data``."""
    from ..errors import ParameterError
    from ..finetune.frame_split import finetune_series

    if real_data is None or not real_data.series:
        raise ParameterError("--finetune-steps: there is no real series to adapt on.",
                             "Give --real-series DIR with a series of one field (or saved results of such a run).")
    real_data.finetuned = finetune_series([r.file for r in real_data.series], steps, progress)


def save_results(path: Path, results: dict) -> None:
    """Pickle the measured ``results`` (evaluations, real, real_data, machine, command) atomically."""
    from ..io.atomic import write_atomic

    def write(temp: Path) -> None:
        with open(temp, "wb") as handle:
            pickle.dump(results, handle, protocol=pickle.HIGHEST_PROTOCOL)

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_atomic(path, write)
    except (pickle.PicklingError, TypeError, AttributeError, OSError) as error:  # keep the report regardless
        import warnings

        warnings.warn(f"--save-results {path}: results not saved ({error}).", stacklevel=2)


def load_results(path: Path) -> dict:
    """The results a ``--save-results`` run kept (only load files you wrote yourself: pickle)."""
    from ..errors import InputNotFoundError

    if not path.is_file():
        raise InputNotFoundError(f"--from-results {path} does not exist.",
                                 "Write it first: emrestore evaluate ... --save-results FILE.")
    with open(path, "rb") as handle:
        return _ResultsUnpickler(handle).load()


#: Modules a saved class of the evaluation may have moved to since it was saved.
_RESULT_MODULES = tuple(f"emrestore.evaluation.{name}" for name in (
    "scoring", "real_examples", "report", "columns", "column_fit", "real_data", "validation", "baselines",
    "lattice", "metrics", "registration", "real_files", "figures")) + ("emrestore.finetune.frame_split",)


class _ResultsUnpickler(pickle.Unpickler):
    """Unpickles saved results whose classes have since moved (within the evaluation, or to finetune)."""

    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle's signature
        try:
            return super().find_class(module, name)
        except (AttributeError, ModuleNotFoundError):
            if not module.startswith("emrestore.evaluation."):
                raise
        import importlib

        for candidate in _RESULT_MODULES:
            found = getattr(importlib.import_module(candidate), name, None)
            if isinstance(found, type):
                return found
        raise AttributeError(f"{module}.{name} (saved results of an older emrestore)")


def run(args: argparse.Namespace) -> int:
    _check_dependencies()
    if args.finetune_steps < 0:
        from ..errors import ParameterError

        raise ParameterError(f"--finetune-steps {args.finetune_steps} is negative.", "Pass N ≥ 1, or 0 to skip it.")
    if args.finetune_steps:
        _check_finetune_dependencies()
    if args.from_results is not None:
        from ..evaluation import write_report

        saved = load_results(args.from_results)
        if args.finetune_steps:
            _add_finetune(saved.get("real_data"), args.finetune_steps, progress_enabled(args))
            if args.save_results is not None:
                save_results(args.save_results, saved)
        path = write_report(saved["evaluations"], saved["real"], args.out, saved["machine"],
                            command=saved["command"], real_data=saved["real_data"], date=saved.get("date"))
        print(path)
        return 0
    from ..errors import InputNotFoundError, ParameterError
    from ..evaluation import evaluate_tag, validation_pairs, write_report
    from ..evaluation.real_examples import restore_real
    from ..model.registry import find_model, shipped_models
    from ..tags import TAG_NAMES, Tag
    from ..training.model_card import cpu_model, git_commit

    shipped = {m.name for m in shipped_models()}
    extra: dict[str, list[str]] = {}
    for path in args.model:
        info = find_model(path)
        if info.tag not in TAG_NAMES:
            raise ParameterError(f"Model {path} has no model tag in its card.",
                                 "Score models exported by `emrestore train` / `emrestore export`.")
        extra.setdefault(info.tag, []).append(str(info.onnx_path))
    tags = args.tag or [t for t in TAG_NAMES if t in shipped or t in extra]
    for tag, paths in extra.items():
        if tag not in tags:
            raise ParameterError(f"{paths[0]} is a {tag} model, but only {', '.join(tags)} is evaluated.",
                                 f"Add --tag {tag}, or drop --tag.")
    for tag in tags:
        Tag.get(tag)  # an unknown tag raises
    if not tags:
        raise ParameterError("No model to evaluate: this version ships none and no --model was given.",
                             "Pass --model FILE.onnx (e.g. a run's model.onnx).")
    if args.real is not None and not args.real.is_dir():
        raise InputNotFoundError(f"--real {args.real} is not a folder.", "Point --real at a folder of micrographs.")
    for folder in args.real_series:
        if not folder.is_dir():
            raise InputNotFoundError(f"--real-series {folder} is not a folder.",
                                     "Point --real-series at a folder of real micrographs (e.g. ../shared/data/real-series).")
    if args.finetune_steps and not args.real_series:
        raise ParameterError("--finetune-steps needs --real-series DIR (the series to adapt on).",
                             "Add --real-series DIR, or drop --finetune-steps.")
    if args.real_only and not args.real_series:
        raise ParameterError("--real-only needs --real-series DIR.", "Add --real-series DIR, or drop --real-only.")
    cache = _cache_dir(args.cache)
    progress = progress_enabled(args)
    evaluations = []
    real_data = None
    if args.real_series:
        from ..evaluation.real_data import run_real_benchmark

        real_data = run_real_benchmark([str(p) for p in args.real_series], bm3d=args.bm3d_images != 0,
                                       progress=progress, candidates=[p for ps in extra.values() for p in ps])
        if args.finetune_steps:
            _add_finetune(real_data, args.finetune_steps, progress)
        for r in real_data.series:
            for m in r.methods:
                print(f"real    {r.file.name[:28]:28s} {m.name:34s} PSNR {m.psnr_db:6.2f} dB  "
                      f"corrected {m.psnr_corrected_db:6.2f} dB  SSIM {m.ssim:.3f}")
    for tag in ([] if args.real_only else tags):
        valset = validation_pairs(tag, n=args.n, size=args.size, cache_dir=cache, progress=progress)
        models = ([tag] if tag in shipped else []) + extra.get(tag, [])
        evaluation = evaluate_tag(valset, models, bm3d_images=args.bm3d_images, cache_dir=cache, progress=progress,
                                  columns=not args.no_columns)
        evaluations.append(evaluation)
        for row in evaluation.table():
            print(f"{tag:7s} {row['method']:34s} PSNR {row['psnr_mean_db']:6.2f} dB  SSIM {row['ssim_mean']:.3f}  "
                  f"low-dose {row['low_dose_psnr_mean_db']:6.2f} dB  {row['ms_median']:8.1f} ms  ({row['n']} images)")
    real = []
    if args.real is not None:
        from ..restoration.inputs import (
            expand_inputs,  # readable files only, .emi preferred to its .ser
        )

        files, _ = expand_inputs([str(args.real)])
        real = [restore_real(p, args.out / "evaluation") for p in files]
    machine = {"cpu_model": cpu_model(), "threads": os.cpu_count(), **git_commit()}
    if hasattr(os, "getloadavg"):  # other jobs on the cores slow the timed models: the header says so
        machine["load_average_5min"] = round(os.getloadavg()[1], 1)
    if args.save_results is not None:
        import datetime as _dt

        save_results(args.save_results, {
            "evaluations": evaluations, "real": real, "real_data": real_data, "machine": machine,
            "command": command_line(args),
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")})
    path = write_report(evaluations, real, args.out, machine, command=command_line(args), real_data=real_data)
    print(path)
    return 0

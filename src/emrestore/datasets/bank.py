"""Banks of clean images (and optionally degraded pairs), rendered once and reused.

:func:`render_bank` renders ``n`` samples of any registered tag into a directory: one
``NNNNNNN.npz`` per sample (``target``, ``input`` with pairs, ``columns`` and
``column_info`` where the renderer gives them, ``params`` as a JSON string) plus
``bank.json`` with the configuration. Sample ``i`` is rendered from the generator seeded
by ``SeedSequence(seed, spawn_key=(i,))``, so its content does not depend on the number
of workers, on the order of completion, or on resuming. Files are written atomically
(:mod:`emrestore.io.atomic`); an interrupted bank is completed by running the
same command again (valid files are kept, others re-rendered).
"""

from __future__ import annotations

import json
import os
import zipfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..io.atomic import save_npz_atomic, write_text_atomic
from ..tags import Tag
from .registry import get_renderer

BANK_FILE = "bank.json"


def sample_rng(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    """Generator for sample ``index`` of a bank with ``seed`` (``stream`` 1 = degradation)."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(index), int(stream))))


def sample_path(out: Path, index: int) -> Path:
    """File of sample ``index``."""
    return Path(out) / f"{index:07d}.npz"


def read_bank_config(directory: str | os.PathLike) -> dict[str, Any] | None:
    """The configuration in ``directory``'s :data:`BANK_FILE` (``None``: missing or unreadable)."""
    try:
        config = json.loads((Path(directory) / BANK_FILE).read_text())
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def stored_pixel_size_nm(params: np.ndarray | str) -> float | None:
    """``pixel_size_nm`` [nm] from a sample file's JSON ``params`` (``None`` if absent or unreadable)."""
    try:
        value = json.loads(str(params)).get("pixel_size_nm")
        return float(value) if value else None
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
        return None


def is_valid_sample(path: Path, pairs: bool, size: int | None = None) -> bool:
    """True when ``path`` is a complete sample file (readable, finite, right shape)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if "target" not in f or "params" not in f or (pairs and "input" not in f):
                return False
            target = f["target"]
            if size is not None and target.shape != (size, size):
                return False
            if not np.isfinite(target).all():
                return False
            json.loads(str(f["params"]))
            if pairs and f["input"].shape != target.shape:
                return False
        return True
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return False


def render_sample(tag: str, size: int, seed: int, index: int, pairs: bool = False,
                  distort_params: dict | None = None) -> dict[str, np.ndarray]:
    """Render sample ``index`` of a bank; returns the arrays to store."""
    renderer = get_renderer(tag)
    clean = renderer(size, sample_rng(seed, index))
    params: dict[str, Any] = {"tag": tag, "index": index, "bank_seed": seed, "clean": clean.params,
                              "pixel_size_nm": clean.pixel_size_nm, "modality": clean.modality}
    arrays: dict[str, np.ndarray] = {"target": np.asarray(clean.image, np.float32)}
    if pairs:
        from ..distortions import distort  # the distortion chain; imported only for pairs

        degraded, target, dparams = distort(clean.image, clean.modality, seed=sample_rng(seed, index, 1),
                                            pixel_size_nm=clean.pixel_size_nm, **(distort_params or {}))
        arrays["input"] = np.asarray(degraded, np.float32)
        arrays["target"] = np.asarray(target, np.float32)
        params["distortion"] = dparams
    if clean.columns is not None:
        arrays["columns"] = np.asarray(clean.columns, np.float32).reshape(-1, 2)
        arrays["column_info"] = np.array(json.dumps(clean.column_info or []))
    arrays["params"] = np.array(json.dumps(params))
    return arrays


def _job(tag: str, size: int, seed: int, index: int, out: str, pairs: bool, distort_params: dict | None) -> int:
    save_npz_atomic(sample_path(Path(out), index), **render_sample(tag, size, seed, index, pairs, distort_params))
    return index


def _version() -> str:
    from .. import __version__

    return __version__


def render_bank(
    tag: str, n: int, size: int, seed: int, out: str | os.PathLike, workers: int = 1, pairs: bool = False,
    progress: bool = True, distort_params: dict | None = None,
) -> dict[str, Any]:
    """Render a bank (resumable).

    Parameters
    ----------
    tag : str
        Model tag (one of :data:`~emrestore.datasets.registry.TAGS` with a renderer).
    n : int
        Number of samples.
    size : int
        Image size [px].
    seed : int
        Bank seed.
    out : path
        Output directory (created if needed).
    workers : int
        Worker processes (1 = render in this process).
    pairs : bool
        Also write degraded inputs through :func:`emrestore.distortions.distort`.
    progress : bool
        Show a tqdm progress bar.
    distort_params : dict, optional
        Fixed parameters passed to ``distort``.

    Returns
    -------
    dict
        ``{"rendered": k, "skipped": m, "config": {...}}``.

    Raises
    ------
    ParameterError
        Bad tag, sizes, or a directory holding a bank with another configuration.
    """
    Tag.get(tag)  # an unknown tag raises
    get_renderer(tag)
    if n < 1 or size < 8 or workers < 1:
        raise ParameterError(f"Need n >= 1, size >= 8 and workers >= 1 (got n={n}, size={size}, workers={workers}).",
                             "Pass positive values, e.g. --n 100 --size 256 --workers 2.")
    if seed < 0:
        raise ParameterError(f"Seed must be non-negative, got {seed}.", "Pass --seed 0 or another integer >= 0.")
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    config = {"tag": tag, "size": int(size), "seed": int(seed), "pairs": bool(pairs),
              "distort_params": distort_params or {}, "emrestore_version": _version()}
    meta_path = outdir / BANK_FILE
    if meta_path.exists():
        old = read_bank_config(outdir) or {}
        if any(old.get(k) != config[k] for k in ("tag", "size", "seed", "pairs", "distort_params")):
            raise ParameterError(
                f"{outdir} holds a bank made with another configuration ({old.get('tag')}, size {old.get('size')}, "
                f"seed {old.get('seed')}, pairs {old.get('pairs')}).",
                "Use a new --out directory or the same --tag/--size/--seed/--pairs as before.")
        config["n"] = max(int(n), int(old.get("n", 0)))
    else:
        config["n"] = int(n)
    write_text_atomic(meta_path, json.dumps(config, indent=2))

    todo = [i for i in range(n) if not is_valid_sample(sample_path(outdir, i), pairs, size)]
    skipped = n - len(todo)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, initial=skipped, desc=f"simulate {tag}", unit="img")
    try:
        if workers == 1 or len(todo) <= 1:
            for i in todo:
                _job(tag, size, seed, i, str(outdir), pairs, distort_params)
                if bar:
                    bar.update(1)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(_job, tag, size, seed, i, str(outdir), pairs, distort_params) for i in todo]
                for fut in as_completed(futures):
                    fut.result()
                    if bar:
                        bar.update(1)
    finally:
        if bar:
            bar.close()
    return {"rendered": len(todo), "skipped": skipped, "config": config}


def load_sample(path: str | os.PathLike) -> dict[str, Any]:
    """Read one sample file: arrays plus ``params`` (and ``column_info``) decoded from JSON."""
    with np.load(path, allow_pickle=False) as f:
        out: dict[str, Any] = {k: f[k] for k in f.files}
    out["params"] = json.loads(str(out["params"]))
    if "column_info" in out:
        out["column_info"] = json.loads(str(out["column_info"]))
    return out


__all__ = ["BANK_FILE", "is_valid_sample", "load_sample", "read_bank_config", "render_bank", "render_sample", "sample_path",
           "sample_rng", "stored_pixel_size_nm"]

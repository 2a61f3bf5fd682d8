"""The fixed, held-out evaluation set of a model tag.

Pair ``i`` of tag ``T`` is :func:`emrestore.datasets.bank.render_sample` with the
evaluation seed: a clean image from ``T``'s renderer degraded by its modality's full
distortion chain, except that no pair is left clean (training shows the network 5 % of
identical input/target pairs so it learns to leave clean images alone; scoring those would
only measure an infinite input PSNR). Training banks use other seeds (``emrestore simulate --seed 0``), so
the specimens here were never seen in training.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets.bank import render_sample
from ..errors import ParameterError
from ..io.atomic import save_npz_atomic
from ..optics.potential import resolve_potential
from ..tags import Tag

#: Seed of the evaluation sets (training banks use seed 0).
EVAL_SEED = 20261122

#: Version of the simulator (clean renderers + distortion ranges) the evaluation sets are
#: drawn from; part of their cache key. "2026-12-realism": HR pixel sizes 0.05–1.0 Å, lrsem
#: up to 5 µm, support-film texture and vacuum backgrounds, high-dose tails (docs/realism.md).
#: "2026-12-expected-frame": as before, the target now the expected frame (the detector PSF,
#: dwell blur and afterglow kept: docs/distortions.md, "The target"). Numbers measured on sets
#: of an older version are not comparable with newer ones. Model cards record it.
SIMULATOR_VERSION = "2026-12-expected-frame"

#: Distortion parameter holding the dose of each modality's chain.
DOSE_KEYS = ("dose_e_per_px", "dose_pe_per_px")


@dataclass
class ValidationSet:
    """Degraded inputs, targets and doses of one tag's evaluation set.

    Attributes
    ----------
    tag : str
    inputs, targets : numpy.ndarray
        (N, size, size) float32, in the chain's output units.
    doses : numpy.ndarray
        (N,) electron dose of each pair [e⁻/px; primary electrons per px for SEM].
    pixel_size_nm : numpy.ndarray
        (N,) pixel size of each clean image [nm].
    key : str
        Hash of (tag, n, size, seed, :data:`SIMULATOR_VERSION`): names caches built on this set.
    seed : int
        The seed it was made with (pair ``i`` is sample ``i`` of that seed).
    columns : tuple of numpy.ndarray, optional
        For atomic-resolution tags: the (K, 2) float32 true column positions (x, y) [px] of
        each pair, as the renderer returned them; ``None`` for tags without columns.
    dark_columns : numpy.ndarray, optional
        (N,) True where the columns appear dark (ABF detector); ``None`` with ``columns``.
    """

    tag: str
    inputs: np.ndarray
    targets: np.ndarray
    doses: np.ndarray
    pixel_size_nm: np.ndarray
    key: str
    seed: int = EVAL_SEED
    columns: tuple[np.ndarray, ...] | None = None
    dark_columns: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.inputs)

    def low_dose(self) -> np.ndarray:
        """Boolean mask of the lowest third of doses."""
        return self.doses <= np.quantile(self.doses, 1.0 / 3.0)


def _dose(params: dict) -> float:
    distortion = params.get("distortion", {})
    for key in DOSE_KEYS:
        if key in distortion:
            return float(distortion[key])
    raise ParameterError(f"Distortion parameters of {params.get('tag')} carry no dose.",
                         f"Expected one of {DOSE_KEYS}.")


def evaluation_set_key(tag: str, n: int, size: int, seed: int) -> str:
    """The 12-hex-digit key naming the evaluation set of ``tag`` (its cache file and its baselines'
    scores): the draw (``n``, ``size``, ``seed``), the simulator version and, for ``hrtem``, the
    potential its renderer resolves ``"auto"`` to here — abTEM's Lobato where abTEM is installed,
    else Molière (:func:`~emrestore.optics.potential.resolve_potential`) — which changes the frames."""
    parts: list = [tag, n, size, seed, "no-clean-pairs", SIMULATOR_VERSION]
    if tag == "hrtem":
        parts.append(resolve_potential("auto"))
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]


def validation_pairs(tag: str, n: int = 64, size: int = 256, seed: int = EVAL_SEED,
                     cache_dir: str | Path | None = None, progress: bool = True) -> ValidationSet:
    """Render (or read back from ``cache_dir``) the evaluation set of ``tag``.

    Parameters
    ----------
    tag : str
        Model tag (``hrstem``, ``lrsem``, ...).
    n : int
        Number of pairs (default 64).
    size : int
        Image edge [px] (default 256).
    seed : int
        Evaluation seed (default :data:`EVAL_SEED`).
    cache_dir : path-like, optional
        Folder for ``valset_TAG_KEY.npz``; the set is rendered once and reused.
    progress : bool
        Progress bar while rendering.
    """
    Tag.get(tag)  # an unknown tag raises
    if n < 3 or size < 32:
        raise ParameterError(f"An evaluation set needs n ≥ 3 pairs of ≥ 32 px (got n={n}, size={size}).",
                             "Use the defaults, n=64 and size=256.")
    key = evaluation_set_key(tag, n, size, seed)
    path = Path(cache_dir) / f"valset_{tag}_{key}.npz" if cache_dir is not None else None
    if path is not None and path.is_file():
        with np.load(path) as f:
            if "column_offsets" in f:  # sets cached before they carried their columns are rendered again
                return ValidationSet(tag, f["inputs"], f["targets"], f["doses"], f["pixel_size_nm"], key, seed,
                                     *_unpack_columns(f["column_xy"], f["column_offsets"], f["dark_columns"]))
    from tqdm.auto import tqdm

    inputs, targets, doses, pixels, columns, dark = [], [], [], [], [], []
    for i in tqdm(range(n), desc=f"render {tag} evaluation set", unit="pair", disable=not progress):
        arrays = render_sample(tag, size, seed, i, pairs=True)
        params = json.loads(str(arrays["params"]))
        inputs.append(arrays["input"])
        targets.append(arrays["target"])
        doses.append(_dose(params))
        pixels.append(float(params["pixel_size_nm"]))
        if "columns" in arrays:
            columns.append(arrays["columns"])
            dark.append(params["clean"].get("detector") == "abf")
    result = ValidationSet(tag, np.stack(inputs).astype(np.float32), np.stack(targets).astype(np.float32),
                           np.array(doses), np.array(pixels), key, seed,
                           tuple(columns) if columns else None, np.array(dark) if columns else None)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_npz_atomic(path, inputs=result.inputs, targets=result.targets, doses=result.doses,
                        pixel_size_nm=result.pixel_size_nm, **_pack_columns(result))
    return result


def _pack_columns(valset: ValidationSet) -> dict[str, np.ndarray]:
    """The set's columns as three arrays for its cache file (an offset of -1: no columns)."""
    if valset.columns is None:
        return {"column_xy": np.zeros((0, 2), np.float32), "column_offsets": np.array([-1]),
                "dark_columns": np.zeros(0, bool)}
    offsets = np.cumsum([0] + [len(xy) for xy in valset.columns])
    return {"column_xy": np.concatenate(valset.columns).astype(np.float32).reshape(-1, 2),
            "column_offsets": offsets, "dark_columns": np.asarray(valset.dark_columns, bool)}


def _unpack_columns(xy: np.ndarray, offsets: np.ndarray, dark: np.ndarray
                    ) -> tuple[tuple[np.ndarray, ...] | None, np.ndarray | None]:
    """(columns, dark_columns) from the arrays :func:`_pack_columns` wrote."""
    if len(offsets) and offsets[0] < 0:
        return None, None
    return tuple(xy[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)), np.asarray(dark, bool)

"""The real-data benchmark: how restorers do on micrographs no simulator made.

Three measurements, one per kind of real file (:mod:`emrestore.evaluation.real_files`):

* :func:`score_series` — **frame-split scoring** of a series of one field: frames registered
  (:mod:`~emrestore.evaluation.registration`), frame *k* restored on its own and compared with
  the registered mean of the other frames. That reference still holds noise of variance
  σ²/(N − 1) (σ² of one frame, from the frame-to-frame differences), which adds the same
  amount to every method's squared error; the *noise-corrected* PSNR subtracts it.
* :func:`score_near_clean` — **real content, known truth**: a near-clean real frame degraded by
  the forward model at a ladder of doses, scored against the chain's target; and the clean
  frame itself given as input, which must come back unchanged.
* :func:`score_frame` — every file's frame restored whole: **lattice fidelity** (the share of the
  input's Bragg spots that survive restoration, :mod:`~emrestore.evaluation.lattice`, and the
  spots that appear) where it shows a lattice, and the largest spectral gain.

The classical baselines are those of the simulated evaluation
(:data:`~emrestore.evaluation.baselines.BASELINES`), their strength tuned on the reference
(an upper bound no user can reach); every shipped model of the file's modality is scored,
the one :func:`~emrestore.restoration.choose_model_tag` picks for the file marked. Candidate
models (``.onnx`` files, e.g. a training run's ``model.onnx``) of the file's modality are scored
beside them (``candidates=``; ``emrestore evaluate --model``), never as the chosen one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ParameterError
from ..tags import TAGS, Tag
from .baselines import BASELINES, Baseline
from .lattice import MIN_SPOTS, LatticeFidelity, find_spots, lattice_fidelity, transfer_limit_cycles_per_px
from .metrics import data_range, psnr, ssim
from .real_files import RealFile
from .registration import difference_noise_variance, register_series

#: Largest scored region [px]: larger frames are restored whole, then scored on their central
#: SCORE_CROP_PX × SCORE_CROP_PX (the tuned baselines, BM3D above all, run on that crop only).
SCORE_CROP_PX = 512
#: Doses of the real-content ladder [e⁻/px; primary e⁻/px for SEM].
DOSE_LADDER = (1.0, 10.0, 100.0, 1e3, 1e4)
#: A clean input must come back at least this close to itself [dB PSNR].
PASS_THROUGH_DB = 35.0
#: Dose parameter of each chain.
DOSE_PARAMETER = {"tem": "dose_e_per_px", "stem": "dose_e_per_px", "sem": "dose_pe_per_px"}


@dataclass
class MethodScore:
    """Scores of one method on one measurement (means over frames where several are scored).

    Attributes
    ----------
    name : str
        Row label (``"raw input"``, ``"BM3D (oracle σ)"``, ``"emrestore hrstem"``).
    kind : {"baseline", "model"}
    psnr_db, ssim : float
        Against the reference [dB; 1].
    psnr_corrected_db : float
        PSNR with the reference's own noise variance removed from the squared error [dB]
        (frame-split scoring only; NaN elsewhere).
    chosen : bool
        The model :func:`~emrestore.restoration.choose_model_tag` picks for this file.
    corrected_per_frame_db : tuple of float
        The corrected PSNR of each scored frame [dB], in frame order (frame-split scoring; the
        spread shows whether a difference between methods holds in every frame).
    """

    name: str
    kind: str
    psnr_db: float
    ssim: float
    psnr_corrected_db: float = float("nan")
    chosen: bool = False
    corrected_per_frame_db: tuple[float, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["corrected_per_frame_db"] = list(self.corrected_per_frame_db)
        return out


def applicable_models(real: RealFile, candidates: Sequence[str | Path] = ()) -> list[tuple[str, bool]]:
    """Models to score on ``real``: (model, chosen) pairs.

    The shipped models of the file's modality, the automatically chosen one first (``model`` is
    the tag), then each of ``candidates`` (``.onnx`` paths) whose model card is of that modality
    (``model`` is the path; never the chosen one).
    """
    from ..model.registry import find_model
    from ..restoration import choose_model_tag, shipped_models

    chosen = choose_model_tag(real.image).tag
    modality = Tag.get(chosen).modality
    shipped = {m.name for m in shipped_models()}
    tags = [chosen] + [t.name for t in TAGS if t.modality == modality and t.name != chosen]
    models = [(t, t == chosen) for t in tags if t in shipped]
    return models + [(str(p), False) for p in candidates if find_model(p).modality == modality]


def model_label(model: str) -> str:
    """Row label of a model of :func:`applicable_models`.

    ``"emrestore hrstem"`` for a shipped tag; ``"emrestore model (c22-more-hrstem)"`` (file stem,
    then its folder) for an ``.onnx`` path: always with the folder, since a training run's file is
    always ``model.onnx`` (the simulated evaluation adds it only where two stems collide).
    """
    if Path(model).suffix.lower() != ".onnx":
        return f"emrestore {model}"
    path = Path(model)
    return f"emrestore {path.stem} ({path.parent.name or path.stem})"


def restore_frame(model: str, frame: np.ndarray) -> np.ndarray:
    """``frame`` restored by ``model`` (a shipped tag or an ``.onnx`` path; float64, the frame's shape)."""
    from ..restoration import load_model

    return load_model(model, progress=False).restore_array(np.asarray(frame, np.float32)).astype(np.float64)


def central_crop(shape: tuple[int, ...], size: int = SCORE_CROP_PX) -> tuple[slice, slice]:
    """The central ``size`` × ``size`` region of a (H, W) shape (the whole side where shorter)."""
    h, w = shape[-2:]
    ch, cw = min(h, size), min(w, size)
    return slice((h - ch) // 2, (h - ch) // 2 + ch), slice((w - cw) // 2, (w - cw) // 2 + cw)


def _baselines(bm3d: bool) -> list[Baseline]:
    return [b for b in BASELINES if b.available and (bm3d or not b.slow)]


def accumulate_scores(rows: dict[str, list], key: tuple[str, str, bool], image: np.ndarray,
                      reference: np.ndarray, reference_noise_var: float | None = None) -> None:
    """Add one frame's PSNR, SSIM and corrected PSNR (with ``reference_noise_var``) to ``rows[key]``.

    ``key`` is (method name, ``"baseline"`` or ``"model"``, chosen); :func:`mean_scores` averages.
    """
    p, s = psnr(image, reference), ssim(image, reference)
    corrected = float("nan")
    if reference_noise_var is not None:
        excess = float(np.mean((np.asarray(image, np.float64) - reference) ** 2)) - reference_noise_var
        corrected = 10 * np.log10(data_range(reference) ** 2 / excess) if excess > 0 else float("inf")
    rows.setdefault(key, []).append((p, s, corrected))


def mean_scores(rows: dict[tuple[str, str, bool], list]) -> list[MethodScore]:
    """One :class:`MethodScore` per key of :func:`accumulate_scores`'s rows: the means over frames."""
    scores = []
    for (name, kind, chosen), values in rows.items():
        corrected = tuple(float(v[2]) for v in values)
        scores.append(MethodScore(name, kind, *(float(np.mean(col)) for col in zip(*values)), chosen=chosen,
                                  corrected_per_frame_db=corrected if not np.all(np.isnan(corrected)) else ()))
    return scores


# ---------------------------------------------------------------------------- series
@dataclass
class SeriesResult:
    """Frame-split scores of one real series.

    Attributes
    ----------
    file : RealFile
    scored_shape : tuple of int
        The scored (central) region [px].
    shifts_px : numpy.ndarray
        (N, 2) registration shifts of the frames [px].
    frame_noise_var : float
        Noise variance of one frame, from frame differences [units²] (an upper bound where the
        field changes between frames).
    reference_noise_var : float
        Of the mean of the other N − 1 frames: ``frame_noise_var / (N − 1)``.
    methods : list of MethodScore
        Means over the N choices of the restored frame.
    example : dict
        Frame 0, its reference, and frame 0 restored by each model, on the scored region
        (``"raw"``, ``"reference"``, model name → image), for the figure.
    """

    file: RealFile
    scored_shape: tuple[int, int]
    shifts_px: np.ndarray
    frame_noise_var: float
    reference_noise_var: float
    methods: list[MethodScore]
    example: dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    def method(self, name: str) -> MethodScore:
        return next(m for m in self.methods if m.name == name)

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file.name, "facts": self.file.sources, "frames": self.file.frames,
                "scored_shape": list(self.scored_shape), "max_shift_px": float(np.abs(self.shifts_px).max()),
                "frame_noise_var": self.frame_noise_var, "reference_noise_var": self.reference_noise_var,
                "methods": [m.to_json() for m in self.methods]}


def score_series(real: RealFile, bm3d: bool = True, candidates: Sequence[str | Path] = ()) -> SeriesResult:
    """Frame-split scoring of a series: restore each frame, compare with the others' registered mean.

    Parameters
    ----------
    real : RealFile
        A file of role ``"series"`` (N ≥ 2 frames of one field).
    bm3d : bool
        Also run tuned BM3D (seconds per frame and σ; when the ``bm3d`` package is installed).
    candidates : sequence of str or Path
        ``.onnx`` models to score beside the shipped ones (:func:`applicable_models`).
    """
    data = real.image.data
    if data.ndim != 3 or len(data) < 2:
        raise ParameterError(f"{real.name} has one frame; frame-split scoring needs a series.",
                             "Score single frames with score_frame / score_near_clean.")
    registered = register_series(data)
    n = len(data)
    frame_var = difference_noise_variance(registered)
    reference_var = frame_var / (n - 1)
    crop = central_crop(registered.frames.shape)
    models = applicable_models(real, candidates)
    rows: dict[tuple[str, str, bool], list] = {}
    example: dict[str, np.ndarray] = {}
    for k in range(n):
        reference = registered.others_mean(k)[crop]
        raw = registered.frames[k][crop]
        for baseline in _baselines(bm3d):
            out, _ = baseline.run(raw, reference)
            accumulate_scores(rows, (baseline.name, "baseline", False), out, reference, reference_var)
        for model, chosen in models:
            restored = registered.align(restore_frame(model, data[k]), k)[crop]
            accumulate_scores(rows, (model_label(model), "model", chosen), restored, reference, reference_var)
            if k == 0:
                example[model_label(model)] = restored
        if k == 0:
            example.update(raw=raw, reference=reference)
    shape = registered.frames[0][crop].shape
    return SeriesResult(real, (int(shape[0]), int(shape[1])), registered.shifts_px, frame_var, reference_var,
                        mean_scores(rows), example)


# ---------------------------------------------------------------------------- near-clean
@dataclass
class NearCleanResult:
    """A near-clean real frame: passed through unchanged? restored at each dose of the ladder?

    Attributes
    ----------
    file : RealFile
    scored_shape : tuple of int
        The (central) region used [px].
    pass_through : list of MethodScore
        Each model on the clean frame itself, against itself.
    ladder : dict
        Dose → list of MethodScore (baselines and models against the chain's target).
    examples : dict
        Dose → {"input", "target", model name → restored} for the figure; dose 0: the clean
        frame and each model's pass-through.
    own_noise_psnr_db : float
        The frame's own residual noise as a PSNR against the frame [dB]:
        ``20 log10(range / σ)``, σ from :func:`~emrestore.noise_estimate.spectral_noise_variance`
        (the floor of its power spectrum). A restorer that removed exactly that noise and
        nothing else would score this in pass-through, so a pass-through far above it means
        the noise was kept, near it that it was removed. The ladder's target is this frame,
        so its PSNRs are bounded near this value too.
    """

    file: RealFile
    scored_shape: tuple[int, int]
    pass_through: list[MethodScore]
    ladder: dict[float, list[MethodScore]]
    examples: dict[float, dict[str, np.ndarray]] = field(repr=False, default_factory=dict)
    own_noise_psnr_db: float = float("nan")

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file.name, "facts": self.file.sources, "scored_shape": list(self.scored_shape),
                "own_noise_psnr_db": self.own_noise_psnr_db,
                "pass_through": [m.to_json() for m in self.pass_through],
                "ladder": {f"{dose:g}": [m.to_json() for m in rows] for dose, rows in self.ladder.items()}}


def score_near_clean(real: RealFile, doses: tuple[float, ...] = DOSE_LADDER, bm3d: bool = True,
                     seed: int = 0, candidates: Sequence[str | Path] = ()) -> NearCleanResult:
    """Degrade a near-clean real frame at each dose with the forward model; score the restorers.

    Parameters
    ----------
    real : RealFile
        A near-clean frame (its modality picks the distortion chain; STEM if unknown).
    doses : tuple of float
        The dose ladder [e⁻/px; primary e⁻/px for SEM].
    bm3d : bool
        Also run tuned BM3D.
    seed : int
        Seed of the distortion chain, the same at every dose: the other chain parameters (scan
        distortions, detector) are drawn once from the default ranges (scaled to the frame's
        pixel size where it is known, as in training), so only the dose changes along the ladder.
    candidates : sequence of str or Path
        ``.onnx`` models to score beside the shipped ones (:func:`applicable_models`).
    """
    from ..distortions import distort

    frame = real.image.data if real.image.data.ndim == 2 else real.image.data[0]
    clean = np.asarray(frame, np.float64)[central_crop(frame.shape)]
    models = applicable_models(real, candidates)
    modality = (real.image.modality or "stem")
    pass_rows: dict[tuple[str, str, bool], list] = {}
    examples: dict[float, dict[str, np.ndarray]] = {0.0: {"input": clean, "target": clean}}
    for model, chosen in models:
        out = restore_frame(model, clean)
        accumulate_scores(pass_rows, (model_label(model), "model", chosen), out, clean)
        examples[0.0][model_label(model)] = out
    ladder: dict[float, list[MethodScore]] = {}
    for dose in doses:
        noisy, target, _ = distort(clean - min(0.0, float(clean.min())), modality, seed=seed,
                                   pixel_size_nm=real.image.pixel_size_nm,
                                   **{DOSE_PARAMETER[modality]: float(dose)})
        noisy, target = np.asarray(noisy, np.float64), np.asarray(target, np.float64)
        rows: dict[tuple[str, str, bool], list] = {}
        for baseline in _baselines(bm3d):
            out, _ = baseline.run(noisy, target)
            accumulate_scores(rows, (baseline.name, "baseline", False), out, target)
        examples[float(dose)] = {"input": noisy, "target": target}
        for model, chosen in models:
            out = restore_frame(model, noisy)
            accumulate_scores(rows, (model_label(model), "model", chosen), out, target)
            examples[float(dose)][model_label(model)] = out
        ladder[float(dose)] = mean_scores(rows)
    return NearCleanResult(real, (int(clean.shape[0]), int(clean.shape[1])), mean_scores(pass_rows), ladder, examples,
                           own_noise_psnr(clean))


def own_noise_psnr(frame: np.ndarray) -> float:
    """A frame's own noise as a PSNR against the frame [dB] (see :class:`NearCleanResult`);
    ``inf`` for a frame without noise."""
    from ..noise_estimate import spectral_noise_variance

    variance = spectral_noise_variance(np.asarray(frame, np.float64))
    return float(10 * np.log10(data_range(frame) ** 2 / variance)) if variance > 0 else float("inf")


# ---------------------------------------------------------------------------- whole frames
@dataclass
class FrameResult:
    """A real frame restored whole by each applicable model: its Bragg spots and its spectrum.

    Attributes
    ----------
    file : RealFile
    chosen : str
        Name of the automatically chosen model.
    seconds : float
        Wall time of the chosen model's restoration of the whole frame [s].
    fidelity : dict
        Model name → :class:`~emrestore.evaluation.lattice.LatticeFidelity`; empty when the
        frame shows no lattice (fewer than :data:`~emrestore.evaluation.lattice.MIN_SPOTS` spots).
    spectral_gain : dict
        Model name → largest restored / input power ratio of the smoothed spectra
        (:func:`~emrestore.evaluation.spectrum.spectral_gain`; ≈ 1 or less: no power added).
    frame, restored : numpy.ndarray
        The input frame and the chosen model's restoration (for the figure).
    transfer_limit : float or None
        The highest frequency the optics can carry [cycles/px]
        (:func:`~emrestore.evaluation.lattice.transfer_limit_cycles_per_px`; ``None``: unknown).
        Spots beyond it are not specimen detail; :meth:`within_limit` leaves them out.
    """

    file: RealFile
    chosen: str
    seconds: float
    fidelity: dict[str, LatticeFidelity]
    spectral_gain: dict[str, float]
    frame: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))
    restored: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))
    transfer_limit: float | None = None

    @property
    def is_lattice(self) -> bool:
        return bool(self.fidelity)

    def within_limit(self, name: str) -> LatticeFidelity:
        """Model ``name``'s fidelity on the spots the optics can carry (all spots where the limit is unknown)."""
        return self.fidelity[name].within(self.transfer_limit)

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file.name, "facts": self.file.sources, "chosen": self.chosen, "seconds": self.seconds,
                "spectral_gain": self.spectral_gain, "transfer_limit_cycles_per_px": self.transfer_limit,
                "lattice": {name: f.to_json() for name, f in self.fidelity.items()},
                "lattice_within_transfer_limit": {name: self.within_limit(name).to_json() for name in self.fidelity}}


def score_frame(real: RealFile, candidates: Sequence[str | Path] = ()) -> FrameResult:
    """Restore a real frame whole (a series: its first frame) with each applicable model.

    Scores its Bragg spots where it shows a lattice
    (:func:`~emrestore.evaluation.lattice.lattice_fidelity`: what survives, what appears) and
    the largest spectral gain of each restoration.
    """
    import time

    from .spectrum import spectral_gain

    frame = np.asarray(real.image.data if real.image.data.ndim == 2 else real.image.data[0], np.float64)
    lattice = len(find_spots(frame)) >= MIN_SPOTS
    fidelity: dict[str, LatticeFidelity] = {}
    gains: dict[str, float] = {}
    chosen_name, chosen_out, seconds = "", frame, float("nan")
    for model, chosen in applicable_models(real, candidates):
        start = time.perf_counter()
        out = restore_frame(model, frame)
        elapsed = time.perf_counter() - start
        name = model_label(model)
        gains[name] = spectral_gain(frame, out).max_gain
        if lattice:
            fidelity[name] = lattice_fidelity(frame, out)
        if chosen:
            chosen_name, chosen_out, seconds = name, out, elapsed
    limit = transfer_limit_cycles_per_px(real.image.modality or "", real.image.pixel_size_nm)
    return FrameResult(real, chosen_name, seconds, fidelity, gains, frame, chosen_out, limit)


# ---------------------------------------------------------------------------- all
@dataclass
class RealBenchmark:
    """Everything the real-data section of the report shows."""

    folders: list[str]
    series: list[SeriesResult]
    near_clean: list[NearCleanResult]
    frames: list[FrameResult]
    skipped: list[tuple[str, str]]
    manifests: list[str]
    #: Fine-tuning frame splits (:mod:`emrestore.finetune.frame_split`), when measured
    #: (``emrestore evaluate --finetune-steps N`` attaches them).
    finetuned: list[Any] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"folders": self.folders, "manifests": self.manifests,
                "series": [r.to_json() for r in self.series],
                "finetuned": [r.to_json() for r in getattr(self, "finetuned", [])],
                "near_clean": [r.to_json() for r in self.near_clean],
                "frames": [r.to_json() for r in self.frames],
                "skipped": [{"file": n, "reason": r} for n, r in self.skipped]}


def run_real_benchmark(folders: list[str], bm3d: bool = True, doses: tuple[float, ...] = DOSE_LADDER,
                       progress: bool = True, candidates: Sequence[str | Path] = ()) -> RealBenchmark:
    """Score every real file of ``folders`` (series, near-clean, lattice).

    Parameters
    ----------
    folders : list of str
        Folders of real micrographs (e.g. ``../shared/data/real-series``), sub-folders included.
    bm3d : bool
        Also run tuned BM3D (slow: about a minute per 512² frame).
    doses : tuple of float
        The dose ladder of the near-clean frames.
    progress : bool
        A progress bar over the files.
    candidates : sequence of str or Path
        ``.onnx`` models (e.g. training runs' ``model.onnx``) scored beside the shipped models
        on the files of their modality.
    """
    from tqdm.auto import tqdm

    from .real_files import discover, read_manifest

    labels = [model_label(str(p)) for p in candidates]
    twins = sorted({label for label in labels if labels.count(label) > 1})
    if twins:
        raise ParameterError(f"Two candidate models would share the row {twins[0]!r} (same file name in folders "
                             "of the same name).", "Give each candidate its own folder name.")
    files, skipped, manifests = [], [], []
    for folder in folders:
        found, bad = discover(folder)
        prefix = "" if len(folders) == 1 else f"{folder.rstrip('/').split('/')[-1]}/"
        for f in found:
            f.name = prefix + f.name
        files += found
        skipped += [(prefix + n, r) for n, r in bad]
        manifests.append(f"{folder}: {read_manifest(Path(folder))[1]}")
    series, near, frames = [], [], []
    for real in tqdm(files, desc="real data", unit="file", disable=not progress):
        if real.role == "series":
            series.append(score_series(real, bm3d=bm3d, candidates=candidates))
        elif real.role == "near-clean":
            near.append(score_near_clean(real, doses=doses, bm3d=bm3d, candidates=candidates))
        frames.append(score_frame(real, candidates=candidates))
    return RealBenchmark(list(folders), series, near, frames, skipped, manifests)

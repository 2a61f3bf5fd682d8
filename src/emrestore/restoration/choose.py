"""Automatic model choice from the modality and the pixel size."""

from __future__ import annotations

from dataclasses import dataclass

from ..image import EMImage

#: Largest pixel size [nm] treated as atomic resolution in TEM/STEM: atomic columns
#: 0.2-0.4 nm apart need at least ~3 px per spacing.
ATOMIC_MAX_PIXEL_NM = 0.1
#: Largest pixel size [nm] for the high-resolution SEM model (nanoparticles, 0.5-5 nm/px).
HRSEM_MAX_PIXEL_NM = 5.0


def _per_px(size_nm: float) -> str:
    """A pixel size [nm] with 3 significant digits in pm, nm, µm or mm (``'2.61 µm/px'``)."""
    size_nm = float(f"{size_nm:.3g}")
    unit, per = (("pm", 1e-3) if size_nm < 0.1 else ("nm", 1.0) if size_nm < 1e3
                 else ("µm", 1e3) if size_nm < 1e6 else ("mm", 1e6))
    return f"{float(f'{size_nm / per:.3g}'):g} {unit}/px"


@dataclass(frozen=True)
class ModelChoice:
    """Which model tag restores an image, and why."""

    tag: str
    reason: str


def choose_model_tag(image: EMImage | None) -> ModelChoice:
    """Choose the model tag for an image from its modality and pixel size.

    Parameters
    ----------
    image : EMImage or None
        The image to restore; ``None`` for bare arrays (no modality, no pixel size).

    Returns
    -------
    ModelChoice
        ``tag`` in {hrstem, hrtem, hrsem, lrstem, lrtem, lrsem} and a one-line ``reason``.

    Notes
    -----
    TEM/STEM: pixel ≤ 0.1 nm → atomic-resolution model (hr), else low-magnification (lr).
    SEM: pixel ≤ 5 nm → hrsem, else lrsem. An unknown modality is assumed to be STEM
    and an unknown pixel size atomic resolution; the reason says so, and ``model=`` /
    ``--model`` overrides the choice.
    """
    notes = []
    modality = image.modality if image is not None else None
    if modality is None:
        modality = "stem"
        notes.append("modality unknown (no acquisition metadata), assumed STEM")
    size_nm = image.pixel_size_nm if image is not None else None
    if size_nm is None:
        scale = "hr"
        notes.append("pixel size unknown, assumed atomic resolution")
    elif modality == "sem":
        scale = "hr" if size_nm <= HRSEM_MAX_PIXEL_NM else "lr"
        notes.append(f"SEM at {_per_px(size_nm)} {'≤' if scale == 'hr' else '>'} {HRSEM_MAX_PIXEL_NM} nm/px")
    else:
        scale = "hr" if size_nm <= ATOMIC_MAX_PIXEL_NM else "lr"
        what = "atomic resolution" if scale == "hr" else "morphology scale"
        notes.append(f"{modality.upper()} at {_per_px(size_nm)} ({what}, threshold {ATOMIC_MAX_PIXEL_NM} nm/px)")
    if image is not None and image.modality is not None and image.pixel_size_nm is not None:
        notes.insert(0, "from the file's metadata")
    return ModelChoice(tag=f"{scale}{modality}", reason="; ".join(notes))

"""Automatic model choice from the modality and the pixel size."""

from __future__ import annotations

from dataclasses import dataclass

from ..image import EMImage
from ..tags import Tag


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
    Each modality's ``"hr"`` tag takes the pixel sizes up to its
    :attr:`~emrestore.tags.Tag.choice_max_pixel_nm` (TEM/STEM: 0.1 nm, atomic resolution;
    SEM: 5 nm), its ``"lr"`` tag the larger ones. An unknown modality is assumed to be STEM
    and an unknown pixel size atomic resolution; the reason says so, and ``model=`` /
    ``--model`` overrides the choice.
    """
    notes = []
    modality = image.modality if image is not None else None
    if modality is None:
        modality = "stem"
        notes.append("modality unknown (no acquisition metadata), assumed STEM")
    size_nm = image.pixel_size_nm if image is not None else None
    fine = Tag.of(modality, "hr")
    limit = fine.choice_max_pixel_nm
    if size_nm is None:
        tag = fine
        notes.append("pixel size unknown, assumed atomic resolution")
    else:
        tag = fine if size_nm <= limit else Tag.of(modality, "lr")
        if modality == "sem":
            notes.append(f"SEM at {_per_px(size_nm)} {'≤' if tag is fine else '>'} {limit} nm/px")
        else:
            what = "atomic resolution" if tag is fine else "morphology scale"
            notes.append(f"{modality.upper()} at {_per_px(size_nm)} ({what}, threshold {limit} nm/px)")
    if image is not None and image.modality is not None and image.pixel_size_nm is not None:
        notes.insert(0, "from the file's metadata")
    return ModelChoice(tag=tag.name, reason="; ".join(notes))

"""The model tags: what kind of image each shipped model restores.

A tag names a modality (TEM, STEM, SEM) at one of two scales: ``"hr"`` (atomic resolution, or
nanoparticles for SEM) and ``"lr"`` (morphology). It fixes the pixel sizes its clean training
images are drawn from, the pixel sizes the automatic model choice gives it
(:func:`~emrestore.restoration.choose.choose_model_tag`), and the module whose renderer draws its
clean images (:mod:`emrestore.datasets.registry`). Each tag has a training configuration
(``configs/<name>.toml``) and a shipped model (``models/<name>.onnx`` with its card).

Adding a tag: one :class:`Tag` in :data:`TAGS`, a renderer registered under its name, a
``configs/<name>.toml`` and, once trained, its model in ``models/``.

Examples
--------
>>> Tag.get("lrsem").modality, Tag.get("lrsem").scale
('sem', 'lr')
>>> Tag.of("stem", "hr").name
'hrstem'
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ParameterError

__all__ = ["Tag", "TAGS", "TAG_NAMES", "SCALES"]

#: The scales: atomic resolution (SEM: nanoparticles) and morphology.
SCALES = ("hr", "lr")


@dataclass(frozen=True)
class Tag:
    """One model tag.

    Parameters
    ----------
    name : str
        ``scale + modality``, e.g. ``"hrstem"``.
    modality : {"stem", "tem", "sem"}
        The microscope mode of its images.
    scale : {"hr", "lr"}
        Atomic resolution (``"hr"``) or morphology (``"lr"``).
    pixel_range_nm : tuple of float
        (smallest, largest) pixel size [nm] of its clean training images.
    choice_max_pixel_nm : float or None
        The automatic model choice gives this tag the images of its modality whose pixel size
        is at most this [nm]; None for the ``"lr"`` tags, which take every larger pixel size.
    renderer_module : str
        Module that registers the renderer of its clean images when imported.
    """

    name: str
    modality: str
    scale: str
    pixel_range_nm: tuple[float, float]
    choice_max_pixel_nm: float | None
    renderer_module: str

    @staticmethod
    def get(name: str) -> Tag:
        """The tag called ``name``.

        Raises
        ------
        ParameterError
            For a name that is not one of :data:`TAG_NAMES`.
        """
        for tag in TAGS:
            if tag.name == name:
                return tag
        raise ParameterError(f"Unknown tag {name!r}.", f"Use one of {', '.join(TAG_NAMES)}.")

    @staticmethod
    def of(modality: str, scale: str) -> Tag:
        """The tag of ``modality`` (``"stem"``, ``"tem"``, ``"sem"``) at ``scale`` (``"hr"``, ``"lr"``)."""
        return Tag.get(f"{scale}{modality}")


#: Every tag, in the order models are listed (atomic resolution first).
TAGS: tuple[Tag, ...] = (
    Tag("hrstem", "stem", "hr", (0.005, 0.1), 0.1, "emrestore.datasets.atomic"),
    Tag("hrtem", "tem", "hr", (0.005, 0.1), 0.1, "emrestore.datasets.atomic"),
    Tag("hrsem", "sem", "hr", (0.5, 5.0), 5.0, "emrestore.datasets.lowmag"),
    Tag("lrstem", "stem", "lr", (0.2, 50.0), None, "emrestore.datasets.lowmag"),
    Tag("lrtem", "tem", "lr", (0.5, 50.0), None, "emrestore.datasets.lowmag"),
    Tag("lrsem", "sem", "lr", (5.0, 5000.0), None, "emrestore.datasets.lowmag"),
)
#: Their names, in the same order.
TAG_NAMES: tuple[str, ...] = tuple(tag.name for tag in TAGS)

"""Registry of clean-image renderers, one per model tag.

A renderer has the signature ``render(size: int, rng: numpy.random.Generator,
**overrides) -> CleanSample`` and returns a ``size`` × ``size`` clean image.
Modules that define renderers call :func:`register_renderer`; the registry imports
them lazily on first use so that importing emrestore stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ..errors import ParameterError
from ..tags import TAG_NAMES as TAGS
from ..tags import Tag
from .sample import CleanSample

_RENDERERS: dict[str, Callable[..., CleanSample]] = {}


def register_renderer(tag: str) -> Callable[[Callable[..., CleanSample]], Callable[..., CleanSample]]:
    """Decorator that registers ``func`` as the clean-image renderer of ``tag``."""
    Tag.get(tag)  # an unknown tag raises

    def decorator(func: Callable[..., CleanSample]) -> Callable[..., CleanSample]:
        _RENDERERS[tag] = func
        return func

    return decorator


def available_tags() -> list[str]:
    """Tags that have a renderer (importing their modules if needed)."""
    return [tag for tag in TAGS if _load(tag)]


def _load(tag: str) -> bool:
    if tag not in _RENDERERS:
        importlib.import_module(Tag.get(tag).renderer_module)
    return tag in _RENDERERS


def get_renderer(tag: str) -> Callable[..., CleanSample]:
    """Return the renderer for ``tag``.

    Raises
    ------
    ParameterError
        If the tag is unknown or has no renderer yet.
    """
    Tag.get(tag)  # an unknown tag raises
    if not _load(tag):
        raise ParameterError(
            f"No clean-image renderer is available for tag {tag!r}.",
            f"Use one of: {', '.join(available_tags()) or 'none yet'}.",
        )
    return _RENDERERS[tag]

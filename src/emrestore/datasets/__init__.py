"""Clean-image sources per model tag, and the pairs made from them.

Renderers for each tag register themselves in :mod:`emrestore.datasets.registry`;
:class:`~emrestore.datasets.sample.CleanSample` is what every renderer returns.
"""

from .registry import TAGS, get_renderer, register_renderer, available_tags
from .sample import CleanSample

__all__ = ["CleanSample", "TAGS", "get_renderer", "register_renderer", "available_tags"]

"""Lazy package attributes: names whose modules (and their heavy imports, e.g. torch) load on first use."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_getattr(package: str, modules: dict[str, str], namespace: dict[str, Any]
                 ) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` that imports each lazy name from its module on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__`` (anchor of the relative module names).
    modules : dict
        Attribute name → relative module that defines it (e.g. ``{"Trainer": ".trainer"}``).
    namespace : dict
        The package's ``globals()``: a loaded name is stored there, so later look-ups are
        plain attribute reads.

    Returns
    -------
    callable
        Assign it to ``__getattr__`` in the package's ``__init__``; it raises
        :class:`AttributeError` for any other name.
    """

    def __getattr__(name: str) -> Any:
        if name not in modules:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(modules[name], package), name)
        namespace[name] = value
        return value

    return __getattr__

"""The package layers: each module of src/emrestore imports its own package and lower layers only,
and the packages import each other without a cycle.

Imports are read with :mod:`ast` from every module (relative and absolute ones, also those inside
functions and under ``TYPE_CHECKING``); modules loaded by name at run time (renderer registry,
lazy attributes) are not imports and are not checked. A *unit* is a top-level package
(``emrestore.restoration``) or a top-level module (``emrestore.image``); its subpackages belong
to it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

SRC = Path(__file__).resolve().parents[1] / "src" / "emrestore"

#: The layers, low → high: a unit may import units of lower layers only.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("image", "tags", "dihedral", "lazy", "fidelity", "reciprocal_lattice"),
    ("io", "nn", "noise_estimate", "distortions"),
    ("specimens", "model"),
    ("optics",),
    ("datasets",),
    ("restoration",),
    ("evaluation",),
    ("training",),
    ("finetune", "web", "napari"),
    ("commands",),
    ("cli", "__init__"),
    ("__main__",),
)

#: Names any module may import from the top package (they need nothing but the package itself).
TOP_PACKAGE_NAMES = {"__version__", "__name__"}

#: Upward imports allowed as exceptions, as (module, imported unit). None today: keep it so.
ALLOWED_UPWARD: set[tuple[str, str]] = set()


class Import(NamedTuple):
    module: str  # path below src/emrestore, e.g. "restoration/engine.py"
    line: int
    source: str  # the importing unit
    target: str  # the imported unit


def _unit(parts: list[str]) -> str:
    """The unit of a module path below emrestore (``["io", "tiff"]`` → ``"io"``)."""
    return parts[0]


def _named_units(names: list[ast.alias]) -> list[str]:
    """Units of ``from emrestore import a, b``: submodules by name, anything else is the top package."""
    units = []
    for alias in names:
        if (SRC / alias.name).is_dir() or (SRC / f"{alias.name}.py").is_file():
            units.append(alias.name)
        elif alias.name not in TOP_PACKAGE_NAMES:
            units.append("__init__")
    return units


def _imported_units(node: ast.AST, package: list[str]) -> list[str]:
    """Units of emrestore an import statement names; ``package`` is the module's package below emrestore."""
    if isinstance(node, ast.Import):
        return [_unit(a.name.split(".")[1:]) if "." in a.name else "__init__"
                for a in node.names if a.name == "emrestore" or a.name.startswith("emrestore.")]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        assert node.level - 1 <= len(package), f"relative import above emrestore in {package}"
        base = package[:len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
    elif node.module == "emrestore" or (node.module or "").startswith("emrestore."):
        base = node.module.split(".")[1:]
    else:
        return []
    return [_unit(base)] if base else _named_units(node.names)


def emrestore_imports() -> list[Import]:
    """Every import of an emrestore unit by a module of another unit."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        source = _unit(parts)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            for target in _imported_units(node, parts[:-1]):
                if target != source:
                    found.append(Import(path.relative_to(SRC).as_posix(), node.lineno, source, target))
    return found


RANK = {unit: rank for rank, layer in enumerate(LAYERS) for unit in layer}


def _is_upward(imp: Import) -> bool:
    return RANK[imp.target] >= RANK[imp.source]


def test_every_unit_has_a_layer():
    units = {path.relative_to(SRC).parts[0].removesuffix(".py") for path in SRC.iterdir()
             if path.suffix == ".py" or (path / "__init__.py").is_file()}
    assert units == set(RANK), f"place these in LAYERS: {sorted(units - set(RANK))}; " \
                               f"no longer in src: {sorted(set(RANK) - units)}"


def test_modules_import_their_own_package_and_lower_layers_only():
    upward = [imp for imp in emrestore_imports() if _is_upward(imp)]
    new = [f"{imp.module}:{imp.line} imports {imp.target} (layer {RANK[imp.target]} ≥ {RANK[imp.source]})"
           for imp in upward if (imp.module, imp.target) not in ALLOWED_UPWARD]
    assert not new, "upward imports:\n" + "\n".join(new)
    stale = ALLOWED_UPWARD - {(imp.module, imp.target) for imp in upward}
    assert not stale, f"allowed upward imports that are gone (delete them from ALLOWED_UPWARD): {sorted(stale)}"


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of units (first = last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(unit: str) -> list[str] | None:
        state[unit] = 1
        path.append(unit)
        for nxt in sorted(graph.get(unit, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[unit] = 2
        return None

    for unit in sorted(graph):
        if unit not in state and (found := visit(unit)):
            return found
    return None


def test_the_packages_import_each_other_without_a_cycle():
    graph: dict[str, set[str]] = defaultdict(set)
    for imp in emrestore_imports():
        if (imp.module, imp.target) not in ALLOWED_UPWARD:
            graph[imp.source].add(imp.target)
    assert _cycle(graph) is None, f"import cycle: {' → '.join(_cycle(graph))}"


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}}) is None


def test_relative_and_absolute_imports_resolve_to_units():
    def units(code: str, package: list[str]) -> list[str]:
        return _imported_units(ast.parse(code).body[0], package)

    assert units("from ..io.tiff import read_tiff", ["restoration"]) == ["io"]
    assert units("from .. import io, __version__", ["restoration"]) == ["io"]
    assert units("from .. import distort", ["napari"]) == ["__init__"]
    assert units("from . import engine", ["restoration"]) == ["restoration"]
    assert units("from ...errors import ParameterError", ["specimens", "morphology"]) == ["errors"]
    assert units("from emrestore.model.card import ModelCard", ["web"]) == ["model"]
    assert units("import emrestore.datasets.bank", ["training"]) == ["datasets"]
    assert units("import numpy", ["training"]) == []

"""The benchmark scripts still import against the package (they are run by hand, so an API
change would otherwise break them silently until the next measurement)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


def test_benchmarks_are_found() -> None:
    assert len(BENCHMARKS) >= 10


@pytest.mark.parametrize("path", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_benchmark_imports(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(path.parent))
    spec = importlib.util.spec_from_file_location(f"_bench_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)  # runs the imports, not main(): every script guards it
    assert callable(getattr(module, "main", None)), f"{path.name} has no main()"


def _load(name: str, monkeypatch: pytest.MonkeyPatch):
    path = next(p for p in BENCHMARKS if p.stem == name)
    monkeypatch.syspath_prepend(str(path.parent))
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_ceiling_copies_keep_the_frame_and_change_only_the_noise(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reachable-ρ measurement (bench_uncertainty --ceiling) rests on two facts: copy 0 is
    the evaluation frame itself, and a copy keeps its specimen and every distortion parameter."""
    import numpy as np

    from emrestore.evaluation.validation import validation_pairs

    bench = _load("bench_uncertainty", monkeypatch)
    vs = validation_pairs("lrtem", n=3, size=64, progress=False)
    x0, t0, p0 = bench.evaluation_frame("lrtem", 2, 64)
    np.testing.assert_array_equal(x0, vs.inputs[2])
    np.testing.assert_allclose(t0, vs.targets[2], rtol=1e-6)
    x1, t1, p1 = bench.evaluation_frame("lrtem", 2, 64, copy=1)
    assert p1 == p0
    assert np.abs(x1 - x0).mean() > 0.1 * np.std(x0 - t0)  # new noise
    np.testing.assert_allclose(t1, t0, rtol=1e-5, atol=1e-3 * np.ptp(t0))  # same expected frame

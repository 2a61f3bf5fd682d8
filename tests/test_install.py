"""What pyproject.toml and the Makefile promise about installing emrestore.

- the installed environment meets the lower bounds the code relies on (RosettaSciIO
  >= 0.15: older releases read Velox EMD int16 pixels as float64; onnxruntime; tifffile),
  so a resolver that went below a bound fails here, not later in a reader test;
- every extra repeats a core package's lower bound (an extra cannot drag it lower);
- torch is a range (not a pin) that takes the local CPU build 2.13 and not 2.14+;
- the [gpu] extra is onnxruntime-gpu; the licence file is declared and is the GPL 3;
- ``make demo`` installs the core only, ``make test`` the dev extra.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
CORE = [Requirement(text) for text in PROJECT["dependencies"]]
EXTRAS = {name: [Requirement(text) for text in reqs] for name, reqs in PROJECT["optional-dependencies"].items()}

#: The lower bounds the code needs: (distribution, bound, why).
CRITICAL = [
    ("rosettasciio", "0.15", "older releases read Velox EMD int16 pixels as float64"),
    ("onnxruntime", "1.17", "the restore engine's sessions and providers"),
    ("tifffile", "2023.7", "calibrated TIFF in and out"),
]


def _lower_bound(requirement: Requirement) -> Version | None:
    bounds = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==", "~=")]
    return max(bounds) if bounds else None


def _installed(name: str) -> Version | None:
    try:
        return Version(importlib.metadata.version(name))
    except importlib.metadata.PackageNotFoundError:
        return None


def _all_requirements() -> list[tuple[str, Requirement]]:
    return [("core", r) for r in CORE] + [(extra, r) for extra, reqs in EXTRAS.items() for r in reqs]


@pytest.mark.parametrize(("name", "bound", "why"), CRITICAL, ids=[c[0] for c in CRITICAL])
def test_core_declares_the_critical_lower_bound(name, bound, why):
    declared = [r for r in CORE if r.name == name]
    assert declared, f"{name} is not a core dependency"
    assert _lower_bound(declared[0]) == Version(bound), (str(declared[0]), why)


@pytest.mark.parametrize(("name", "bound", "why"), CRITICAL, ids=[c[0] for c in CRITICAL])
def test_installed_version_meets_the_critical_lower_bound(name, bound, why):
    installed = _installed(name)
    if name == "onnxruntime" and installed is None:  # the GPU build alone also provides it
        installed = _installed("onnxruntime-gpu")
    assert installed is not None, f"{name} is not installed"
    assert installed >= Version(bound), f"{name} {installed} < {bound}: {why}"


def test_every_installed_requirement_satisfies_pyproject():
    """Each package pyproject names that is installed here has a version it allows."""
    wrong = []
    for where, requirement in _all_requirements():
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": where}):
            continue
        installed = _installed(requirement.name)
        if installed is not None and not requirement.specifier.contains(installed, prereleases=True):
            wrong.append(f"{requirement.name} {installed} (needs {requirement.specifier}, [{where}])")
    assert not wrong, wrong


def test_extras_repeat_the_core_lower_bounds():
    """An extra that names a core package again keeps (at least) its lower bound."""
    core = {r.name: _lower_bound(r) for r in CORE}
    for where, requirement in _all_requirements():
        if where == "core" or requirement.name not in core or core[requirement.name] is None:
            continue
        bound = _lower_bound(requirement)
        assert bound is not None and bound >= core[requirement.name], (where, str(requirement))


def test_torch_is_a_range_that_takes_the_cpu_build_here():
    """Not an exact pin; 2.13.0 (the CPU wheel on this disk) is in, 2.14 (CUDA here) is out."""
    torch_reqs = [(where, r) for where, r in _all_requirements() if r.name == "torch"]
    assert {where for where, _ in torch_reqs} >= {"train", "dev"}
    for where, requirement in torch_reqs:
        operators = {s.operator for s in requirement.specifier}
        assert "==" not in operators and "===" not in operators, (where, str(requirement))
        assert requirement.specifier.contains("2.13.0+cpu") and requirement.specifier.contains("2.13.0")
        assert not requirement.specifier.contains("2.14.0") and not requirement.specifier.contains("2.14.1")
        assert not requirement.specifier.contains("2.4.1"), "torch.onnx.export(dynamo=...) needs 2.5"


def test_gpu_extra_is_onnxruntime_gpu_with_its_cuda_libraries():
    (requirement,) = EXTRAS["gpu"]
    assert requirement.name == "onnxruntime-gpu"
    assert {"cuda", "cudnn"} <= requirement.extras
    assert _lower_bound(requirement) >= Version("1.21")  # onnxruntime.preload_dlls
    for platform, expected in [("linux", True), ("win32", True), ("darwin", False)]:
        assert requirement.marker.evaluate({"sys_platform": platform}) is expected


def test_the_earlier_extras_are_kept():
    assert {"train", "sim", "bench", "eval", "web", "napari", "dask", "hyperspy", "zspy", "gpu", "dev"} <= set(EXTRAS)


def test_licence_is_the_gpl3_and_declared():
    assert PROJECT["license"] == "GPL-3.0-or-later"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE")
    assert "Version 3, 29 June 2007" in text and "END OF TERMS AND CONDITIONS" in text
    # PEP 639 license-files needs setuptools >= 77
    assert "setuptools>=77" in PYPROJECT["build-system"]["requires"]


def _make_dry_run(target: str, venv: Path) -> str:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    result = subprocess.run([make, "-n", "-C", str(ROOT), target, f"VENV={venv}"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_demo_installs_the_core_only(tmp_path):
    commands = _make_dry_run("demo", tmp_path / "venv")
    installs = [line for line in commands.splitlines() if " install " in line and "-e" in line]
    assert installs, commands
    assert all("[dev]" not in line and "[" not in line.split("-e", 1)[1] for line in installs), installs
    assert "emrestore demo" in commands


def test_make_test_installs_the_dev_extra_then_runs_pytest(tmp_path):
    commands = _make_dry_run("test", tmp_path / "venv")
    assert '-e ".[dev]"' in commands or "-e '.[dev]'" in commands or "-e .[dev]" in commands, commands
    assert "-m pytest" in commands

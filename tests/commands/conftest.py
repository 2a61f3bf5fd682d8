"""Fixtures for the command-line tests: the small ONNX models of tests/restoration."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "restoration"))

from onnx_models import make_conv_model  # noqa: E402


@pytest.fixture
def stats_model(tmp_path):
    """A nonlinear ONNX restorer that takes (image, stats); receptive field 9 px."""
    pytest.importorskip("onnx")
    return make_conv_model(tmp_path / "stats_model.onnx", layers=4, takes_stats=True)

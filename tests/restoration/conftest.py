from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from onnx_models import make_conv_model  # noqa: E402


@pytest.fixture
def stats_model(tmp_path):
    """A nonlinear ONNX restorer that takes (image, stats); receptive field 9 px."""
    pytest.importorskip("onnx")
    return make_conv_model(tmp_path / "stats_model.onnx", layers=4, takes_stats=True)


@pytest.fixture
def raw_model(tmp_path):
    """A nonlinear ONNX restorer that normalises each input by itself (raw → raw)."""
    pytest.importorskip("onnx")
    return make_conv_model(tmp_path / "raw_model.onnx", layers=4, takes_stats=False)

"""Shared fixtures: the real files in ../shared/data (skipped cleanly when absent) and the small
ONNX restorers of tests/restoration/onnx_models.py and a synthetic lattice (used by the tests of
several packages and of the commands)."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest
from onnx_models import make_conv_model

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# A test run started in the background of a non-interactive shell (`cmd &`) inherits SIGINT as
# ignored, and so would the subprocesses the interrupt tests signal (an ignored disposition
# survives exec): give the run Python's own handler, which exec resets to the default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def shared_file(relative: str) -> Path:
    """Path of a file under ../shared/data, or skip the test if it is not there."""
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"{relative} not available (../shared/data is absent)")
    return path


@pytest.fixture
def shared():
    """Callable fixture: ``shared("formats/test_STEM_image.dm3")`` -> Path (or skip)."""
    return shared_file


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


@pytest.fixture
def lattice() -> np.ndarray:
    """A synthetic atomic-resolution lattice (mean ~1), 96 × 128 px."""
    yy, xx = np.mgrid[0:96, 0:128].astype(np.float64)
    image = np.exp(-((np.mod(xx, 8) - 4) ** 2 + (np.mod(yy, 8) - 4) ** 2) / 3.0)
    return 0.1 + image

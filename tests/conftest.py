"""Shared fixtures: the real files in ../shared/data (skipped cleanly when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


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

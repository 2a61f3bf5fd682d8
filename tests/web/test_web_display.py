"""What the page draws from: the displayed frame as float32 and its robust display range."""

from __future__ import annotations

import numpy as np
import pytest

import emrestore
from emrestore.restoration.choose import choose_model_tag
from emrestore.web.display import (
    DISPLAY_PERCENTILES,
    display_frame,
    display_range,
    write_display,
)


def test_display_range_is_robust_to_hot_pixels():
    rng = np.random.default_rng(0)
    data = rng.normal(100, 5, (200, 200)).astype(np.float32)
    data[5, 7] = 1e6  # a hot pixel does not stretch the range
    shown = display_range(data)
    low, high = np.percentile(data, DISPLAY_PERCENTILES)
    assert (shown["low"], shown["high"]) == pytest.approx((low, high))
    assert shown["max"] == 1e6 and shown["high"] < 120


def test_display_range_without_spread_or_finite_values():
    flat = np.full((8, 8), 3.0, np.float32)
    assert display_range(flat) == {"min": 3.0, "max": 3.0, "low": 3.0, "high": 3.0}
    mostly_flat = np.full((40, 40), 3.0, np.float32)
    mostly_flat[0, 0] = 10.0  # the percentiles coincide: the range falls back to min..max
    assert (display_range(mostly_flat)["low"], display_range(mostly_flat)["high"]) == (3.0, 10.0)
    empty = np.full((4, 4), np.nan, np.float32)
    assert display_range(empty) == {"min": None, "max": None, "low": None, "high": None}
    partly = flat.copy()
    partly[1, 1] = np.nan
    assert display_range(partly)["low"] == 3.0


def test_write_display_round_trip_and_series_montage(tmp_path):
    data = np.arange(3 * 10 * 12, dtype=np.float32).reshape(3, 10, 12)
    series = emrestore.EMImage(data, pixel_size=0.5, unit="nm")
    shown = write_display(series, tmp_path / "frame.f32")
    assert shown["shape"] == [2 * 10 + 2, 2 * 12 + 2]  # 2 × 2 grid, 2-px gaps, as the PNG preview
    raw = np.fromfile(tmp_path / "frame.f32", dtype="<f4").reshape(shown["shape"])
    np.testing.assert_array_equal(raw, display_frame(series))
    np.testing.assert_array_equal(raw[:10, :12], data[0])
    single = emrestore.EMImage(data[1])
    shown = write_display(single, tmp_path / "frame.f32")  # replaces the file
    assert shown["shape"] == [10, 12]
    np.testing.assert_array_equal(np.fromfile(tmp_path / "frame.f32", dtype="<f4").reshape(10, 12), data[1])
    assert [p.name for p in tmp_path.iterdir()] == ["frame.f32"]  # no temporary file left


@pytest.mark.parametrize("size, unit, text", [
    (2.6103e-6, "m", "SEM at 2.61 µm/px"),
    (11.65, "nm", "SEM at 11.7 nm/px"),
    (2.5, "mm", "SEM at 2.5 mm/px"),
])
def test_chooser_reason_uses_sensible_units(size, unit, text):
    image = emrestore.EMImage(np.zeros((8, 8), np.float32), pixel_size=size, unit=unit, modality="sem")
    assert text in choose_model_tag(image).reason


def test_chooser_reason_for_atomic_pixels():
    image = emrestore.EMImage(np.zeros((8, 8), np.float32), pixel_size=0.0249, unit="nm", modality="stem")
    choice = choose_model_tag(image)
    assert choice.tag == "hrstem" and "STEM at 24.9 pm/px (atomic resolution" in choice.reason

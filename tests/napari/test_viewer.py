"""The plugin inside a real napari viewer (needs OpenGL: Xvfb + Mesa, see conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest

import emrestore

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

HANG_MS = 180_000


def test_dm3_open_restore_same_scale(make_viewer, qtbot, shared):
    path = shared("formats/test_STEM_image.dm3")
    viewer = make_viewer(show=True)  # shown (on Xvfb in CI) so that the canvas draws
    expected = emrestore.read(path)
    [layer] = viewer.open(str(path), plugin="emrestore")
    assert layer.name == "test_STEM_image"
    np.testing.assert_allclose(layer.scale, (expected.pixel_size,) * 2)
    assert [f"{u:~}" for u in layer.units] == ["nm", "nm"]
    assert layer.metadata["modality"] == "stem"

    _, widget = viewer.window.add_plugin_dock_widget("emrestore", "Restore")
    assert widget.layer_box.value is layer
    assert widget.choice_label.value.startswith("lrstem: from the file's metadata")
    widget.start()
    qtbot.waitUntil(lambda: not widget.busy, timeout=HANG_MS)
    restored = viewer.layers["test_STEM_image restored"]
    np.testing.assert_allclose(restored.scale, layer.scale)
    assert restored.units == layer.units
    assert restored.metadata["restoration"]["model"] == "lrstem"
    viewer.reset_view()
    shot = viewer.screenshot(canvas_only=True, flash=False)
    assert shot.ndim == 3 and shot[..., :3].std() > 0  # the canvas drew the image


def test_sample_and_writer_through_the_viewer(make_viewer, tmp_path):
    viewer = make_viewer()
    [layer] = viewer.open_sample("emrestore", "hrstem_low_dose")
    assert layer.metadata["modality"] == "stem" and [f"{u:~}" for u in layer.units] == ["nm", "nm"]
    written = viewer.layers.save(str(tmp_path / "sample.tif"), selected=False, plugin="emrestore")
    back = emrestore.read(written[0])
    assert back.pixel_size == pytest.approx(layer.scale[-1]) and back.unit == "nm" and back.modality == "stem"


def test_bad_file_is_an_error_not_a_crash(make_viewer, tmp_path):
    viewer = make_viewer()
    bad = tmp_path / "broken.dm4"
    bad.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(Exception, match="broken.dm4"):
        viewer.open(str(bad), plugin="emrestore")
    assert len(viewer.layers) == 0
    viewer.add_image(np.zeros((8, 8)))  # the viewer still works
    assert len(viewer.layers) == 1

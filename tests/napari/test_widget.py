"""The restore widget on a ViewerModel (Qt widgets, no canvas: runs without OpenGL)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import emrestore
from emrestore.napari._job import RestoreCancelled, restore_with_progress

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

#: Generous limit that only a hung worker exceeds [ms].
HANG_MS = 180_000


@pytest.fixture
def model_and_widget(qtbot, tmp_path):
    from napari.components import ViewerModel

    from emrestore.napari._reader import read_layers
    from emrestore.napari._widget import RestoreWidget

    rng = np.random.default_rng(3)
    image = emrestore.EMImage(rng.poisson(20, (96, 80)).astype(np.float32), pixel_size=0.25, unit="nm",
                              modality="stem")
    path = emrestore.write(image, tmp_path / "haadf.tif")
    viewer = ViewerModel()
    [(data, kwargs, _)] = read_layers(str(path))
    layer = viewer.add_image(data, translate=(5.0, -3.0), **kwargs)
    widget = RestoreWidget(viewer)
    qtbot.addWidget(widget.native)
    return viewer, layer, widget


def _run(qtbot, viewer, widget):
    before = len(viewer.layers)
    worker = widget.start()
    assert worker is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=HANG_MS)
    assert len(viewer.layers) == before + 1, widget.status_label.value
    return viewer.layers[-1]


def test_automatic_choice_is_shown_with_its_reason(model_and_widget):
    _, layer, widget = model_and_widget
    assert widget.layer_box.value is layer
    text = widget.choice_label.value
    assert text.startswith("lrstem: ")
    assert "from the file's metadata" in text and "0.25 nm/px" in text
    widget.model_box.value = "hrsem"
    assert widget.choice_label.value == "hrsem: chosen by you"
    assert widget.onnx_file.native.isHidden()
    widget.model_box.value = "custom .onnx file"
    assert not widget.onnx_file.native.isHidden()
    assert "pick an .onnx file" in widget.choice_label.value


def test_restore_adds_a_calibrated_layer_with_the_record(qtbot, model_and_widget):
    viewer, layer, widget = model_and_widget
    widget.tile_box.value = 512
    restored = _run(qtbot, viewer, widget)
    assert restored.name == "haadf restored"
    np.testing.assert_allclose(restored.scale, layer.scale)
    np.testing.assert_allclose(restored.translate, layer.translate)
    assert restored.units == layer.units
    assert restored.data.shape == layer.data.shape and restored.data.dtype == np.float32
    assert not np.allclose(restored.data, layer.data)
    record = restored.metadata["restoration"]
    assert record["model"] == "lrstem" and record["tile_px"] == 512
    assert "from the file's metadata" in record["model_choice"]
    assert restored.metadata["metadata"]["restoration"] == record
    assert restored.metadata["modality"] == "stem"
    # same as the library restoring the same image: the widget adds nothing of its own
    expected = emrestore.restore(emrestore.EMImage(layer.data, pixel_size=0.25, unit="nm", modality="stem"),
                                 tile=512, progress=False)
    np.testing.assert_allclose(restored.data, expected.data, rtol=0, atol=1e-5)
    assert widget.progress_bar.value == widget.progress_bar.max >= 1
    assert widget.restore_button.enabled and not widget.cancel_button.enabled


def test_chosen_tag_on_a_plain_series_layer(qtbot, model_and_widget):
    viewer, _, widget = model_and_widget
    stack = viewer.add_image(np.random.default_rng(4).normal(10, 1, (2, 64, 64)).astype(np.float32),
                             name="plain stack")
    widget.layer_box.value = stack
    assert "modality unknown" in widget.choice_label.value  # no metadata: says what it assumed
    widget.model_box.value = "hrstem"
    restored = _run(qtbot, viewer, widget)
    assert restored.name == "plain stack restored" and restored.data.shape == (2, 64, 64)
    assert restored.metadata["restoration"]["model"] == "hrstem"
    assert restored.metadata["restoration"]["model_choice"] == "chosen by the user"


def test_errors_show_in_the_status_line(qtbot, model_and_widget, tmp_path):
    viewer, layer, widget = model_and_widget
    widget.model_box.value = "custom .onnx file"
    assert widget.start() is None
    assert "No .onnx model file" in widget.status_label.value
    widget.onnx_file.value = tmp_path / "missing.onnx"
    assert widget.start() is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=HANG_MS)
    assert "does not exist" in widget.status_label.value
    assert len(viewer.layers) == 1
    widget.model_box.value = "automatic"
    layer.scale = (0.25, 0.5)
    assert widget.start() is None and "not square" in widget.status_label.value


def test_no_fake_uncertainty_layer(qtbot, model_and_widget):
    viewer, layer, widget = model_and_widget
    _run(qtbot, viewer, widget)
    assert [layer.name for layer in viewer.layers] == ["haadf", "haadf restored"]
    layer.name = "renamed"
    box = widget.layer_box.native  # the QComboBox: its item texts are the menu's labels
    assert sorted(box.itemText(i) for i in range(box.count())) == ["haadf restored", "renamed"]
    assert widget.layer_box.value is layer


def test_uncertainty_hook_uses_a_map_only_when_the_result_has_one():
    from emrestore.napari._layers import layer_kwargs
    from emrestore.napari._uncertainty import uncertainty_layer

    restored = emrestore.EMImage(np.ones((8, 8), np.float32), pixel_size=0.1, unit="nm", modality="stem")
    kwargs = {**layer_kwargs(restored, "x restored"), "translate": (2.0, 3.0)}
    assert uncertainty_layer(restored, kwargs) is None  # the library has no map: none invented
    restored.uncertainty = np.full((8, 8), 0.5, np.float32)  # what a future restore() would attach
    data, extra, kind = uncertainty_layer(restored, kwargs)
    assert data is restored.uncertainty and kind == "image" and extra["name"] == "x uncertainty"
    assert extra["scale"] == kwargs["scale"] and extra["translate"] == (2.0, 3.0)
    restored.uncertainty = np.zeros((4, 4), np.float32)  # wrong shape: ignored
    assert uncertainty_layer(restored, kwargs) is None


def test_job_reports_progress_and_cancels():
    image = emrestore.EMImage(np.random.default_rng(5).normal(0, 1, (64, 64)).astype(np.float32),
                              pixel_size=0.05, unit="nm", modality="stem")
    calls = []
    result = restore_with_progress(image, None, tile=None, progress=lambda *a: calls.append(a))
    assert calls[0] == (0, 1, "hrstem") and calls[-1] == (1, 1, "hrstem")
    assert result.metadata["restoration"]["model"] == "hrstem"
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(RestoreCancelled):
        restore_with_progress(image, "hrstem", tile=None, cancel=cancel)

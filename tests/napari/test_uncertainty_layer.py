"""With "uncertainty map" ticked, the widget adds the restoration's map as a calibrated layer."""

from __future__ import annotations

import numpy as np
import pytest

import emrestore

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

#: Generous limit that only a hung worker exceeds [ms].
HANG_MS = 180_000


def test_widget_adds_the_uncertainty_layer(qtbot, tmp_path):
    from napari.components import ViewerModel

    from emrestore.napari._reader import read_layers
    from emrestore.napari._widget import RestoreWidget

    rng = np.random.default_rng(3)
    y, x = np.mgrid[:96, :80]
    clean = 60 + 30 * np.cos(2 * np.pi * x / 6) * np.cos(2 * np.pi * y / 6)
    image = emrestore.EMImage(rng.poisson(clean).astype(np.float32), pixel_size=0.25, unit="nm",
                              modality="stem")
    path = emrestore.write(image, tmp_path / "haadf.tif")
    viewer = ViewerModel()
    [(data, kwargs, _)] = read_layers(str(path))
    layer = viewer.add_image(data, translate=(5.0, -3.0), **kwargs)
    widget = RestoreWidget(viewer)
    qtbot.addWidget(widget.native)
    widget.uncertainty_box.value = True
    assert widget.start() is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=HANG_MS)
    names = [item.name for item in viewer.layers]
    assert names == ["haadf", "haadf restored", "haadf uncertainty"], widget.status_label.value
    umap = viewer.layers["haadf uncertainty"]
    np.testing.assert_allclose(umap.scale, layer.scale)
    np.testing.assert_allclose(umap.translate, layer.translate)
    assert umap.data.shape == layer.data.shape and np.ptp(umap.data) > 0
    assert umap.metadata["uncertainty"]["method"].startswith("uncertainty")

"""The HyperSpy branch of restore(): the uncertainty map comes back as a signal on the same axes."""

from __future__ import annotations

import numpy as np
import pytest

import emrestore
from emrestore.restoration.hyperspy import is_hyperspy_signal, signal_as_image

hs = pytest.importorskip("hyperspy.api", reason="HyperSpy is not installed (pip install emrestore[hyperspy])")


def _signal():
    data = np.random.default_rng(5).normal(100.0, 10.0, (48, 56)).astype(np.float32)
    signal = hs.signals.Signal2D(data)
    for axis, offset in zip(signal.axes_manager.signal_axes, (1.5, -2.0)):
        axis.scale, axis.units, axis.offset = 0.05, "nm", offset
    signal.metadata.General.title = "frame"
    return signal


def test_signal_is_recognised_and_read_like_a_file():
    signal = _signal()
    assert is_hyperspy_signal(signal) and not is_hyperspy_signal(signal.data)
    image = signal_as_image(signal)
    assert image.pixel_size == pytest.approx(0.05) and image.source is None
    np.testing.assert_array_equal(image.data, signal.data)


def test_uncertainty_map_is_a_signal_on_the_restored_axes():
    signal = _signal()
    restored, umap = emrestore.restore(signal, model="hrstem", progress=False, uncertainty=True)
    plain = emrestore.restore(signal, model="hrstem", progress=False)
    np.testing.assert_array_equal(restored.data, plain.data)
    assert umap.data.shape == signal.data.shape and np.all(umap.data >= 0) and umap.data.max() > 0
    axes = [(a.scale, a.units, a.offset) for a in umap.axes_manager.signal_axes]
    assert axes == [(a.scale, a.units, a.offset) for a in signal.axes_manager.signal_axes]
    assert umap.metadata.General.title == "frame uncertainty"
    assert umap.metadata.get_item("emrestore.uncertainty") is not None

"""A model trained and exported here runs in emrestore's restore engine (ONNX and torch backends)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import tiny_config

from emrestore.restoration.engine import TilingWarning
from emrestore.training import Trainer

restoration = pytest.importorskip("emrestore.restoration")


def test_trained_model_restores_through_the_engine(tmp_path):
    config = tiny_config(schedule={"pixel_steps": 2, "gan_steps": 0})
    trainer = Trainer(config, tmp_path, progress=False)
    trainer.fit()
    image = np.random.default_rng(0).gamma(4.0, 25.0, (48, 40)).astype(np.float32)
    with torch.inference_mode():
        direct = trainer.generator.eval()(torch.from_numpy(image)[None, None]).numpy()[0, 0]
    for backend in ("onnx", "torch"):
        restorer = restoration.Restorer(tmp_path / "model.onnx", tile=0, backend=backend, progress=False)
        out = restorer.restore_array(image)
        assert out.shape == image.shape
        # whole image, frame statistics = its own: identical to the PyTorch model
        np.testing.assert_allclose(out, direct, rtol=1e-4, atol=1e-3)
    with pytest.warns(TilingWarning, match="below"):  # 8 px is less context than this model needs
        tiled = restoration.Restorer(tmp_path / "model.onnx", tile=24, overlap=8,
                                     progress=False).restore_array(image)
    assert tiled.shape == image.shape and np.isfinite(tiled).all()

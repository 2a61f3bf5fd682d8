"""Tiled restoration with a real CGRDN exported to ONNX agrees with a whole-image pass."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from emrestore.restoration import Restorer  # noqa: E402


@pytest.fixture(scope="module")
def cgrdn_model(tmp_path_factory):
    """The `tiny` CGRDN with perturbed weights (far from the identity it starts as), as ONNX."""
    from emrestore.nn import build_generator
    from emrestore.training.export import export_onnx, save_torch_weights

    model = build_generator("tiny", seed=0)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    path = tmp_path_factory.mktemp("cgrdn") / "tiny.onnx"
    export_onnx(model, path)
    save_torch_weights(model, path.with_suffix(".pt"))
    return path


def _frame(shape, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]]
    lattice = 1 + 0.8 * np.cos(2 * np.pi * x / 9.1) ** 2 * np.cos(2 * np.pi * y / 7.7) ** 2
    return rng.poisson(30 * lattice).astype(np.float32)


@pytest.mark.parametrize("tile, overlap", [(512, 64), (128, 48)])
def test_tiled_matches_whole_below_one_percent_of_std(cgrdn_model, tile, overlap):
    image = _frame((600, 520))
    whole = Restorer(cgrdn_model, tile=0, progress=False).restore_array(image)
    assert np.abs(whole - image).mean() > 0.05 * image.std()  # the network really changes the image
    tiled = Restorer(cgrdn_model, tile=tile, overlap=overlap, batch_size=2, progress=False).restore_array(image)
    assert np.abs(tiled - whole).max() < 0.01 * image.std()


def test_torch_backend_agrees_with_onnx(cgrdn_model):
    image = _frame((200, 170), seed=2)
    onnx_out = Restorer(cgrdn_model, tile=128, overlap=32, progress=False).restore_array(image)
    torch_out = Restorer(cgrdn_model, tile=128, overlap=32, backend="torch", progress=False).restore_array(image)
    assert np.abs(onnx_out - torch_out).max() < 1e-3 * image.std()

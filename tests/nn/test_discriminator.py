"""Conditional PatchGAN discriminator: output map size, receptive field, parameters."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from emrestore.nn import DiscriminatorConfig, build_discriminator  # noqa: E402

torch.set_num_threads(2)


def test_logit_map_is_32x32_for_256_input():
    d = build_discriminator(seed=0).eval()
    with torch.inference_mode():
        out = d(torch.rand(2, 1, 256, 256), torch.rand(2, 1, 256, 256))
    assert out.shape == (2, 1, 32, 32)


def test_paper_discriminator_widths():
    d = build_discriminator()
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1]
    assert [c.stride[0] for c in convs] == [2, 2, 2, 1, 1]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules()) == 3


def test_receptive_field_is_70():
    """The centre logit's gradient w.r.t. the input is non-zero on exactly a 70×70 window."""
    d = build_discriminator(DiscriminatorConfig(base_channels=4), seed=0).eval()
    for m in d.modules():  # positive weights so no cancellation hides a pixel
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.constant_(m.weight, 0.01)
    x = torch.rand(1, 1, 160, 160, requires_grad=True)
    y = torch.rand(1, 1, 160, 160)
    out = d(x, y)
    out[0, 0, 10, 10].backward()
    rows = (x.grad[0, 0].abs().sum(dim=1) > 0).nonzero().flatten()
    cols = (x.grad[0, 0].abs().sum(dim=0) > 0).nonzero().flatten()
    assert int(rows[-1] - rows[0] + 1) == 70
    assert int(cols[-1] - cols[0] + 1) == 70

"""CGRDN generator: parameter counts, shapes, intensity scale, configuration errors."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from emrestore.errors import ParameterError  # noqa: E402
from emrestore.nn import (  # noqa: E402
    GENERATOR_PRESETS,
    GeneratorConfig,
    build_generator,
    generator_gflop,
    generator_parameter_count,
)

torch.set_num_threads(2)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_paper_parameter_count_is_exact():
    model = build_generator("paper")
    assert n_params(model) == 7_035_521
    assert generator_parameter_count("paper") == 7_035_521


@pytest.mark.parametrize(
    "name, expected",
    [("paper-x4", 7_036_481), ("compact", 989_569), ("fast", 990_289), ("tiny", 181_857)],
)
def test_preset_parameter_counts(name, expected):
    assert n_params(build_generator(name)) == expected == generator_parameter_count(name)


def test_closed_form_count_matches_module_for_custom_sizes():
    cfg = GeneratorConfig(groups=3, blocks=2, layers=3, growth=8, channels=12, downsample=4)
    assert n_params(build_generator(cfg)) == generator_parameter_count(cfg)
    assert n_params(build_generator(cfg.to_dict())) == generator_parameter_count(cfg)


def test_paper_flops_match_reference():
    assert generator_gflop("paper", 256, 256) == pytest.approx(230.5, abs=0.1)
    assert generator_gflop("tiny", 256, 256) == pytest.approx(1.55, abs=0.01)


@pytest.mark.parametrize("downsample", [2, 4])
@pytest.mark.parametrize("size", [(1, 1), (7, 7), (16, 16), (9, 20), (33, 18)])
def test_forward_shapes_odd_even_nonsquare(downsample, size):
    cfg = GeneratorConfig(1, 1, 2, 4, 8, downsample)
    model = build_generator(cfg, seed=0).eval()
    x = torch.rand(3, 1, *size) * 100 + 5
    with torch.inference_mode():
        y = model(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


def test_output_follows_input_intensity_scale():
    """Raw in → raw out: scaling and offsetting the input does the same to the output."""
    model = build_generator("tiny", seed=1).eval()
    x = torch.rand(2, 1, 24, 20)
    with torch.inference_mode():
        y = model(x)
        y2 = model(x * 37.0 + 500.0)
    torch.testing.assert_close(y2, y * 37.0 + 500.0, rtol=1e-4, atol=1e-3)


def test_flat_image_stays_finite():
    model = build_generator("tiny", seed=1).eval()
    with torch.inference_mode():
        y = model(torch.full((1, 1, 8, 8), 3.0))
    assert torch.isfinite(y).all()


def test_seed_makes_initialisation_reproducible_and_leaves_global_rng():
    torch.manual_seed(5)
    state = torch.get_rng_state()
    a = build_generator("tiny", seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    b = build_generator("tiny", seed=3)
    c = build_generator("tiny", seed=4)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


def test_presets_are_named():
    for name, cfg in GENERATOR_PRESETS.items():
        assert cfg.name == name


@pytest.mark.parametrize(
    "spec",
    ["papr", {"groups": 0}, {"downsample": 3}, {"colour": 2}, 42, {"preset": "nope"}],
)
def test_bad_configurations_raise_parameter_error(spec):
    with pytest.raises(ParameterError) as info:
        build_generator(spec)
    assert "Fix:" in str(info.value)


def test_preset_override_dict():
    model = build_generator({"preset": "tiny", "downsample": 2})
    assert model.config.downsample == 2 and model.config.channels == 32


def test_configs_and_training_configs_load_without_torch():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from emrestore.nn import generator_parameter_count, GeneratorConfig\n"
        "from emrestore.training.config import default_config\n"
        "assert generator_parameter_count('paper') == 7035521\n"
        "print(default_config('hrtem').model.name)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "fast"


def test_a_noise_conditioned_network_starts_as_its_unconditioned_copy():
    plain = build_generator("tiny", seed=3)
    conditioned = build_generator({"preset": "tiny", "noise_conditioned": True}, seed=3)
    assert conditioned.config.name == "tiny" and conditioned.config.noise_conditioned
    assert n_params(conditioned) == generator_parameter_count(conditioned.config) == n_params(plain) + 32 * 6
    state = {**plain.state_dict(), "noise_vectors": torch.zeros(4, 32), "noise_gates": torch.zeros(2, 32)}
    conditioned.load_state_dict(state)
    x = torch.rand(2, 1, 40, 52) * 50 + 5
    level = torch.tensor([0.02, 0.7])
    with torch.no_grad():
        assert torch.equal(conditioned(x, level=level), plain(x))
        conditioned.noise_vectors.normal_()
        conditioned.noise_gates.normal_()
        changed = conditioned(x, level=level)
        assert not torch.allclose(changed, plain(x))
        # the level matters: another level, another output
        assert not torch.allclose(changed, conditioned(x, level=torch.tensor([0.5, 0.7])))
        # tiles get the frame's level through the stats
        stats = torch.tensor([[float(x[0].mean()), float(x[0].std(unbiased=False)), 0.02]])
        np.testing.assert_allclose(conditioned.forward_with_stats(x[:1], stats).numpy(),
                                   conditioned(x[:1], level=level[:1]).numpy(), rtol=1e-4, atol=1e-3)


def test_a_noise_conditioned_network_refuses_to_run_without_a_level():
    conditioned = build_generator({"preset": "tiny", "noise_conditioned": True}, seed=0)
    with pytest.raises(ValueError, match="noise level"):
        conditioned(torch.rand(1, 1, 16, 16))
    with pytest.raises(ParameterError, match="noise_conditioned"):
        GeneratorConfig(noise_conditioned="yes")

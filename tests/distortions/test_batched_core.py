"""The batched chain runner: parameters from the numpy sampler, one target formula, errors."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from emrestore.distortions import batched, distort  # noqa: E402
from emrestore.distortions.camera import Dose  # noqa: E402
from emrestore.distortions.chains import CHAINS  # noqa: E402
from emrestore.errors import ParameterError  # noqa: E402


def _clean(n: int = 3, size: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    base = 1.0 + 0.5 * np.cos(xx / 2.0) * np.cos(yy / 3.0)
    return np.stack([base * (0.5 + rng.random()) + 0.1 * rng.random((size, size)) for _ in range(n)]).astype(np.float32)


@pytest.mark.parametrize("modality", ["tem", "stem", "sem"])
def test_sample_batch_draws_what_distort_draws(modality):
    clean = _clean()
    seeds = [11, 12, 13]
    values = batched.sample_batch(modality, clean, [np.random.default_rng(s) for s in seeds],
                                  pixel_size_nm=[0.05, 2.0, None])
    for image, seed, size, drawn in zip(clean, seeds, [0.05, 2.0, None], values):
        _, _, params = distort(image, modality, seed=np.random.default_rng(seed), pixel_size_nm=size)
        params.pop("modality")
        assert drawn == params


def test_sample_batch_fixes_parameters_for_every_sample():
    values = batched.sample_batch("tem", _clean(), [np.random.default_rng(s) for s in range(3)],
                                  fixed={"dose_e_per_px": 7.0})
    assert [v["dose_e_per_px"] for v in values] == [7.0, 7.0, 7.0]


def test_sample_batch_needs_one_generator_per_image():
    with pytest.raises(ParameterError, match="one generator per image"):
        batched.sample_batch("tem", _clean(), [np.random.default_rng(0)])


@pytest.mark.parametrize("modality", ["tem", "stem", "sem"])
def test_target_terms_give_the_numpy_target(modality):
    chain = CHAINS[modality]
    clean = _clean(1)[0]
    clean = clean / clean.mean(dtype=np.float64)
    # without the display stage (which maps the target) the target is the formula
    _, target, params = distort(clean, modality, seed=4, display_applied=False)
    params.pop("modality")
    built = chain.build(params)
    offset, contrast, scale = chain.target_terms(params, built)
    assert contrast * scale > 0
    response = chain.expected_response(clean, built)
    np.testing.assert_allclose(target, offset + contrast * (response * scale), rtol=1e-5)
    got = batched.expected_response(chain, torch.from_numpy(clean[None].astype(np.float32)),
                                    {stage: [built[stage]] for stage in chain.stages},
                                    torch.Generator())
    np.testing.assert_allclose(got[0].numpy(), response, rtol=1e-5, atol=1e-6)


def test_column_gathers_a_parameter_with_none_as_nan():
    stages = [Dose(dose_e_per_px=2.0), Dose(dose_e_per_px=5.0)]
    assert batched.column(stages, "dose_e_per_px").tolist() == [2.0, 5.0]

    class WithNone:
        adc_bits = None

    assert torch.isnan(batched.column([WithNone()], "adc_bits")).all()


def test_implements_refuses_a_second_implementation():
    class Fake(Dose):
        pass

    def first(state, stages):
        return None

    batched.implements(Fake)(first)
    try:
        batched.implements(Fake)(first)  # the same function again is fine
        with pytest.raises(ValueError, match="two batched implementations"):
            batched.implements(Fake)(lambda state, stages: None)
    finally:
        batched.IMPLEMENTATIONS.pop(Fake)


def test_run_batch_checks_its_inputs():
    clean = torch.ones(2, 16, 16)
    values = batched.sample_batch("tem", clean, [np.random.default_rng(s) for s in range(2)])
    generator = torch.Generator().manual_seed(0)
    with pytest.raises(ParameterError, match="parameter sets for 2 images"):
        batched.run_batch("tem", clean, values[:1], generator)
    with pytest.raises(ParameterError, match="zero everywhere"):
        batched.run_batch("tem", torch.zeros(2, 16, 16), values, generator)
    with pytest.raises(ParameterError, match=r"\(B, H, W\)"):
        batched.run_batch("tem", torch.ones(16, 16), values, generator)


def test_every_stage_of_every_chain_has_a_batched_implementation():
    assert batched.missing_implementations() == []


@pytest.mark.parametrize("modality", ["tem", "stem", "sem"])
def test_a_chain_on_a_batch_matches_distort_in_target_and_noise(modality):
    """Whole chains (fixed parameters, display off): the same target (float rounding), noise level within sampling error."""
    yy, xx = np.mgrid[0:48, 0:48]
    clean = (1.0 + 0.3 * np.cos(xx / 6.0) * np.cos(yy / 7.0)).astype(np.float32)
    _, _, params = distort(clean, modality, seed=21, display_applied=False, pixel_size_nm=0.1)
    params.pop("modality")
    if "integration_frames" in params:
        params["integration_frames"] = 2
    reference = [distort(clean, modality, seed=100 + k, **params) for k in range(24)]
    numpy_degraded = np.stack([r[0] for r in reference])
    numpy_target = reference[0][1]
    values = [dict(params) for _ in range(24)]
    degraded, target = batched.run_batch(modality, torch.from_numpy(np.stack([clean] * 24)), values,
                                         torch.Generator().manual_seed(5))
    np.testing.assert_allclose(target.numpy(), np.stack([numpy_target] * 24), rtol=1e-5, atol=1e-4)
    residual_numpy = numpy_degraded - numpy_target
    residual_torch = degraded.numpy() - numpy_target

    def spread(r):  # robust: X-ray hits and hot pixels make the plain std a few events' number
        return np.median(np.abs(r - np.median(r)))

    scale = spread(residual_numpy)
    assert abs(np.median(residual_torch) - np.median(residual_numpy)) < 0.05 * scale + 1e-3 * abs(numpy_target.mean())
    assert 0.9 < spread(residual_torch) / scale < 1.1

"""Sample data: the demo's simulated HR-STEM frame, calibrated, fixed seed."""

from __future__ import annotations

import numpy as np
import pytest

from emrestore.datasets.atomic import DEMO_PIXEL_NM
from emrestore.evaluation.metrics import psnr
from emrestore.napari._sample import SIZE_PX, sample_clean, sample_noisy


def test_samples_are_the_calibrated_demo_pair():
    [(noisy, noisy_kwargs, kind)] = sample_noisy()
    [(clean, clean_kwargs, _)] = sample_clean()
    assert kind == "image"
    assert noisy.shape == clean.shape == (SIZE_PX, SIZE_PX)
    for kwargs in (noisy_kwargs, clean_kwargs):
        assert kwargs["scale"] == pytest.approx((DEMO_PIXEL_NM, DEMO_PIXEL_NM))
        assert kwargs["units"] == ("nm", "nm")
        assert kwargs["metadata"]["modality"] == "stem"
    assert noisy_kwargs["metadata"]["metadata"]["dose_e_per_px"] == 8.0
    # a noisy recording of the same frame: correlated with the truth, but far from equal
    assert not np.allclose(noisy, clean)
    assert np.corrcoef(noisy.ravel(), clean.ravel())[0, 1] > 0.3
    assert psnr(noisy, clean) < 40

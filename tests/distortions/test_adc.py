"""The ADC stage: integer codes inside the bit depth's range."""

from __future__ import annotations

import numpy as np
import pytest

from emrestore.distortions import ADC


@pytest.mark.parametrize("bits", [8, 12, 14, 16])
def test_adc_is_integer_and_in_range(bits):
    rng = np.random.default_rng(11)
    signal = rng.normal(2.0**bits / 2, 2.0**bits, (64, 64)).astype(np.float32)
    out = ADC(adc_bits=bits)(signal)
    assert np.array_equal(out, np.round(out))
    assert out.min() >= 0 and out.max() <= 2**bits - 1
    assert out.min() == 0 and out.max() == 2**bits - 1  # this input clips on both sides

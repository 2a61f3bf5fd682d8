"""A 8192×8192 image restores in bounded memory (slow: run with -m slow)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import emrestore
    model = sys.argv[1]
    rng = np.random.default_rng(0)
    image = emrestore.EMImage(rng.poisson(20.0, (8192, 8192)).astype(np.float32),
                              pixel_size=0.05, unit="nm", modality="stem")
    out = emrestore.restore(image, model=model, tile=512, progress=False)
    assert out.shape == (8192, 8192) and np.isfinite(out.data).all()
    with open("/proc/self/status") as status:  # VmHWM: peak resident memory of this process image
        print(next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024 ** 2)
    """
)


@pytest.mark.slow
def test_8k_image_peak_memory_below_4_gb(stats_model):
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(stats_model)], capture_output=True,
                            text=True, timeout=1800)
    assert result.returncode == 0, result.stderr
    peak_gib = float(result.stdout.strip().splitlines()[-1])
    assert peak_gib < 4.0 * 1e9 / 2**30, f"peak memory {peak_gib:.2f} GiB"

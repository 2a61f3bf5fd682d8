"""napari sample data: the demo's simulated HR-STEM frame, noise-free and at a low dose.

The same image as ``emrestore demo``: a clean HR-STEM frame from emrestore's own
simulator (seed 7, 384 px, 0.02 nm/px) and its recording through the STEM forward model
at 8 e⁻/px, both calibrated (STEM, nm). Rendering takes a few seconds once per session.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..image import EMImage
from ._layers import LayerDataTuple, image_to_layer_data

#: Settings of the sample: those of ``emrestore demo``'s defaults.
SEED = 7
SIZE_PX = 384
DOSE_E_PER_PX = 8.0


@lru_cache(maxsize=1)
def simulated_pair() -> tuple[EMImage, EMImage]:
    """The (low-dose recording, noise-free truth) pair, calibrated, rendered once.

    Returns
    -------
    (EMImage, EMImage)
        float32 (384, 384) STEM images at the demo's pixel size [nm].
    """
    from ..datasets import get_renderer
    from ..datasets.atomic import DEMO_PIXEL_NM
    from ..distortions import distort

    rng = np.random.default_rng(SEED)
    sample = get_renderer("hrstem")(SIZE_PX, rng, pixel_size_nm=DEMO_PIXEL_NM)
    degraded, target, _ = distort(sample.image, "stem", seed=SEED, dose_e_per_px=DOSE_E_PER_PX,
                                  display_applied=False)
    meta = {"simulated": True, "seed": SEED, "specimen": sample.params.get("specimen")}
    calibration = {"pixel_size": sample.pixel_size_nm, "unit": "nm", "modality": "stem"}
    noisy = EMImage(degraded, metadata={**meta, "dose_e_per_px": DOSE_E_PER_PX}, **calibration)
    clean = EMImage(target, metadata=meta, **calibration)
    return noisy, clean


def sample_noisy() -> list[LayerDataTuple]:
    """Sample: the simulated HR-STEM frame recorded at 8 e⁻/px (what you would restore)."""
    return [image_to_layer_data(simulated_pair()[0], "HR-STEM low dose (simulated)")]


def sample_clean() -> list[LayerDataTuple]:
    """Sample: the noise-free truth of the same frame (to compare a restoration with)."""
    return [image_to_layer_data(simulated_pair()[1], "HR-STEM noise-free (simulated)")]

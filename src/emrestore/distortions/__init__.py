"""Physical distortion models: the forward model of the microscope.

Each stage is a small class with physical parameters (units in their names), a
``sample(rng, **fixed)`` classmethod drawing them from the default ranges, and
``__call__(image, rng)``. The chains :data:`tem`, :data:`stem` and :data:`sem` are
ordered lists of stages, drawn and applied in the order of the specification
(:mod:`emrestore.distortions.chains`); the public entry point is :func:`distort`, which
always returns a degraded image and its target.

Examples
--------
>>> import numpy as np
>>> from emrestore.distortions import distort
>>> noisy, target, params = distort(np.ones((32, 32)), "stem", seed=0, dose_e_per_px=5.0)
>>> params["modality"], noisy.dtype
('stem', dtype('float32'))
"""

from __future__ import annotations

from .adc import ADC
from .camera import (
    Bias,
    ConversionGain,
    DarkCurrent,
    DeadHotPixels,
    DetectorBlur,
    Dose,
    FixedPattern,
    ReadoutNoise,
    ShotNoise,
    XRayHits,
)
from .chains import (
    CHAINS,
    Chain,
    distort,
    normalise_clean,
    parameter_names,
    sem,
    stem,
    tem,
)
from .detector import (
    Afterglow,
    BrightnessContrast,
    ElectronicNoise,
    Integration,
    LineIntensityNoise,
    ScintillatorGain,
    SecondaryEmission,
)
from .display import Display
from .parameters import Param, Stage
from .scan import (
    Drift,
    DwellBlur,
    FastJitter,
    FlybackSettling,
    Interference,
    LineJitter,
    Raster,
    ScanSpeedWarp,
)

__all__ = [
    "distort",
    "parameter_names",
    "CHAINS",
    "Chain",
    "tem",
    "stem",
    "sem",
    "normalise_clean",
    "Param",
    "Stage",
    # TEM camera
    "Dose",
    "ShotNoise",
    "ConversionGain",
    "DetectorBlur",
    "DarkCurrent",
    "FixedPattern",
    "ReadoutNoise",
    "Bias",
    "XRayHits",
    "DeadHotPixels",
    "ADC",
    # scan
    "Raster",
    "Drift",
    "LineJitter",
    "Interference",
    "FastJitter",
    "FlybackSettling",
    "ScanSpeedWarp",
    "DwellBlur",
    # STEM/SEM detector
    "SecondaryEmission",
    "ScintillatorGain",
    "Afterglow",
    "ElectronicNoise",
    "BrightnessContrast",
    "LineIntensityNoise",
    "Integration",
    # common
    "Display",
]

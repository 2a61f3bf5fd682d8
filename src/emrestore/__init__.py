"""emrestore: restore single-shot electron-microscopy images.

Public API
----------
read, write
    Read any supported microscope file into an :class:`EMImage` (calibration kept),
    write one back (TIFF, HSPY, PNG, NPY).
restore, load_model
    Restore an image, a series, a file or a HyperSpy signal with a trained network.
distort
    Degrade a clean image as a TEM, STEM or SEM would (the physical forward model).
estimate_noise
    Read the noise model (gain, offset, read noise, outliers, row jitter) from one frame.
EMImage
    Pixel data + pixel size + unit + modality + metadata.
errors
    The exception hierarchy for bad input.
"""

from __future__ import annotations

from . import errors
from .image import EMImage
from .distortions import distort
from .io import read, write
from .noise_estimate import estimate_noise
from .restoration import load_model, restore

__version__ = "0.1.0"

__all__ = ["EMImage", "read", "write", "restore", "load_model", "distort", "estimate_noise", "errors", "__version__"]

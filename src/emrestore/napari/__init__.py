"""napari plugin for emrestore (npe2 manifest: ``napari.yaml`` in this folder).

Contributes

- a **reader** for every format :func:`emrestore.read` reads (DM3/DM4, TIA SER/EMI,
  Velox/NCEM EMD, MRC, HyperSpy, TIFF incl. FEI/Zeiss SEM, PNG/JPEG, NPY): calibrated
  layers (``scale`` and ``units`` from the file), metadata kept (:mod:`._reader`);
- a **widget** "Restore (emrestore)" that restores an image layer in a worker thread
  (:mod:`._widget`);
- a **writer** for calibrated TIFF and HyperSpy files (:mod:`._writer`);
- **sample data**: the demo's simulated HR-STEM frame, noise-free and at low dose
  (:mod:`._sample`).

Install with ``pip install "emrestore[napari]"``; napari finds the plugin through the
``napari.manifest`` entry point. Importing this package imports neither napari nor Qt.
"""

from __future__ import annotations

from ._layers import image_to_layer_data, layer_to_image
from ._reader import get_reader
from ._writer import write_image

__all__ = ["get_reader", "image_to_layer_data", "layer_to_image", "write_image"]

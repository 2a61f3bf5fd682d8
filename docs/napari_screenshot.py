"""Render docs/napari.png: the sample frame and its restoration in napari, side by side.

Run on a machine with a display (or ``xvfb-run -a .venv/bin/python docs/napari_screenshot.py``):
it opens the plugin's low-dose HR-STEM sample, restores it with the dock widget (automatic
model choice) and saves a screenshot of the window, scaled to 960 px wide.
"""

from __future__ import annotations

import sys
from pathlib import Path

import napari
from PIL import Image
from qtpy.QtWidgets import QApplication

OUT = Path(__file__).with_name("napari.png")
WIDTH_PX = 960


def main() -> int:
    viewer = napari.Viewer(title="emrestore in napari")
    viewer.window._qt_window.resize(1500, 800)
    viewer.open_sample("emrestore", "hrstem_low_dose")
    _, widget = viewer.window.add_plugin_dock_widget("emrestore", "Restore")
    widget.start()
    app = QApplication.instance()
    while widget.busy:
        app.processEvents()
    viewer.grid.enabled = True
    viewer.scale_bar.visible = True  # in the layers' unit (nm)
    viewer.scale_bar.position = "bottom_left"
    viewer.reset_view()
    for _ in range(20):
        app.processEvents()
    shot = viewer.screenshot(canvas_only=False, flash=False)
    image = Image.fromarray(shot[..., :3])
    height = round(image.height * WIDTH_PX / image.width)
    small = image.resize((WIDTH_PX, height), Image.LANCZOS)
    small.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(OUT, optimize=True)
    print(OUT, widget.status_label.value)
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

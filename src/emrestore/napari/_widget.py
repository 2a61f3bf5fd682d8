"""The "Restore (emrestore)" dock widget.

Pick an image layer and a model ("automatic": chosen from the layer's modality and
pixel size, with the reason shown; a shipped tag; or an ``.onnx`` file), a tile size, and
press Restore. The network runs in a worker thread
(:func:`napari.qt.threading.thread_worker`), so the viewer stays responsive; a progress
bar counts tiles. The result is added as "<name> restored" with the source layer's scale,
units, translation and rotation, and ``metadata["restoration"]`` the library's record
of model, settings and choice.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, Label, ProgressBar, PushButton, SpinBox
from napari.layers import Image
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info
from superqt.utils import ensure_main_thread

from ..errors import EMRestoreError, ParameterError
from ..image import EMImage
from ..restoration import choose_model_tag, shipped_models
from ..restoration.engine import DEFAULT_TILE
from ._job import RestoreCancelled, restore_with_progress
from ._layers import layer_calibration, layer_kwargs, layer_modality, layer_state, layer_to_image
from ._uncertainty import restore_with_uncertainty, uncertainty_layer

if TYPE_CHECKING:
    import napari

#: The model menu's first entry: choose from the layer's modality and pixel size.
AUTOMATIC = "automatic"
#: The model menu's last entry: an .onnx file picked below it.
CUSTOM = "custom .onnx file"
#: Largest tile edge offered [px].
MAX_TILE = 8192


def _model_choices() -> list[str]:
    return [AUTOMATIC, *(info.name for info in shipped_models()), CUSTOM]


def describe_choice(layer: Image | None, model: str, onnx: Path | None) -> str:
    """What the Restore button will use, and why (the text under the model menu).

    Parameters
    ----------
    layer : napari.layers.Image or None
        The selected layer.
    model : str
        :data:`AUTOMATIC`, a shipped tag or :data:`CUSTOM`.
    onnx : Path or None
        The custom model file.

    Returns
    -------
    str
        E.g. ``"hrstem: from the file's metadata; STEM at 0.02 nm/px (atomic resolution,
        threshold 0.1 nm/px)"``.
    """
    if model == CUSTOM:
        return f"{onnx.name}: your model file" if onnx else "pick an .onnx file below"
    if model != AUTOMATIC:
        return f"{model}: chosen by you"
    if layer is None:
        return "add or select an image layer"
    try:
        state = layer_state(layer)
        pixel_size, unit = layer_calibration(np.shape(layer.data), state)
    except EMRestoreError as error:
        return f"cannot restore this layer: {error.cause}"
    probe = EMImage(np.zeros((1, 1), np.float32), pixel_size=pixel_size, unit=unit,
                    modality=layer_modality(state))
    choice = choose_model_tag(probe)
    return f"{choice.tag}: {choice.reason}"


class RestoreWidget(Container):
    """Dock widget: restore the selected image layer with an emrestore model.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer (napari passes it; a :class:`napari.components.ViewerModel` works too).
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._cancel_event = threading.Event()
        self._worker: Any = None
        self._started = 0.0
        self.layer_box = ComboBox(label="image", choices=self._image_layers,
                                  tooltip="The image layer to restore")
        self.model_box = ComboBox(label="model", choices=_model_choices(), value=AUTOMATIC,
                                  tooltip="automatic: chosen from the layer's modality and pixel size")
        self.onnx_file = FileEdit(label=".onnx file", mode="r", filter="*.onnx", visible=False)
        self.choice_label = Label(label="uses", value="")
        self.tile_box = SpinBox(label="tile [px]", min=0, max=MAX_TILE, step=64, value=DEFAULT_TILE,
                                tooltip="Tile edge in pixels; 0 restores the whole image at once "
                                        "(more memory). Tiles overlap by the model's receptive field, "
                                        "so the result does not depend on it.")
        self.uncertainty_box = CheckBox(text="uncertainty map", value=False,
                                        tooltip="Also add a layer with the estimated local error of the "
                                                "restoration (input units): where it may have removed or "
                                                "invented signal (docs/uncertainty.md)")
        self.restore_button = PushButton(text="Restore")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress_bar = ProgressBar(label="tiles", min=0, max=1, value=0)
        self.status_label = Label(label="", value="")
        self.extend([self.layer_box, self.model_box, self.onnx_file, self.choice_label, self.tile_box,
                     self.uncertainty_box, self.restore_button, self.cancel_button, self.progress_bar, self.status_label])
        for label in (self.choice_label, self.status_label):
            label.native.setWordWrap(True)

        self.layer_box.changed.connect(self._update_choice)
        self.model_box.changed.connect(self._model_changed)
        self.onnx_file.changed.connect(self._update_choice)
        self.restore_button.changed.connect(self.start)
        self.cancel_button.changed.connect(self.cancel)
        events = self._viewer.layers.events
        for event in (events.inserted, events.removed, events.reordered):
            event.connect(self._layers_changed)
        self._layers_changed()

    # ---------------------------------------------------------------- choices
    def _image_layers(self, _widget: Any = None) -> list[tuple[str, Image]]:
        return [(layer.name, layer) for layer in self._viewer.layers if isinstance(layer, Image)]

    def _layers_changed(self, event: Any = None) -> None:
        added = getattr(event, "value", None) if getattr(event, "type", None) == "inserted" else None
        for layer in [added] if added is not None else list(self._viewer.layers):
            if isinstance(layer, Image):
                layer.events.name.connect(self._layers_changed)  # renamed: new labels
        selected = self._viewer.layers.selection.active
        current = self.layer_box.value
        self.layer_box.reset_choices()
        if getattr(event, "type", None) == "name" and current in self.layer_box.choices:
            self.layer_box.value = current
        elif isinstance(selected, Image) and selected in self.layer_box.choices:
            self.layer_box.value = selected
        self._update_choice()

    def _model_changed(self, _value: Any = None) -> None:
        self.onnx_file.visible = self.model_box.value == CUSTOM
        self._update_choice()

    def _update_choice(self, _value: Any = None) -> None:
        onnx = self._onnx_path()
        self.choice_label.value = describe_choice(self.layer_box.value, self.model_box.value, onnx)

    def _onnx_path(self) -> Path | None:
        value = self.onnx_file.value
        path = Path(value) if value else None
        return path if path is not None and path.suffix.lower() == ".onnx" else None

    def _model_argument(self) -> str | Path | None:
        model = self.model_box.value
        if model == AUTOMATIC:
            return None
        if model == CUSTOM:
            path = self._onnx_path()
            if path is None:
                raise ParameterError("No .onnx model file is chosen.",
                                     "Pick one in '.onnx file', or choose a shipped model.")
            return path
        return model

    # ------------------------------------------------------------------- run
    @property
    def busy(self) -> bool:
        """True while a restoration runs."""
        return self._worker is not None

    def start(self, _value: Any = None) -> Any:
        """Start restoring the selected layer in a worker thread.

        Returns
        -------
        napari.qt.threading.FunctionWorker or None
            The started worker (``None`` when nothing could be started: the reason is in
            the status line and a napari notification).
        """
        if self.busy:
            return None
        layer = self.layer_box.value
        try:
            if layer is None:
                raise ParameterError("There is no image layer to restore.", "Open or add an image first.")
            image = layer_to_image(layer.data, layer_state(layer))
            model = self._model_argument()
        except EMRestoreError as error:
            self._report_error(error)
            return None
        self._cancel_event.clear()
        self.progress_bar.max = 1
        self.progress_bar.value = 0
        self.status_label.value = f"restoring {layer.name}…"
        self.restore_button.enabled = False
        self.cancel_button.enabled = True
        self._started = time.perf_counter()
        # ignore_errors: errors go to _report_error (status line + notification), not re-raised
        job = restore_with_uncertainty if self.uncertainty_box.value else restore_with_progress
        worker = thread_worker(job, start_thread=False, ignore_errors=True)(
            image, model, tile=self.tile_box.value, progress=self._show_progress,
            cancel=self._cancel_event)
        worker.returned.connect(lambda restored: self._add_result(layer, restored))
        worker.errored.connect(self._report_error)
        worker.finished.connect(self._finished)
        self._worker = worker
        worker.start()
        return worker

    def cancel(self, _value: Any = None) -> None:
        """Stop the running restoration after the tile batch in progress."""
        self._cancel_event.set()
        self.status_label.value = "cancelling…"

    @ensure_main_thread
    def _show_progress(self, done: int, total: int, model_name: str) -> None:
        self.progress_bar.max = max(total, 1)
        self.progress_bar.value = min(done, total)
        self.status_label.value = f"restoring with {model_name}: {done}/{total} tiles"

    def _finished(self) -> None:
        self._worker = None
        self.restore_button.enabled = True
        self.cancel_button.enabled = False

    def _report_error(self, error: BaseException) -> None:
        if isinstance(error, RestoreCancelled):
            self.status_label.value = "cancelled"
            return
        text = str(error) if isinstance(error, EMRestoreError) else f"{type(error).__name__}: {error}"
        self.status_label.value = f"error: {text}"
        show_error(f"emrestore: {text}")

    def _add_result(self, source: Image, restored: EMImage) -> Image:
        kwargs = layer_kwargs(restored, f"{source.name} restored")
        kwargs.update(scale=tuple(source.scale), translate=tuple(source.translate),
                      units=tuple(source.units), rotate=source.rotate, shear=source.shear,
                      axis_labels=tuple(source.axis_labels))
        kwargs["metadata"] = {**dict(source.metadata), **kwargs["metadata"]}
        layer = self._viewer.add_image(restored.data, **kwargs)
        extra = uncertainty_layer(restored, kwargs)
        if extra is not None:
            self._viewer.add_image(extra[0], **extra[1])
        record = restored.metadata.get("restoration", {})
        seconds = time.perf_counter() - self._started
        self.progress_bar.value = self.progress_bar.max
        self.status_label.value = (f"added '{layer.name}' ({record.get('model')}, "
                                   f"{record.get('tile_px')}-px tiles, {seconds:.1f} s)")
        show_info(f"emrestore: restored {source.name} with {record.get('model')}")
        return layer


def restore_widget(napari_viewer: napari.viewer.Viewer) -> RestoreWidget:
    """npe2 widget command: a :class:`RestoreWidget` for ``napari_viewer``."""
    return RestoreWidget(napari_viewer)

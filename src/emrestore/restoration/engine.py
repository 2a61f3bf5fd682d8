"""The restorer: one model, any image size, calibration and intensity scale kept."""

from __future__ import annotations

import datetime as _dt
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from ..errors import NonFiniteDataError, NotAnImageError, ParameterError
from ..image import EMImage
from ..model.conditioning import condition, noise_level
from ..model.registry import ModelInfo, find_model
from .backends import check_device, make_backend
from .choose import ModelChoice, choose_model_tag
from .grid_pattern import remove_grid_pattern
from .spectral_guard import MAX_GAIN, cap_spectral_gain, keep_input_spots
from .tiling import TileGrid, make_grid, min_tile, needed_overlap, pad_to_multiple, restore_tiled, window_margin

if TYPE_CHECKING:
    from .uncertainty import UncertaintyMap

logger = logging.getLogger("emrestore")

#: Default tile edge [px]: bounded memory (≈ 0.6 GiB for the `fast` CGRDN), few overlaps
#: (a 1024² frame is one pass: 1.2× faster than 512-px tiles, see docs/restore.md).
DEFAULT_TILE = 1024
#: Overlap between tiles [px] for a model whose receptive field is unknown (a card without
#: ``receptive_field_px`` or generator config). Models with a known one get
#: :func:`~emrestore.restoration.tiling.needed_overlap` of it (shipped: 104–144 px).
DEFAULT_OVERLAP = 64
#: Default number of tiles per network call.
DEFAULT_BATCH = 2
#: ``input_spots_kept`` of the provenance: which of the input's spots the whole-frame steps put
#: back where the network removed them (:func:`~emrestore.restoration.spectral_guard.keep_input_spots`).
SPOTS_KEPT = "isolated peaks"
SPOTS_KEPT_SCANNED = "isolated peaks on the input's lattice, not moved (scanned frame)"


class TilingWarning(UserWarning):
    """Tiling settings that were changed, or that make tiles differ from a whole-frame pass."""


def _torch_loader(info: ModelInfo):
    """Return a function(device) -> torch backend for ``info`` (needs its .pt weights)."""
    if not info.torch_path.is_file():
        return None

    def load(device: str):
        from .torch_backend import TorchBackend

        return TorchBackend(info, device=device)

    return load


class Restorer:
    """Restore images with one model.

    Parameters
    ----------
    model : str, Path or ModelInfo
        A shipped model tag (``"hrstem"``, ...), the path of an ``.onnx`` model, or a
        :class:`ModelInfo` (a model whose card is not on disk yet).
    tile : int, optional
        Tile edge [px]; images no larger than this are restored whole. Default 1024.
        ``0`` restores every image whole (needs memory for the whole image's activations).
        Rounded down to the model's grid; a tile that cannot hold two overlaps is enlarged
        to :func:`~emrestore.restoration.tiling.min_tile` with a :class:`TilingWarning`.
    overlap : int, optional
        Overlap between tiles [px]. Default: what the model's receptive field needs
        (:attr:`needed_overlap`: two margins of ``receptive_field_px`` from its card plus a
        16-px blend; 144 px for the shipped STEM models), so that tiled and whole-frame
        results agree within 0.1 % of the image's std; 64 px for a model whose receptive
        field is unknown. A smaller explicit overlap is used, with a :class:`TilingWarning`.
    batch_size : int, optional
        Tiles per network call (default 2).
    backend : {"auto", "onnx", "openvino", "openvino-bf16", "torch"}, optional
        Default ``$EMRESTORE_BACKEND``, else ``"auto"``: the fastest checked backend for this
        machine (:func:`~emrestore.restoration.backends.make_backend`; onnxruntime unless
        OpenVINO is installed); PyTorch needs the model's .pt weights. :attr:`backend_name`
        and the restoration record say which ran.
    device : {"auto", "cpu", "cuda"}, optional
        ``"auto"`` (default): the GPU when onnxruntime (or PyTorch, for
        ``backend="torch"``) can run on it, else the CPU, logged; ``"cuda"`` raises
        :class:`~emrestore.errors.EMRestoreError` with the fix when no GPU can be used.
        :attr:`device` and the restoration record say which device ran.
    progress : bool
        Show a progress bar over tiles.
    """

    def __init__(self, model: str | Path | ModelInfo, *, tile: int | None = None, overlap: int | None = None,
                 batch_size: int | None = None, backend: str | None = None,
                 device: str | None = None, progress: bool = True) -> None:
        self.info = model if isinstance(model, ModelInfo) else find_model(model)
        self.tile = DEFAULT_TILE if tile is None else int(tile)
        self.batch_size = DEFAULT_BATCH if batch_size is None else int(batch_size)
        if self.tile < 0 or self.batch_size < 1 or (overlap is not None and int(overlap) < 0):
            raise ParameterError(
                f"tile and overlap must be ≥ 0 and batch_size ≥ 1 (got tile={tile}, overlap={overlap}, "
                f"batch_size={batch_size}).",
                "Use e.g. tile=1024, batch_size=2 and no overlap (the model's own); tile=0 restores "
                "the whole image at once.",
            )
        #: Context [px] the model needs beyond each output pixel (None: unknown).
        self.context = self.info.receptive_field_px
        self.overlap = self.needed_overlap if overlap is None else int(overlap)
        #: Band [px] at each interior tile edge that gets (almost) no weight.
        self.margin = window_margin(self.overlap, self.context)
        self._check_tiling(overlap)
        self.progress = progress
        self.run = make_backend(self.info.onnx_path, backend, device,
                                torch_loader=_torch_loader(self.info), signature=self.info.card.onnx_signature)
        #: The backend that runs (for ``"auto"``: the one chosen).
        self.backend_name = str(getattr(self.run, "name", None) or backend or "onnx")
        #: The device the network runs on, ``"cpu"`` or ``"cuda"`` (for ``"auto"``: the one chosen).
        self.device = str(getattr(self.run, "device", None) or check_device(device))
        self.takes_stats = bool(getattr(self.run, "takes_stats", False))
        #: 3: the network is also told the frame's noise level (a noise-conditioned model).
        self.stats_width = int(getattr(self.run, "stats_width", 2))
        self.clip_percent = self.info.input_clip_percent

    @property
    def needed_overlap(self) -> int:
        """Overlap [px] this model needs for tiles to agree with a whole-frame pass.

        :func:`~emrestore.restoration.tiling.needed_overlap` of the card's
        ``receptive_field_px``; :data:`DEFAULT_OVERLAP` when the receptive field is unknown.
        """
        if self.context is None:
            return DEFAULT_OVERLAP
        return needed_overlap(self.context, self.info.size_multiple)

    @property
    def min_tile(self) -> int:
        """Smallest tile edge [px] accepted with this overlap (larger requests are kept)."""
        return min_tile(self.overlap, self.info.size_multiple)

    def _check_tiling(self, requested_overlap: int | None) -> None:
        """Warn about an overlap below the model's need; round the tile to the grid and
        enlarge a tile too small for two overlaps."""
        multiple = self.info.size_multiple
        if self.tile == 0:
            return
        if requested_overlap is not None and self.context is not None and self.overlap < self.needed_overlap:
            expected = self.info.card.tile_error_of_std(self.margin)
            warnings.warn(
                f"Overlap {self.overlap} px is below the {self.needed_overlap} px that model {self.info.name} "
                f"needs (its receptive field: {self.context} px of context at each tile edge): tiled "
                f"results may differ from a whole-image pass near tile edges"
                + (f" (by up to about {100 * expected:.2g} % of the image's std)" if expected else "")
                + ". Leave the overlap unset to use the model's own.",
                TilingWarning, stacklevel=3)
        tile = max(multiple, (self.tile // multiple) * multiple)
        smallest = self.min_tile
        if tile < smallest:
            warnings.warn(
                f"Tile {self.tile} px is too small for the {self.overlap}-px overlap of model {self.info.name} "
                f"(a tile must hold more than two overlaps); using {smallest}-px tiles. Pass tile ≥ "
                f"{smallest} (≥ {4 * self.overlap // multiple * multiple} wastes less work), or tile=0 to "
                f"restore whole images.",
                TilingWarning, stacklevel=3)
            tile = smallest
        self.tile = tile

    # ------------------------------------------------------------------ core
    def _plan(self, height: int, width: int) -> tuple[int, int, TileGrid]:
        """Padded size and tile grid for a (height, width) frame."""
        multiple = self.info.size_multiple
        padded_h = max(-(-height // multiple) * multiple, 4 * multiple)
        padded_w = max(-(-width // multiple) * multiple, 4 * multiple)
        tile = self.tile or max(padded_h, padded_w)
        tile = max(multiple, (tile // multiple) * multiple)
        grid = make_grid(padded_h, padded_w, tile, self.overlap, multiple, margin=self.margin)
        return padded_h, padded_w, grid

    def normalisation(self, image: np.ndarray) -> tuple[np.ndarray, float, float]:
        """The frame as the network gets it, and the whole frame's mean and std.

        Models with ``input_clip_percent`` get the frame clipped to its percentiles first;
        mean and std are those of the (clipped) whole frame, shared by all its tiles
        (:func:`emrestore.model.conditioning.condition`).
        """
        return condition(image, self.clip_percent)

    def frame_level(self, data: np.ndarray) -> float | None:
        """The frame's noise level for a noise-conditioned model (None for others).

        :func:`emrestore.model.conditioning.noise_level` of the conditioned frame, shared by
        all its tiles (as the mean and std are).
        """
        return noise_level(data) if self.takes_stats and self.stats_width == 3 else None

    def predictor(self, mean: float, std: float, level: float | None = None) -> Callable[[np.ndarray], np.ndarray]:
        """The network as a function of a (B, 1, h, w) batch, normalised with (mean, std) and,
        for a noise-conditioned model, told the frame's noise ``level`` (:meth:`frame_level`)."""
        if not self.takes_stats:
            return self.run
        if self.stats_width == 3 and level is None:
            raise ValueError("A noise-conditioned model needs the frame's noise level (Restorer.frame_level).")
        stats = np.array([[mean, std] + ([level] if self.stats_width == 3 else [])], dtype=np.float32)

        def predict(batch: np.ndarray) -> np.ndarray:
            return self.run(batch, np.repeat(stats, len(batch), axis=0))

        return predict

    def tile_count(self, shape: tuple[int, ...]) -> int:
        """Number of tiles the network runs for data of ``shape`` ((H, W) or (N, H, W))."""
        frames = shape[0] if len(shape) == 3 else 1
        return frames * len(self._plan(shape[-2], shape[-1])[2].positions())

    def restore_array(self, image: np.ndarray, on_tiles: Callable[[int], None] | None = None) -> np.ndarray:
        """Restore one (H, W) image; returns float32 (H, W) in the input's units.

        Parameters
        ----------
        image : numpy.ndarray
            (H, W) frame in any units.
        on_tiles : callable, optional
            Called with the number of tiles finished after each network call (progress).

        Notes
        -----
        Models trained with ``input_clip_percent`` > 0 (TEM: X-ray hits, hot pixels) get the
        frame clipped to its percentiles first, as in training. The fixed pattern a network at
        reduced resolution leaves on its pixel grid is removed
        (:mod:`emrestore.restoration.grid_pattern`), and no frequency is left with more power than
        the input gives evidence for, and, for a TEM model, none of the Bragg spots the input
        clearly shows is removed (:mod:`emrestore.restoration.spectral_guard`):
        :meth:`whole_frame_steps`.
        """
        data = np.asarray(image, dtype=np.float32)
        if data.ndim != 2:
            raise NotAnImageError(f"restore_array needs a 2-D image, got shape {data.shape}.",
                                  "Pass one frame, or use restore() for series.")
        data, out = self.network_output(data, on_tiles)
        return self.whole_frame_steps(data, out)

    def whole_frame_steps(self, data: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The last steps of :meth:`restore_array`, which need the whole restored frame: the
        network's grid pattern removed (:mod:`~emrestore.restoration.grid_pattern`), then its
        spectral gain capped and the input's clearly visible Bragg spots put back where it removed
        them (:mod:`~emrestore.restoration.spectral_guard`; for STEM and SEM models only spots on
        the input's lattice that the network did not move: :attr:`scanned`).

        Parameters
        ----------
        data, out : numpy.ndarray
            (H, W) frame as the network got it and the network's output (:meth:`network_output`).
        """
        capped = cap_spectral_gain(data, remove_grid_pattern(data, out, self.info.size_multiple))
        return keep_input_spots(data, capped, scanned=self.scanned)

    @property
    def scanned(self) -> bool:
        """Whether the model restores scanned frames (STEM, SEM). Their spectra also hold isolated
        peaks that the expected frame lacks — satellites of the lattice spots from periodic scan
        jitter, spots displaced by drift — which the networks are trained to remove or move, so
        :meth:`whole_frame_steps` puts back only spots on the input's reciprocal lattice that the
        network did not move (docs/restore.md)."""
        return self.info.modality in ("stem", "sem")

    def network_output(self, image: np.ndarray, on_tiles: Callable[[int], None] | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """The frame as the network gets it (:meth:`normalisation`) and the network's output, its
        tiles blended — :meth:`restore_array` before its last step, the removal of the grid
        pattern (:mod:`~emrestore.restoration.grid_pattern`). Both float32 (H, W)."""
        data, mean, std = self.normalisation(np.asarray(image, dtype=np.float32))
        _, _, grid = self._plan(*data.shape)
        padded, (height, width) = pad_to_multiple(data, self.info.size_multiple,
                                                  minimum=4 * self.info.size_multiple)
        predict = self.predictor(mean, std, self.frame_level(data))

        n_tiles = len(grid.positions())
        bar = tqdm(total=n_tiles, desc="tiles", unit="tile", leave=False,
                   disable=not self.progress or n_tiles < 2)

        def progress(done: int) -> None:
            bar.update(done)
            if on_tiles is not None:
                on_tiles(done)

        try:
            out = restore_tiled(padded, predict, grid, self.batch_size, on_batch=progress)
        finally:
            bar.close()
        out = np.ascontiguousarray(out[:height, :width])
        return data, out

    def restore_data(self, data: np.ndarray, on_tiles: Callable[[int], None] | None = None) -> np.ndarray:
        """Restore (H, W) or (N, H, W) data frame by frame (``on_tiles`` as in restore_array)."""
        data = np.asarray(data)
        _check_pixels(data)
        if data.ndim == 2:
            return self.restore_array(data, on_tiles)
        frames = tqdm(range(data.shape[0]), desc="frames", unit="frame", leave=False,
                      disable=not self.progress or data.shape[0] < 2)
        return np.stack([self.restore_array(data[i], on_tiles) for i in frames])

    def provenance(self, choice: ModelChoice | None = None, blockwise: bool = False) -> dict[str, Any]:
        """What made a restored image: model, its hash, settings, emrestore version, date.

        ``blockwise``: restored block by block (:mod:`~emrestore.restoration.blockwise`), which does
        not take the whole-frame steps (recorded as ``grid_pattern_removed_px``,
        ``spectral_gain_capped_at`` and ``input_spots_kept`` otherwise: :meth:`whole_frame_steps`).
        """
        from .. import __version__

        record = {
            "model": self.info.name,
            "model_file": self.info.onnx_path.name,
            "model_sha256": self.info.sha256(),
            "model_config": self.info.card.config_name,
            "backend": self.backend_name,
            "device": self.device,
            "tile_px": self.tile,
            "overlap_px": self.overlap,
            "receptive_field_px": self.context,
            "batch_size": self.batch_size,
            "emrestore_version": __version__,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        if self.info.size_multiple > 1 and not blockwise:
            record["grid_pattern_removed_px"] = self.info.size_multiple
        if not blockwise:
            record["spectral_gain_capped_at"] = MAX_GAIN
            record["input_spots_kept"] = SPOTS_KEPT_SCANNED if self.scanned else SPOTS_KEPT
        if choice is not None:
            record["model_choice"] = choice.reason
        return record

    def uncertainty(self, data: np.ndarray, restored: np.ndarray, *, dihedral: int = 0,
                    renoise: int = 0, window: float | None = None, modality: str | None = None) -> "UncertaintyMap":
        """The uncertainty map of ``restored`` (this restorer's output for ``data``).

        Parameters
        ----------
        data, restored : numpy.ndarray
            (H, W) or (N, H, W) input and restoration [input units].
        dihedral : {0, 4, 8}
            Also the spread over this many flipped/rotated copies, restored by this model
            (``dihedral − 1`` extra restorations per frame; 0: none).
        renoise : int
            Also the spread over this many re-noised copies (that many extra restorations).
        window : float, optional
            Gaussian window σ [px] of the physics check (default 8).
        modality : {"tem", "stem", "sem"}, optional
            For the noise estimate.

        Returns
        -------
        UncertaintyMap
            See :mod:`emrestore.restoration.uncertainty` and ``docs/uncertainty.md``.
        """
        from .uncertainty import DEFAULT_WINDOW, MapCalibration, uncertainty_map

        return uncertainty_map(data, restored, restore=self.restore_array, dihedral=dihedral, renoise=renoise,
                               window=DEFAULT_WINDOW if window is None else window, modality=modality,
                               progress=self.progress,
                               calibration=MapCalibration.from_card(self.info.card, self.info.name))

    def restore_image(self, image: EMImage, choice: ModelChoice | None = None,
                      on_tiles: Callable[[int], None] | None = None) -> EMImage:
        """Restore an :class:`EMImage`; calibration and metadata are kept, provenance added."""
        from ..io.metadata import set_restoration_record

        out = image.with_data(self.restore_data(image.data, on_tiles))
        set_restoration_record(out, self.provenance(choice))  # the one writer of the record
        return out


def _check_pixels(data: np.ndarray) -> None:
    if data.ndim not in (2, 3) or data.size == 0:
        raise NotAnImageError(
            f"Cannot restore data of shape {data.shape}: an image is (H, W) or a series (N, H, W).",
            "Pass a 2-D image or a stack of 2-D images.",
        )
    if not np.isfinite(data).all():
        raise NonFiniteDataError(
            f"The image holds {int((~np.isfinite(data)).sum())} NaN or infinite pixel(s); the network cannot restore them.",
            "Replace them first (e.g. numpy.nan_to_num or inpainting).",
        )


def resolve_choice(image: EMImage | None, model: str | Path | None) -> tuple[str | Path, ModelChoice]:
    """The model to use for ``image`` and a human-readable reason."""
    if model is not None:
        return model, ModelChoice(tag=str(model), reason="chosen by the user")
    choice = choose_model_tag(image)
    return choice.tag, choice

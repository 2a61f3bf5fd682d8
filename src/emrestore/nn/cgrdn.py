"""CGRDN generator: per-image normalisation, a grouped residual-dense body at reduced
resolution, and a global residual, mapping raw intensities to raw intensities.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .configs import STD_EPS, GeneratorConfig, generator_config

#: Scale of the noise-conditioning weights in the forward pass: Adam moves a weight by about
#: the learning rate per step whatever its gradient, so weights starting at zero need this
#: factor to reach an effect of order 1 within a few hundred steps (a learning-rate
#: multiplier for them, without a separate optimiser group).
NOISE_SCALE = 30.0

__all__ = ["CGRDN", "ResidualDenseBlock", "DenseGroup", "build_generator", "normalise_images"]


def normalise_images(x: Tensor, eps: float = STD_EPS) -> tuple[Tensor, Tensor, Tensor]:
    """Normalise each image to zero mean and unit std.

    Parameters
    ----------
    x : Tensor
        (N, 1, H, W) raw intensities.
    eps : float
        Floor of the std [input units] (:data:`emrestore.nn.configs.STD_EPS`).

    Returns
    -------
    (x_hat, mean, std) : tuple of Tensor
        ``x_hat`` (N, 1, H, W) = (x − mean) / max(std, eps); ``mean`` and ``std`` (N, 1, 1, 1).
    """
    mean = x.mean(dim=(-2, -1), keepdim=True)
    var = (x - mean).square().mean(dim=(-2, -1), keepdim=True)
    std = var.sqrt().clamp_min(eps)
    return (x - mean) / std, mean, std


class ResidualDenseBlock(nn.Module):
    """``layers`` densely connected 3×3 conv + ReLU layers, 1×1 local fusion, local residual.

    Input and output: (N, channels, h, w).
    """

    def __init__(self, channels: int, growth: int, layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Conv2d(channels + growth * k, growth, 3, padding=1) for k in range(layers)
        )
        self.fuse = nn.Conv2d(channels + growth * layers, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for conv in self.layers:
            features.append(F.relu(conv(torch.cat(features, dim=1))))
        return self.fuse(torch.cat(features, dim=1)) + x


class DenseGroup(nn.Module):
    """``blocks`` chained RDBs whose outputs are concatenated, fused by 1×1 conv, plus the input."""

    def __init__(self, channels: int, growth: int, layers: int, blocks: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(ResidualDenseBlock(channels, growth, layers) for _ in range(blocks))
        self.fuse = nn.Conv2d(channels * blocks, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        outputs = []
        h = x
        for block in self.blocks:
            h = block(h)
            outputs.append(h)
        return self.fuse(torch.cat(outputs, dim=1)) + x


class CGRDN(nn.Module):
    """Concatenated Grouped Residual Dense Network (Lobato, Friedrich & Van Aert 2024).

    ``forward`` takes raw images (N, 1, H, W) of any H, W ≥ 1 and returns restored images of
    the same shape and intensity scale: each image is normalised by its own mean and std,
    padded (edge replication) to a multiple of the down-sampling factor,
    restored, cropped back and de-normalised.

    Parameters
    ----------
    config : GeneratorConfig
        Sizes (see :class:`~emrestore.nn.configs.GeneratorConfig`).
    """

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        ch, f = config.channels, config.downsample
        self.stem = nn.Conv2d(1, ch, 3, padding=1)
        if f == 2:
            self.down: nn.Module = nn.Conv2d(ch, ch, 4, stride=2, padding=1)
            self.up: nn.Module = nn.ConvTranspose2d(ch, ch, 4, stride=2, padding=1)
        else:
            self.down = nn.Sequential(nn.PixelUnshuffle(f), nn.Conv2d(ch * f * f, ch, 1))
            self.up = nn.Sequential(nn.Conv2d(ch, ch * f * f, 1), nn.PixelShuffle(f))
        self.groups = nn.ModuleList(
            DenseGroup(ch, config.growth, config.layers, config.blocks) for _ in range(config.groups)
        )
        self.fuse = nn.Conv2d(ch * config.groups, ch, 1)
        self.out = nn.Conv2d(ch, 1, 3, padding=1)
        if config.refine:
            r = config.refine
            #: Full-resolution head on (input, restoration); its last conv starts at zero.
            self.refine = nn.Sequential(nn.Conv2d(2, r, 3, padding=1), nn.ReLU(inplace=True),
                                        nn.Conv2d(r, r, 3, padding=1), nn.ReLU(inplace=True),
                                        nn.Conv2d(r, 1, 3, padding=1))
            nn.init.zeros_(self.refine[-1].weight)
            nn.init.zeros_(self.refine[-1].bias)
        if config.noise_conditioned:
            #: Rows: body input, each group's input, before the up-sampling (zero: no effect yet).
            self.noise_vectors = nn.Parameter(torch.zeros(config.groups + 2, ch))
            #: Per-channel gate ``2·sigmoid(w·code + b)`` of the features before the up-sampling
            #: (rows w, b; zero: a gate of 1). Only a gate can switch off the path through the
            #: long skip, which is linear in the input, where a frame has no noise to remove.
            self.noise_gates = nn.Parameter(torch.zeros(2, ch))

    @property
    def factor(self) -> int:
        """Down-sampling factor of the body; padded sizes are multiples of it."""
        return self.config.downsample

    def forward_normalised(self, x_hat: Tensor, level: Tensor | None = None) -> Tensor:
        """Restore normalised images whose H and W are multiples of :attr:`factor`.

        Parameters
        ----------
        x_hat : Tensor
            (N, 1, H, W), zero mean and unit std per image.
        level : Tensor, optional
            (N,) noise levels (:func:`emrestore.model.conditioning.noise_level`); needed by a
            ``noise_conditioned`` network, ignored by others.

        Returns
        -------
        Tensor
            (N, 1, H, W) restored, in the same normalised units.
        """
        code = self._noise_code(level, x_hat)
        shifts = None if code is None else [
            code * (NOISE_SCALE * v[None, :, None, None]) for v in self.noise_vectors.to(x_hat.dtype)]
        low = self.down(self.stem(x_hat))
        if shifts is not None:
            low = low + shifts[0]
        outputs = []
        h = low
        for index, group in enumerate(self.groups):
            h = group(h if shifts is None else h + shifts[index + 1])
            outputs.append(h)
        h = self.fuse(torch.cat(outputs, dim=1)) + low
        if shifts is not None:
            gates = self.noise_gates.to(x_hat.dtype)
            h = (h + shifts[-1]) * (2.0 * torch.sigmoid(NOISE_SCALE * (code * gates[0][None, :, None, None]
                                                                       + gates[1][None, :, None, None])))
        restored = self.out(self.up(h)) + x_hat
        if self.config.refine:
            restored = restored + self.refine(torch.cat([x_hat, restored], dim=1))
        return restored

    def _noise_code(self, level: Tensor | None, x_hat: Tensor) -> Tensor | None:
        """``log10(level)`` (clamped to [1e-4, 4]) as (N, 1, 1, 1) for a noise-conditioned network."""
        if not self.config.noise_conditioned:
            return None
        if level is None:
            raise ValueError("A noise-conditioned CGRDN needs the noise level of each image "
                             "(emrestore.model.conditioning.noise_level).")
        return torch.log10(level.reshape(-1).to(x_hat.dtype).clamp(1e-4, 4.0))[:, None, None, None]

    def pad(self, x: Tensor) -> tuple[Tensor, int, int]:
        """Pad (N, C, H, W) at the bottom/right to multiples of :attr:`factor`.

        Returns the padded tensor and the original H, W. Edge pixels are replicated, which
        works for every size (even 1×1) and keeps the padded border free of new structure.
        """
        h, w = x.shape[-2], x.shape[-1]
        f = self.factor
        pad_h = (f - h % f) % f
        pad_w = (f - w % f) % f
        return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate"), h, w

    def forward_training(self, x: Tensor, level: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Restore and return the prediction in the input's normalised units.

        Parameters
        ----------
        x : Tensor
            (N, 1, H, W) raw degraded images.
        level : Tensor, optional
            (N,) their noise levels, for a ``noise_conditioned`` network
            (:func:`emrestore.training.levels.noise_levels` measures them).

        Returns
        -------
        (pred_hat, mean, std) : tuple of Tensor
            ``pred_hat`` (N, 1, H, W) is the restored image normalised with the input's
            ``mean`` and ``std`` (N, 1, 1, 1); the raw restoration is ``pred_hat * std + mean``.
        """
        x_hat, mean, std = normalise_images(x)
        padded, h, w = self.pad(x_hat)
        pred = self.forward_normalised(padded, level)[..., :h, :w]
        return pred, mean, std

    def forward_with_stats(self, x: Tensor, stats: Tensor) -> Tensor:
        """Restore raw images normalised with given statistics instead of their own.

        Tiled restoration passes every tile with the *whole frame's* mean and std, so that
        all tiles share one normalisation (no seams).

        Parameters
        ----------
        x : Tensor
            (N, 1, H, W) raw images (tiles), any H, W.
        stats : Tensor
            (N, 2): mean and std [input units] to normalise with (std > 0); (N, 3) for a
            ``noise_conditioned`` network, the third column the frame's noise level.

        Returns
        -------
        Tensor
            (N, 1, H, W) restored, in the input's units.
        """
        mean = stats[:, 0].reshape(-1, 1, 1, 1)
        std = stats[:, 1].reshape(-1, 1, 1, 1).clamp_min(STD_EPS)
        padded, h, w = self.pad((x - mean) / std)
        level = stats[:, 2] if self.config.noise_conditioned else None
        return self.forward_normalised(padded, level)[..., :h, :w] * std + mean

    def forward(self, x: Tensor, return_normalised: bool = False, level: Tensor | None = None):
        """Restore raw images (N, 1, H, W) → (N, 1, H, W), same intensity scale.

        With ``return_normalised=True`` return :meth:`forward_training`'s
        ``(pred_hat, mean, std)`` instead (the trainer uses this through DDP, which only
        wraps ``forward``).
        """
        pred, mean, std = self.forward_training(x, level)
        if return_normalised:
            return pred, mean, std
        return pred * std + mean


def build_generator(config: "str | GeneratorConfig | dict" = "paper", seed: int | None = None) -> CGRDN:
    """Build a CGRDN from a preset name (``"paper"``, ``"fast"``, ...), a dict or a config.

    Parameters
    ----------
    config : str, dict or GeneratorConfig
        The sizes; ``"paper"`` is the published network with 7,035,521 parameters.
    seed : int, optional
        Seed for the weight initialisation (PyTorch defaults: Kaiming-uniform); when given, the
        global torch RNG is left untouched.

    Raises
    ------
    ParameterError
        For an unknown name or bad sizes.
    """
    cfg = generator_config(config)
    if seed is None:
        return CGRDN(cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return CGRDN(cfg)

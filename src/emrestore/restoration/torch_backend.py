"""PyTorch backend: runs a model's PyTorch weights (``<stem>.pt`` next to its ONNX file).

The ``.pt`` file holds ``{"config": <generator config dict>, "state_dict": ...}``. Like
the ONNX graphs emrestore exports, the backend takes each tile together with the whole
frame's (mean, std), so tiles share one normalisation: it runs the same
:meth:`~emrestore.nn.CGRDN.forward_with_stats` that the ONNX export traces.
"""

from __future__ import annotations

import numpy as np

from ..errors import EMRestoreError
from ..model.conditioning import batch_stats
from ..model.registry import ModelInfo


class TorchBackend:
    """Run a CGRDN generator with PyTorch (CPU or CUDA), channels-last, inference mode.

    Parameters
    ----------
    info : ModelInfo
        The model; its ``torch_path`` must exist.
    device : {"cpu", "cuda"}
        Where to run.
    """

    name = "torch"
    takes_stats = True

    def __init__(self, info: ModelInfo, device: str = "cpu") -> None:
        try:
            import torch
        except ImportError as error:
            raise EMRestoreError(
                "backend='torch' needs PyTorch, which is not installed.",
                "Install it with: pip install \"emrestore[train]\" (or use backend='onnx').",
            ) from error
        from ..nn import build_generator

        if device == "cuda" and not torch.cuda.is_available():
            raise EMRestoreError("device='cuda' was asked for, but PyTorch sees no CUDA GPU.",
                                 "Use device='cpu'.")
        checkpoint = torch.load(info.torch_path, map_location="cpu", weights_only=True)
        model = build_generator(checkpoint["config"])
        model.load_state_dict(checkpoint["state_dict"])
        self.torch = torch
        self.device = torch.device(device)
        self.model = model.to(self.device).eval().to(memory_format=torch.channels_last)
        #: Columns of the stats: 3 (mean, std, noise level) for a noise-conditioned network.
        self.stats_width = 3 if model.config.noise_conditioned else 2

    def __call__(self, batch: np.ndarray, stats: np.ndarray | None = None) -> np.ndarray:
        """Restore a (B, 1, h, w) float32 batch; ``stats`` (B, 2 or 3) default: each image's own."""
        torch = self.torch
        if stats is None:
            stats = batch_stats(batch, self.stats_width)
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
            x = x.contiguous(memory_format=torch.channels_last)
            s = torch.from_numpy(np.ascontiguousarray(stats, dtype=np.float32)).to(self.device)
            return self.model.forward_with_stats(x, s).float().cpu().numpy()

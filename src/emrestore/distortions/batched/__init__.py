"""The distortion chains on torch tensors: a whole batch of crops in one call, on CUDA or CPU.

The numpy chains (:mod:`emrestore.distortions.chains`) stay the one definition of what a
chain is: which stages, in which order, with which parameters and ranges. This package
only *applies* them to a batch: the parameters of every sample are drawn by the same
:meth:`Chain.sample_parameters <emrestore.distortions.chains.Chain.sample_parameters>`
(:func:`sample_batch`), every sample's stages are built by the same :meth:`Chain.build`
(so derived stage properties such as a bias kept in the image come from one place), and
:func:`run_batch` walks the chain's own stage tuple, calling for each stage class the
batched implementation registered for it with :func:`implements`. A chain stage without
one is an error, never silently skipped.

Noise comes from a :class:`torch.Generator`, so a batch is reproducible from its seed but
not pixel-identical to the numpy chain; the tests check that the two agree exactly in
their expected image and within sampling error in their noise statistics.

Requires PyTorch (the ``train`` extra).
"""

from __future__ import annotations

from .core import (
    IMPLEMENTATIONS,
    BatchState,
    column,
    expected_response,
    implements,
    missing_implementations,
    run_batch,
    sample_batch,
)

__all__ = ["IMPLEMENTATIONS", "BatchState", "column", "expected_response", "implements", "missing_implementations",
           "run_batch", "sample_batch"]

"""`head` mode's batches: the backbone trunk is frozen, its activations are extracted once (and cached on disk), and
only what sits on top trains, on CPU in seconds per epoch.

With `top_blocks = 0` the cache holds pooled features and only the head trains (a linear probe or an MLP).
With `top_blocks = N > 0` the cache holds the feature maps entering the last N stages, and those stages
(plus the final 1x1 conv) train together with the head: most of the benefit of fine-tuning for a small
fraction of its cost, since the frozen trunk runs once per image instead of once per epoch. Random
horizontal flips of the cached maps stand in for image flips.

Several views per image can be cached (centre crop, its flip, the whole image): training draws one view
per sample and step; validation averages the probabilities of all views (and of flipped maps).
The trunk / top split and the scoring of cached views live in `tailtag.models.trunk` (inference uses them).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
import torch

from tailtag.models.trunk import predict_views, split_backbone
from tailtag.sampling.base import EpochSampler
from tailtag.train.distributed import DistInfo
from tailtag.train.setup import batch_targets

__all__ = ["CachedFeatureBatches", "predict_views", "split_backbone"]


class CachedFeatureBatches:
    """This process's batches of one epoch: (features (B, D), targets) drawn from cached views.

    Args:
        features: (V, N, D) float32 training features.
        targets: (N, K) float32 CSR multi-hot, or (N,) int64 class indices for multi-class losses
            (`tailtag.train.setup.sparse_targets`); each batch's rows are made dense when it is drawn.
        sampler: epoch sampler over the N training rows.
        batch_size: global batch size; each of W processes takes batch_size / W per step.
        seed: view and flip choices are seeded by (seed, epoch) and sharded like the rows, so epochs replay
            exactly after a resume and do not depend on the number of processes.
    """

    def __init__(
        self,
        features: np.ndarray,
        targets: sp.csr_matrix | np.ndarray,
        sampler: EpochSampler,
        batch_size: int,
        seed: int,
        dist: DistInfo,
        map_shape: tuple | None = None,
    ):
        self.features = torch.from_numpy(np.ascontiguousarray(features))
        self.targets = targets
        self.sampler = sampler
        self.local_batch = max(1, batch_size // dist.world_size)
        self.seed = seed
        self.dist = dist
        self.map_shape = map_shape

    def _shard(self, epoch: int) -> np.ndarray:
        return self.sampler.shard(self.dist.rank, self.dist.world_size, epoch=epoch)

    def steps_per_epoch(self) -> int:
        return math.ceil(len(self._shard(0)) / self.local_batch)

    def __call__(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        rows = torch.from_numpy(np.array(self._shard(epoch), dtype=np.int64))  # copy: the shard is read-only
        # Views and flips are drawn for the whole (padded) epoch and sharded like the rows, so a sample gets
        # the same draw whatever the number of processes, as in finetune mode's EpochBatches.
        world, padded = self.dist.world_size, len(rows) * self.dist.world_size
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch * 101)
        views = torch.randint(self.features.shape[0], (padded,), generator=generator)[self.dist.rank :: world]
        flips = (torch.rand(padded, generator=generator) < 0.5)[self.dist.rank :: world]
        for start in range(0, len(rows), self.local_batch):
            batch = slice(start, start + self.local_batch)
            inputs = self.features[views[batch], rows[batch]]
            if self.map_shape is not None:  # flip the cached maps of about half the samples
                inputs = inputs.reshape(-1, *self.map_shape)
                inputs = torch.where(flips[batch, None, None, None], inputs.flip(-1), inputs)
            yield inputs.to(self.dist.device), batch_targets(self.targets, rows[batch]).to(self.dist.device)

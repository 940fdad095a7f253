"""Training batches streamed from features on disk (`--features`): memory does not grow with the number of images.

The features stay in their files (`tailtag.features.external.FeatureSet`: `.npy` shards are read through
short-lived memory maps); the labels stay sparse (CSR), and each batch's (B, K) float32 targets are made from
them when the batch is drawn. What is resident is the model, one window of feature rows and the index arrays.

Order of an epoch. The sampler draws the epoch's multiset of training rows (with repeats when it oversamples),
as everywhere in tailtag. A global shuffle of that multiset would make every batch touch B different places
of the files: on a folder larger than memory, every page would be read again for every few batches. Instead
the feature rows are cut into blocks of `block_rows` consecutive rows; each epoch shuffles the order of the
blocks, takes them `window_blocks` at a time, and shuffles the draws within each window (the scheme of
WebDataset's shard shuffle plus a shuffle buffer, and of tf.data's interleave + shuffle). Every file is then
read once an epoch, in long runs (reads are random only within a window's blocks), and a batch mixes images
of `window_blocks` random places of the data. Files written in an order that correlates with the labels
(one class after another) therefore give less mixed batches than a global shuffle would; shuffle rows before
writing shards, or raise `window_blocks`. The order depends only on (seed, epoch, feature row numbers), not
on how the rows are split into files: an `.npz` and a shard folder of the same rows train the same model.

Under DDP the reordered epoch is dealt out as everywhere (`shard_indices`: positions r, r + W, ...), so the
ranks walk through the same windows together and their global batch is the one-process batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from tailtag.features.external import FeatureSet
from tailtag.sampling.base import EpochSampler, shard_indices
from tailtag.train.distributed import DistInfo
from tailtag.train.setup import batch_targets

BLOCK_ROWS = 4096  # 4096 x 256-d float16 = 2 MiB: long sequential reads, yet 244 blocks to shuffle at 1M images
WINDOW_BLOCKS = 8  # rows of 8 random blocks mixed in every batch; 8 x 4096 x D float32 resident (32 MiB at 256-d)


@dataclass(frozen=True)
class StreamedFeatures:
    """Training features left on disk: `features` and the (n,) int64 feature row of each training image."""

    features: FeatureSet
    rows: np.ndarray


def window_order(
    feature_rows: np.ndarray, *, seed: int, epoch: int, block_rows: int = BLOCK_ROWS, window_blocks: int = WINDOW_BLOCKS
) -> np.ndarray:
    """(M,) permutation of an epoch's draws: windows of randomly ordered blocks, shuffled within each window.

    Args:
        feature_rows: (M,) int64 feature row of each draw of the epoch (repeats allowed).
        seed, epoch: the only sources of randomness (the same order on every rank and after a resume).
        block_rows, window_blocks: see the module docstring.

    Returns:
        (M,) int64 positions into `feature_rows`, in reading order.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2, epoch)))
    blocks = feature_rows // block_rows
    n_blocks = int(blocks.max()) + 1 if len(blocks) else 0
    window = rng.permutation(n_blocks)[blocks] // window_blocks  # (M,) window of each draw
    return np.lexsort((rng.random(len(feature_rows)), window))  # by window, then randomly within it


class StreamedFeatureBatches:
    """This process's batches of one epoch, read from disk one window at a time: (features (B, D), targets).

    Args:
        stream: the features and the feature row of each of the n training images.
        labels: (n, K) CSR 0/1 targets, or (n,) int64 class indices for multi-class losses.
        sampler: epoch sampler over the n training images.
        batch_size: global batch size; each of W processes takes batch_size / W per step.
        seed: seeds the reading order (`window_order`).
        block_rows, window_blocks: see the module docstring.
    """

    def __init__(
        self,
        stream: StreamedFeatures,
        labels: sp.csr_matrix | np.ndarray,
        sampler: EpochSampler,
        batch_size: int,
        seed: int,
        dist: DistInfo,
        *,
        block_rows: int = BLOCK_ROWS,
        window_blocks: int = WINDOW_BLOCKS,
    ):
        self.stream = stream
        self.labels = labels
        self.sampler = sampler
        self.local_batch = max(1, batch_size // dist.world_size)
        self.seed = seed
        self.dist = dist
        self.block_rows = block_rows
        self.window_blocks = window_blocks
        # Positions read per disk access: about one window, in whole local batches.
        per_rank = block_rows * window_blocks / dist.world_size
        self.chunk = self.local_batch * max(1, round(per_rank / self.local_batch))

    def epoch_rows(self, epoch: int) -> np.ndarray:
        """(m,) int64 training rows this process reads in `epoch`, in order."""
        drawn = self.sampler.sample(epoch)
        order = window_order(
            self.stream.rows[drawn],
            seed=self.seed,
            epoch=epoch,
            block_rows=self.block_rows,
            window_blocks=self.window_blocks,
        )
        return shard_indices(drawn[order], self.dist.rank, self.dist.world_size)

    def steps_per_epoch(self) -> int:
        return math.ceil(math.ceil(len(self.sampler.sample(0)) / self.dist.world_size) / self.local_batch)

    def __call__(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        rows = self.epoch_rows(epoch)
        for first in range(0, len(rows), self.chunk):
            part = rows[first : first + self.chunk]
            # (c, D) as stored: a window of float16 shards is half the memory of float32 (16 MiB less at 256-d,
            # 84 MiB at 1,280-d); each batch is made float32 exactly
            inputs = torch.from_numpy(self.stream.features.take(self.stream.rows[part], dtype=None))
            for start in range(0, len(part), self.local_batch):
                batch = slice(start, start + self.local_batch)
                targets = batch_targets(self.labels, part[batch])
                yield inputs[batch].to(self.dist.device).float(), targets.to(self.dist.device)
            del inputs  # before the next window is read: two windows were resident at once (16 MiB more at 256-d)

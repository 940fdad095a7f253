"""The epoch-sampler base: index draws that depend on (seed, epoch) alone, and their DDP shards.

Every tailtag sampler works on row indices of the training split's (N, L) multi-hot matrix and never
touches images (house style point 10). One epoch's sample is a function of `(seed, epoch)` only, so
every DDP rank draws the same full epoch and keeps the positions `rank::world_size` after padding it
to a multiple of the world size: the scheme of torchvision's `references/classification/sampler.py`
and of `torch.utils.data.DistributedSampler`, applied to weighted and resampled epochs.
"""

from __future__ import annotations

import math
import warnings
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from tailtag.errors import OptionError, TailtagError
from tailtag.labels.table import LabelTable
from tailtag.validation import check_int

LabelMatrix = sp.spmatrix | sp.sparray | np.ndarray | LabelTable
"""What a sampler accepts: an (N, L) 0/1 matrix (sparse or dense), or a `LabelTable`."""

# Monte-Carlo epochs behind `expected_multiplicity` for samplers with no closed form (ML-ROS/ML-RUS).
MC_EPOCHS = 8


def as_label_matrix(matrix: LabelMatrix, who: str) -> sp.csr_matrix:
    """Validate a multi-hot matrix and return it as canonical (N, L) CSR uint8 with sorted indices.

    Args:
        matrix: (N, L) 0/1 matrix (scipy sparse or numpy), or a `LabelTable` (its `.matrix`).
        who: sampler name, for messages.

    Raises:
        TailtagError: not 2-D, no rows, or entries other than 0 and 1.
    """
    if isinstance(matrix, LabelTable):
        matrix = matrix.matrix
    shape = getattr(matrix, "shape", None)
    if shape is None or len(shape) != 2:
        raise TailtagError(
            f"The 'matrix' argument of {who} must be a 2-D (N images, L labels) multi-hot matrix. "
            f"Got {type(matrix).__name__} with shape {shape} instead; pass LabelTable.matrix of the training split."
        )
    csr = sp.csr_matrix(matrix) if sp.issparse(matrix) else sp.csr_matrix(np.asarray(matrix))
    if not csr.has_canonical_format or not np.all(csr.data):
        csr = csr.copy()  # csr_matrix() shares the caller's arrays and canonicalising works in place
        csr.sum_duplicates()
        csr.eliminate_zeros()
    if csr.nnz and np.any(csr.data != 1):
        found = np.unique(csr.data[csr.data != 1])[:5].tolist()
        raise TailtagError(
            f"The 'matrix' argument of {who} must hold only 0 and 1. Got the values {found} instead; "
            "binarise it first (e.g. `matrix > 0`)."
        )
    if csr.shape[0] == 0:
        raise TailtagError(f"{who}: the training split has 0 images; there is nothing to sample.")
    return csr.astype(np.uint8)


def warn_empty_labels(counts: np.ndarray, who: str) -> None:
    """Warn, with the column numbers, about labels that have no positive image in the training split."""
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        shown = ", ".join(str(j) for j in empty[:10]) + (", ..." if len(empty) > 10 else "")
        warnings.warn(
            f"{who}: {len(empty)} of {len(counts)} label columns have no positive image in the training split "
            f"(columns {shown}); the sampler cannot draw them and ignores them.",
            stacklevel=3,
        )


def shard_indices(indices: np.ndarray, rank: int, world_size: int, *, drop_last: bool = False) -> np.ndarray:
    """The part of one epoch's sample that DDP rank `rank` reads.

    The epoch (M,) is padded to a multiple of `world_size` by repeating its first entries (as
    `DistributedSampler` does; an epoch sample is shuffled, so the repeats are random draws), or trimmed
    to the largest multiple when `drop_last`. Rank r then takes positions r, r + W, r + 2W, ... Every
    rank gets the same number of indices, so no rank waits at a collective for a missing batch.

    Args:
        indices: (M,) int64 full epoch sample, identical on every rank.
        rank: this process, 0 <= rank < world_size.
        world_size: number of processes.
        drop_last: trim instead of pad.

    Returns:
        (ceil(M / W),) int64 when padding, (floor(M / W),) when trimming.
    """
    world_size = check_int(world_size, "world_size", "shard_indices", low=1)
    rank = check_int(rank, "rank", "shard_indices", low=0)
    if rank >= world_size:
        raise OptionError(f"The 'rank' parameter of shard_indices must be < world_size={world_size}. Got {rank}.")
    indices = np.asarray(indices, dtype=np.int64)
    if drop_last:
        total = len(indices) // world_size * world_size
        indices = indices[:total]
    elif len(indices) % world_size:
        total = math.ceil(len(indices) / world_size) * world_size
        indices = np.concatenate([indices, np.resize(indices, total - len(indices))])
    return indices[rank::world_size]


class EpochSampler:
    """Base of the tailtag samplers: one epoch is an (M,) index array drawn from (seed, epoch) alone.

    Subclasses implement `_draw(rng)`, the multiset of row indices of one epoch (with repetition when
    oversampling). The base shuffles it with the epoch's generator, caches it, and serves it whole
    (`sample`, `__iter__`) or as a DDP shard (`shard`). Iterating the sampler directly in a `DataLoader`
    works in one process; `tailtag.sampling.distributed.DistributedEpochSampler` wraps it for DDP.

    Args:
        matrix: (N, L) 0/1 matrix of the TRAINING split (scipy sparse, numpy, or a `LabelTable`).
        seed: non-negative base seed; the same (seed, epoch) gives the same epoch on every machine.

    Attributes:
        matrix: (N, L) canonical CSR uint8 copy of the input (the caller's arrays are never modified).
        epoch: the epoch `sample()` draws when not told otherwise; set with `set_epoch`.
        indices_: (M,) int64 read-only full (unsharded) sample of the last epoch drawn, None before.
        sampled_epoch_: the epoch `indices_` belongs to.
    """

    name: ClassVar[str] = "sampler"
    # False for samplers whose draw is already in random order and carries aligned attributes (classes_).
    shuffle_draw: ClassVar[bool] = True
    redraw: bool = True

    def __init__(self, matrix: LabelMatrix, *, seed: int = 0):
        self.matrix = as_label_matrix(matrix, self.name)
        self.seed = check_int(seed, "seed", self.name)
        self.epoch = 0
        self.indices_: np.ndarray | None = None
        self.sampled_epoch_: int | None = None
        self._fixed: np.ndarray | None = None

    @property
    def n_images(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_labels(self) -> int:
        return self.matrix.shape[1]

    def label_counts(self) -> np.ndarray:
        """(L,) int64 positives per label in the training split."""
        return np.bincount(self.matrix.indices, minlength=self.n_labels).astype(np.int64)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch that `sample()`, `len()` and iteration use; call it before every epoch."""
        self.epoch = check_int(epoch, "epoch", self.name)

    def sample(self, epoch: int | None = None) -> np.ndarray:
        """(M,) int64 read-only indices of one whole epoch (every rank's shards together), cached per epoch."""
        epoch = self.epoch if epoch is None else check_int(epoch, "epoch", self.name)
        if self.indices_ is None or self.sampled_epoch_ != epoch:
            indices = self._epoch_sample(epoch)
            indices.flags.writeable = False
            self.indices_, self.sampled_epoch_ = indices, epoch
        return self.indices_

    def shard(self, rank: int, world_size: int, *, epoch: int | None = None, drop_last: bool = False) -> np.ndarray:
        """The indices DDP rank `rank` of `world_size` reads in `epoch`; see `shard_indices`."""
        return shard_indices(self.sample(epoch), rank, world_size, drop_last=drop_last)

    def __len__(self) -> int:
        return len(self.sample())

    def __iter__(self):
        return iter(self.sample().tolist())

    def expected_multiplicity(self) -> np.ndarray:
        """(N,) float64 expected number of times each image is drawn in one epoch.

        The base estimates it from epochs 0..MC_EPOCHS-1; samplers with a closed form override it.
        """
        if not self.redraw:
            return np.bincount(self._fixed_draw(), minlength=self.n_images).astype(np.float64)
        total = np.zeros(self.n_images, dtype=np.float64)
        for epoch in range(MC_EPOCHS):
            total += np.bincount(self._epoch_sample(epoch), minlength=self.n_images)
        return total / MC_EPOCHS

    def expected_label_counts(self) -> np.ndarray:
        """(L,) float64 expected positives per label in one epoch (what the model sees)."""
        return np.asarray(self.matrix.T @ self.expected_multiplicity(), dtype=np.float64)

    def _draw(self, rng: np.random.Generator) -> np.ndarray:
        """(M,) int64 row indices of one epoch, in any order."""
        raise NotImplementedError

    def _fixed_draw(self) -> np.ndarray:
        # One draw shared by all epochs (redraw=False), from a stream no epoch uses.
        if self._fixed is None:
            self._fixed = self._draw(np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(1,))))
        return self._fixed

    def _epoch_sample(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(0, epoch)))
        drawn = self._draw(rng) if self.redraw else self._fixed_draw()
        if self.shuffle_draw or not self.redraw:
            drawn = drawn[rng.permutation(len(drawn))]
        return np.asarray(drawn, dtype=np.int64)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_images={self.n_images}, n_labels={self.n_labels}, seed={self.seed})"

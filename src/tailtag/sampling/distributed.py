"""`DistributedEpochSampler`: the thin torch `Sampler` that shards a tailtag epoch across DDP ranks.

Every rank builds the same `EpochSampler` (same training matrix, same seed), so every rank draws the
same full epoch from (seed, epoch) with no communication; rank r then reads positions r::world_size of
it, padded by repeating its first entries (or trimmed with `drop_last`) so that all ranks get the same
number of indices. This is the scheme of torchvision's `references/classification/sampler.py` and of
`torch.utils.data.DistributedSampler`, for weighted and resampled epochs whose length may change from
one epoch to the next (ML-ROS, repeat-factor). Call `set_epoch(epoch)` before every epoch.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import torch.distributed as dist
from torch.utils.data import Sampler

from tailtag.errors import OptionError
from tailtag.sampling import create_sampler
from tailtag.sampling.base import EpochSampler, LabelMatrix, shard_indices
from tailtag.validation import check_flag, check_int


class DistributedEpochSampler(Sampler[int]):
    """The rank's shard of an `EpochSampler`'s epoch, for `DataLoader(sampler=...)`.

    Args:
        sampler: the epoch sampler, built identically on every rank.
        num_replicas: world size; default: `torch.distributed.get_world_size()` when a process group is
            initialised, else 1.
        rank: this process; default: `torch.distributed.get_rank()` when initialised, else 0.
        drop_last: trim the epoch to a multiple of `num_replicas` instead of padding it.

    Example:
        >>> base = create_sampler("class_aware", train_table.matrix, seed=0)
        >>> sampler = DistributedEpochSampler(base)          # rank and world size from torch.distributed
        >>> loader = DataLoader(dataset, batch_size=64, sampler=sampler)
        >>> for epoch in range(epochs):
        ...     sampler.set_epoch(epoch)
        ...     for batch in loader: ...
    """

    def __init__(
        self,
        sampler: EpochSampler,
        *,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
    ):
        if not isinstance(sampler, EpochSampler):
            raise TypeError(f"DistributedEpochSampler wraps a tailtag EpochSampler, got {type(sampler).__name__}")
        initialised = dist.is_available() and dist.is_initialized()
        if num_replicas is None:
            num_replicas = dist.get_world_size() if initialised else 1
        if rank is None:
            rank = dist.get_rank() if initialised else 0
        self.num_replicas = check_int(num_replicas, "num_replicas", "DistributedEpochSampler", low=1)
        self.rank = check_int(rank, "rank", "DistributedEpochSampler")
        if self.rank >= self.num_replicas:
            raise OptionError(
                f"The 'rank' parameter of DistributedEpochSampler must be < num_replicas={self.num_replicas}. "
                f"Got {self.rank} instead."
            )
        self.drop_last = check_flag(drop_last, "drop_last", "DistributedEpochSampler")
        self.sampler = sampler
        self._last_iterated: int | None = None
        self._warned = False

    @property
    def epoch(self) -> int:
        return self.sampler.epoch

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch to draw; call it with the same value on every rank before each epoch."""
        self.sampler.set_epoch(epoch)

    def indices(self) -> list[int]:
        """This rank's indices of the current epoch, as ints."""
        shard = shard_indices(self.sampler.sample(), self.rank, self.num_replicas, drop_last=self.drop_last)
        return shard.tolist()

    def __iter__(self) -> Iterator[int]:
        epoch = self.sampler.epoch
        if epoch == self._last_iterated and not self._warned:
            self._warned = True
            warnings.warn(
                f"DistributedEpochSampler: epoch {epoch} is iterated a second time, so it repeats the same "
                "draws in the same order; call sampler.set_epoch(epoch) before every epoch.",
                stacklevel=2,
            )
        self._last_iterated = epoch
        return iter(self.indices())

    def __len__(self) -> int:
        total = len(self.sampler.sample())
        return total // self.num_replicas if self.drop_last else -(-total // self.num_replicas)

    def __repr__(self) -> str:
        return f"DistributedEpochSampler({self.sampler!r}, rank={self.rank}, num_replicas={self.num_replicas})"


def create_distributed_sampler(
    name: str,
    matrix: LabelMatrix,
    *,
    seed: int = 0,
    num_replicas: int | None = None,
    rank: int | None = None,
    drop_last: bool = False,
    **params: Any,
) -> DistributedEpochSampler:
    """`create_sampler(name, matrix, seed=seed, **params)` wrapped for this DDP rank (see `DistributedEpochSampler`)."""
    base = create_sampler(name, matrix, seed=seed, **params)
    return DistributedEpochSampler(base, num_replicas=num_replicas, rank=rank, drop_last=drop_last)

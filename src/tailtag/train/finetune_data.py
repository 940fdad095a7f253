"""The image feed of `finetune` mode: epoch batches, DataLoaders, and images that break during training.

`EpochBatches` turns an epoch sampler into this rank's batches of (row, seed) draws; `make_loader` builds
the DataLoader around them (persistent workers, one torch thread each, pinned memory on GPU);
`ImageBatches` is the loop's `batches(epoch)`; `DecodeProblems` reports files that pass the header check
but fail to decode later, so none is left out silently.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from tailtag.data import collate_images
from tailtag.errors import TailtagError
from tailtag.images import ImageProblem
from tailtag.sampling.base import EpochSampler, shard_indices
from tailtag.train.augment import Key
from tailtag.train.logs import RunLog

ToDevice = Callable[[torch.Tensor], torch.Tensor]


class EpochBatches(Sampler[list[Key]]):
    """DataLoader `batch_sampler`: this rank's batches of `Key`s for the epoch set with `set_epoch`.

    The epoch's rows come from `sampler` (drawn from (seed, epoch), identical on every rank) and its
    augmentation seeds from (seed, epoch) as well, one per position; both are sharded the same way
    (`shard_indices`), so a draw keeps its seed whatever the world size. A last batch of a single image is
    dropped: BatchNorm cannot normalise one sample's pooled features, and the image comes back in later epochs.

    Args:
        sampler: epoch sampler over the N training rows.
        batch_size: images per batch on this rank.
        seed: base seed of the augmentation seeds.
        rank: this process; world_size: number of processes.
        drop_last: drop every partial last batch (static shapes for `compile`), unless it is the only batch.
    """

    def __init__(
        self,
        sampler: EpochSampler,
        batch_size: int,
        seed: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
    ):
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.rank, self.world_size = rank, world_size
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def keys(self, epoch: int) -> list[Key]:
        """This rank's draws of `epoch`, in order."""
        rows = self.sampler.sample(epoch)
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(2, epoch)))
        seeds = rng.integers(0, 2**63 - 1, size=len(rows), dtype=np.int64)
        positions = shard_indices(np.arange(len(rows)), self.rank, self.world_size)
        return list(zip(rows[positions].tolist(), seeds[positions].tolist(), strict=True))

    def __iter__(self) -> Iterator[list[Key]]:
        keys = self.keys(self.epoch)
        for start in range(0, len(keys), self.batch_size):
            batch = keys[start : start + self.batch_size]
            if start > 0 and (len(batch) == 1 or (self.drop_last and len(batch) < self.batch_size)):
                return
            yield batch

    def __len__(self) -> int:
        n = len(shard_indices(self.sampler.sample(self.epoch), self.rank, self.world_size))
        full, rest = divmod(n, self.batch_size)
        partial = rest > 0 and (full == 0 or (rest > 1 and not self.drop_last))
        return full + (1 if partial else 0)


class ImageBatches:
    """This process's training batches of one epoch, (images (B, 3, H, W), targets) on the device.

    Targets are (B, K) float32 multi-hot, or (B,) int64 class indices for multi-class losses. Images that
    fail to decode are reported and left out of their batch; a batch left with no image repeats the
    previous one, so that every DDP process still takes the same number of steps.
    """

    def __init__(
        self,
        loader: DataLoader,
        order: EpochBatches,
        targets: torch.Tensor,
        to_device: ToDevice,
        problems: DecodeProblems,
    ):
        self.loader, self.order, self.targets = loader, order, targets
        self.to_device, self.problems = to_device, problems

    def steps_per_epoch(self) -> int:
        return len(self.order)

    def __call__(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.order.set_epoch(epoch)
        last = None
        for batch in self.loader:
            self.problems.report(batch.problems, "training")
            if batch.images is None:
                if last is None:
                    raise TailtagError(
                        f"no image of the first batch of epoch {epoch + 1} could be decoded "
                        f"({len(batch.problems)} files, listed in {self.problems.report_path})\n"
                        "  fix: repair or remove those files"
                    )
                yield last
                continue
            last = (self.to_device(batch.images), self.to_device(self.targets[batch.indices]))
            yield last


class DecodeProblems:
    """Files that pass the header check but fail to decode: warned about once each, listed in a CSV.

    The main process appends them to `report_path` (`path,reason`, the format of the up-front report);
    other DDP processes warn on stderr with their rank.
    """

    def __init__(self, report_path: Path, log: RunLog, *, rank: int = 0):
        self.report_path, self.log, self.rank = Path(report_path), log, rank
        self.seen: set[str] = set()

    def report(self, problems: Sequence[ImageProblem], stage: str) -> None:
        for problem in problems:
            if problem.path in self.seen:
                continue
            self.seen.add(problem.path)
            message = f"{problem.path}: {problem.reason}; left out of {stage} (listed in {self.report_path.name})"
            if self.rank != 0:
                print(f"warning: rank {self.rank}: {message}", file=sys.stderr, flush=True)
                continue
            self.log.warn(message)
            new = not self.report_path.exists()
            with open(self.report_path, "a", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                if new:
                    writer.writerow(["path", "reason"])
                writer.writerow([problem.path, f"{problem.reason} (during {stage})"])


def one_thread(worker_id: int) -> None:
    # Each worker decodes one image at a time; torch's intra-op threads there would only compete for the
    # cores with the training step in the main process.
    torch.set_num_threads(1)


def make_loader(
    dataset: Dataset,
    *,
    num_workers: int,
    seed: int,
    device: torch.device,
    collate_fn: Callable = collate_images,
    **kwargs,
) -> DataLoader:
    """DataLoader over `dataset` with `collate_fn`: persistent single-threaded workers, pinned memory on GPU.

    `kwargs` give the batching: `batch_sampler=EpochBatches(...)` for training, `batch_size` for validation.
    """
    return DataLoader(
        dataset,
        num_workers=num_workers,
        collate_fn=collate_fn,
        pin_memory=device.type == "cuda",
        persistent_workers=num_workers > 0,
        worker_init_fn=one_thread if num_workers else None,
        generator=torch.Generator().manual_seed(seed),
        **kwargs,
    )


def to_device_fn(device: torch.device, channels_last: bool) -> ToDevice:
    """tensor -> the same on `device` (4-D image batches in channels-last layout when asked), copied asynchronously."""
    fmt = torch.channels_last if channels_last else torch.preserve_format

    def to_device(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.ndim == 4:
            return tensor.to(device, non_blocking=True, memory_format=fmt)
        return tensor.to(device, non_blocking=True)

    return to_device

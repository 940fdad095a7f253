"""DDP driven by torchrun's environment, as in nanoGPT: RANK set -> one process per device.

`torchrun --nproc-per-node N tailtag train ...` (and multi-node through torchrun's rendezvous) sets RANK,
WORLD_SIZE and LOCAL_RANK; without them everything runs in one process and these helpers are no-ops.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes files and prints."""
        return self.rank == 0


def setup() -> DistInfo:
    """Initialise the process group when launched by torchrun (NCCL on GPU, gloo on CPU)."""
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return DistInfo(device=device)
    rank, world, local = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device, backend = torch.device("cuda", local), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=device)


def teardown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def broadcast(info: DistInfo, value: Any) -> Any:
    """The main process's `value`, on every process."""
    if not info.enabled:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_counts(info: DistInfo, count: int) -> list[int]:
    """Every process's `count`, in rank order (on every process)."""
    if not info.enabled:
        return [count]
    counts: list = [None] * info.world_size
    dist.all_gather_object(counts, int(count))
    return [int(c) for c in counts]

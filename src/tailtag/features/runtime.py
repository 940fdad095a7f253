"""CPU runtime settings for running a backbone over many images: how many decode workers.

On the CPU, a DataLoader worker process decoding JPEGs takes a core from the forward pass's threads, and an
OpenMP team with one thread descheduled waits for it at every barrier. Decoding and preprocessing a
384 x 256 JPEG costs about 1.4 ms, under 4% of Lite0's forward pass on the CPU, so on a small machine it is
cheaper in the main process between batches (measured, 2 cores, 128 images: in-process 2.42 s against
2.39 s for the bare forward passes; 2 workers 2.9 s). `decode_workers` gives workers only the cores torch's
threads leave free, or a few on large machines. (The allocator settings for the same passes are in
`tailtag.allocator`.)
"""

from __future__ import annotations

import os

import torch


def decode_workers(requested: int, device_type: str) -> int:
    """How many DataLoader decode processes to use, at most `requested`.

    On a GPU all of them: the forward pass is fast and decoding must keep up. On the CPU, only cores not
    used by torch's threads (e.g. the second hyper-thread of each core), or one per 4 cores beyond the
    first 4 when there are none: 0 on a 2- or 4-core machine, 3 on 16 cores.
    """
    if device_type != "cpu" or requested <= 0:
        return max(requested, 0)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    spare = cores - torch.get_num_threads()
    return min(requested, spare if spare > 0 else max(0, cores // 4 - 1))

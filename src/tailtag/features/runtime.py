"""CPU runtime settings for running a backbone over many images: the allocator, and decode workers.

Decode workers: on the CPU, a DataLoader worker process decoding JPEGs takes a core from the forward
pass's threads, and an OpenMP team with one thread descheduled waits for it at every barrier. Decoding
and preprocessing a 384 x 256 JPEG costs about 1.4 ms, under 4% of Lite0's forward pass on the CPU, so
on a small machine it is cheaper in the main process between batches (measured, 2 cores, 128 images:
in-process 2.42 s against 2.39 s for the bare forward passes; 2 workers 2.9 s). `decode_workers` gives
workers only the cores torch's threads leave free, or a few on large machines.

Allocator:

PyTorch's CPU allocator hands every activation buffer back to glibc, and glibc serves large blocks (above
its mmap threshold, at most 32 MiB) with fresh `mmap`s and returns them with `munmap`. A CNN forward pass
allocates and frees hundreds of MiB per batch, so every batch pays for millions of page faults. Measured
on Lite0, batch 64 at 224 px, 2 cores: 6.4 M minor faults, as much system time as user time, 3.5 s per
batch; with mmap disabled (`M_MMAP_MAX = 0`) and trimming raised, 1.0 M faults and 1.25 s per batch.
PyTorch's CPU tuning guide recommends jemalloc or tcmalloc for this
(https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html); without an `LD_PRELOAD`, `mallopt` gets
the same effect from glibc: freed blocks stay in the heap and are reused. (glibc still falls back to
mmap when the heap cannot grow.) The cost: the process keeps its peak memory until it exits.

The other way round, `release_freed_memory` hands the free pages inside glibc's heap back to the system
(`malloc_trim`): after reading a million image paths and labels, the freed temporaries of the set-up sit
between live blocks (about 70 MB at 1,000,000 rows, measured) and would otherwise count as the process's
private memory for the whole training run.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

import torch

logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_MAX = -4
_TRIM_THRESHOLD = 1 << 30  # return freed heap memory to the system only above 1 GiB of free space at the top
_done = False


def keep_freed_memory() -> bool:
    """Make glibc keep and reuse freed large blocks instead of unmapping them (once per process).

    Returns:
        True if the thresholds were set (Linux with glibc), False where it does not apply. Set the
        environment variable TAILTAG_NO_MALLOPT=1 to leave the allocator untouched.
    """
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("TAILTAG_NO_MALLOPT") == "1":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) == 1
    _done = ok
    logger.debug("glibc mallopt: mmap off, trim at 1 GiB: %s", "set" if ok else "refused")
    return ok


def release_freed_memory() -> bool:
    """Return the free pages of glibc's heap to the system (`malloc_trim(0)`), e.g. once a set-up is done.

    Returns:
        True where it ran (Linux with glibc), False elsewhere or with TAILTAG_NO_MALLOPT=1.
    """
    if not sys.platform.startswith("linux") or os.environ.get("TAILTAG_NO_MALLOPT") == "1":
        return False
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # musl and other C libraries have no malloc_trim
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
    return True


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

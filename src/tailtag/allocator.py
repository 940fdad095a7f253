"""glibc's allocator, tuned for the ways tailtag runs on a CPU: keep freed memory for reuse, or hand it back.

PyTorch's CPU tensors come from glibc malloc, whose defaults suit neither of tailtag's workloads:

- A CNN forward pass (feature extraction, prediction) or training step allocates and frees the same large
  activation buffers every batch. glibc serves blocks above its mmap threshold (at most 32 MiB) with fresh
  `mmap`s and returns them with `munmap`, so every batch page-faults its activations in again. Measured on a
  2-core machine: Lite0 forward, batch 64 at 224 px, 6.4 M minor faults and 3.5 s a batch by default, 1.0 M
  and 1.25 s with freed memory kept; a Lite0 training step at 224 px (batch 32, bfloat16, last four stages
  trained) a median 31 img/s by default and 61 img/s (1.95x) kept (three alternating pairs of processes).
  PyTorch's CPU tuning guide recommends jemalloc or tcmalloc for this
  (https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html); without an `LD_PRELOAD`, `mallopt` gets
  the same effect from glibc (`keep_freed_memory`): no mmap for large blocks, and free space at the top of
  the heap is returned only above 1 GiB. The cost: the process keeps its peak memory until it exits, or
  until `release_freed_memory`.
- Between the stages of a long run (reading a million labels and paths, then training a head, then fitting
  the decision rule), the freed temporaries of one stage sit between live blocks and would count as the
  process's memory through the next one. `release_freed_memory` (`gc.collect`, then `malloc_trim`) hands those
  pages back.

Both are no-ops where the C library is not glibc (macOS, musl, Windows) or with TAILTAG_NO_MALLOPT=1.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import logging
import os

logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_MAX = -4
_TRIM_THRESHOLD = 1 << 30  # return freed heap memory to the system only above 1 GiB of free space at the top
_kept = False


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The process's C library where it is glibc, else None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 (only glibc has it)
    except (OSError, AttributeError):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    return libc


def _libc() -> ctypes.CDLL | None:
    return None if os.environ.get("TAILTAG_NO_MALLOPT") == "1" else _glibc()


def keep_freed_memory() -> bool:
    """Make glibc keep and reuse freed large blocks instead of unmapping them (once per process; DataLoader
    workers forked afterwards inherit it).

    Returns:
        True if the settings were applied (glibc), False where they do not apply or were refused.
    """
    global _kept
    libc = _libc()
    if _kept or libc is None:
        return _kept
    _kept = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) == 1
    logger.debug("glibc mallopt: mmap off, trim at 1 GiB: %s", "set" if _kept else "refused")
    return _kept


def release_freed_memory(collect_cycles: bool = True) -> bool:
    """Free unreachable cycles (`gc.collect`), then return the free pages that glibc holds to the system
    (`malloc_trim(0)`), e.g. once a set-up is done.

    The collection first: after training a head on a million rows, about 110 MB were held by objects in
    reference cycles that the cyclic collector had not reached yet, so a trim alone returned that memory in
    some runs and not in others. A full collection costs a few hundred ms once torch is imported:
    `collect_cycles=False` trims only, for calls in a loop (each fold of a cross-fit).

    Returns:
        True where the trim ran (glibc), False elsewhere (the collection runs everywhere).
    """
    if collect_cycles:
        gc.collect()
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True

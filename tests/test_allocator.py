"""glibc allocator settings: freed step buffers are reused instead of page-faulted in again (in a fresh process)."""

import os
import subprocess
import sys

import pytest

from tailtag import allocator

pytestmark = pytest.mark.skipif(allocator._glibc() is None, reason="glibc only")

_PROBE = """
import resource, sys
import torch
from tailtag.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def step():
    # 40 MB, like one activation buffer of a training step, and above glibc's largest dynamic mmap threshold
    # (32 MiB): by default every step maps it afresh, whatever the process allocated before (a 20 MB buffer
    # could move the threshold above itself and go to the heap, as in the test suite's environment)
    a = torch.ones(10_000_000)
    b = a * 2.0
    return float(b[0])
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    # glibc's own defaults: no MALLOC_* tuning inherited from the environment (or set by another test)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True, env=env)
    return int(out.stdout.split()[-1])


def test_kept_memory_is_not_faulted_in_again_every_step():
    default, kept = _faults("default"), _faults("keep")
    # default glibc: two fresh 40 MB mappings a step, ~20,000 page faults; kept: the heap's pages are reused
    assert kept < 0.5 * default


def test_release_returns_true_on_glibc():
    assert allocator.release_freed_memory()

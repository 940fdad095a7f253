"""Benchmark `tailtag inspect` on a synthetic 35,000 x 6,941 long-tailed tag set (the competition layout).

Writes a power-law label matrix (3 to 5 tags per image, Zipf tag popularity) as `labels.npz` + `tags.txt`
(one tag per line) + `paths.csv` into a temporary folder, then times, each in its own subprocess:

- the bare read: `np.load` of every array in the NPZ plus `pandas.read_csv` of the paths, the floor any
  reader must pay;
- `tailtag inspect labels.npz --classes tags.txt --paths paths.csv` (the full report, stdout discarded).

Wall time is measured around each subprocess; peak RSS is the child's `ru_maxrss` (the figure
`resource.getrusage(RUSAGE_CHILDREN)` reports, read per child with `os.wait4` from a small launcher process so
that neither the other run nor this script's own memory leaks into it). Targets: inspect <= 5 s, <= 1 GB peak.

    python benchmarks/bench_inspect.py [--images 35000] [--labels 6941] [--sparse] [--keep DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

TARGET_SECONDS = 5.0
TARGET_BYTES = 1 << 30


def synthetic_labels(n_images: int, n_labels: int, seed: int = 0) -> sp.csr_matrix:
    """(n_images, n_labels) CSR uint8 with Zipf(1.05) tag popularity and 3-5 tags per image."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_labels + 1) ** 1.05
    popularity /= popularity.sum()
    per_image = rng.integers(3, 6, size=n_images)
    rows = np.repeat(np.arange(n_images), per_image)
    # Shuffle which column is popular so that the frequent tags are not simply the first columns.
    cols = rng.permutation(n_labels)[rng.choice(n_labels, size=rows.size, p=popularity)]
    matrix = sp.csr_matrix((np.ones(rows.size, np.uint8), (rows, cols)), shape=(n_images, n_labels))
    matrix.data[:] = 1  # a tag drawn twice for one image is still one tag
    return matrix


def write_layout(folder: Path, matrix: sp.csr_matrix, sparse: bool) -> dict[str, Path]:
    """labels.npz (dense uint8 array `labels`, or scipy's sparse NPZ), tags.txt and paths.csv."""
    files = {"npz": folder / "labels.npz", "tags": folder / "tags.txt", "paths": folder / "paths.csv"}
    if sparse:
        sp.save_npz(files["npz"], matrix, compressed=True)
    else:
        np.savez_compressed(files["npz"], labels=matrix.toarray())
    files["tags"].write_text("".join(f"tag_{j:05d}\n" for j in range(matrix.shape[1])))
    files["paths"].write_text("filename\n" + "".join(f"images/{i:06d}.jpg\n" for i in range(matrix.shape[0])))
    return files


# A tiny launcher runs each command and prints the child's rusage. Linux carries the RSS a process had when it
# was forked into its ru_maxrss, so launching straight from this (large) process would inflate the figures.
_LAUNCHER = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)\n"
)


def measure(command: list[str]) -> tuple[float, int, int, str]:
    """(wall seconds, peak RSS bytes, exit status, stderr tail) of one subprocess."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, *command], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start  # includes the launcher's start-up, about 20 ms
    status, max_rss = (int(v) for v in done.stdout.split())
    peak = max_rss * (1 if sys.platform == "darwin" else 1024)  # Linux reports KiB
    return wall, peak, status, done.stderr[-2000:]


def bare_read_command(files: dict[str, Path]) -> list[str]:
    code = (
        "import sys, numpy as np, pandas as pd\n"
        "with np.load(sys.argv[1], allow_pickle=False) as npz:\n"
        "    arrays = [npz[k] for k in npz.files]\n"
        "paths = pd.read_csv(sys.argv[2])\n"
    )
    return [sys.executable, "-c", code, str(files["npz"]), str(files["paths"])]


def inspect_command(files: dict[str, Path]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tailtag",
        "inspect",
        str(files["npz"]),
        "--classes",
        str(files["tags"]),
        "--paths",
        str(files["paths"]),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=35_000)
    parser.add_argument("--labels", type=int, default=6_941)
    parser.add_argument("--sparse", action="store_true", help="write scipy's sparse NPZ instead of a dense array")
    parser.add_argument("--keep", type=Path, help="write the data here and keep it (default: a temp folder)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        matrix = synthetic_labels(args.images, args.labels)
        files = write_layout(folder, matrix, args.sparse)
        print(
            f"data: {args.images:,} images x {args.labels:,} labels, {matrix.nnz:,} positives "
            f"({matrix.nnz / args.images:.2f} per image), {'sparse' if args.sparse else 'dense'} NPZ of "
            f"{files['npz'].stat().st_size / 1e6:.1f} MB, written in {time.perf_counter() - start:.1f} s"
        )
        del matrix

        base_wall, base_peak, base_rc, base_err = measure(bare_read_command(files))
        wall, peak, rc, err = measure(inspect_command(files))

    print(f"bare read (np.load + pandas): {base_wall:6.2f} s  peak {base_peak / 2**20:7.0f} MiB  exit {base_rc}")
    print(f"tailtag inspect             : {wall:6.2f} s  peak {peak / 2**20:7.0f} MiB  exit {rc}")
    if rc != 0 or base_rc != 0:
        print(f"FAIL: a run exited with an error\n{err or base_err}")
        return 1
    print(f"ratio inspect / bare read   : {wall / base_wall:6.2f} x time, {peak / base_peak:.2f} x memory")
    ok_time, ok_mem = wall <= TARGET_SECONDS, peak <= TARGET_BYTES
    print(f"{'PASS' if ok_time else 'FAIL'}: wall {wall:.2f} s vs target {TARGET_SECONDS:.0f} s")
    print(f"{'PASS' if ok_mem else 'FAIL'}: peak {peak / 2**20:.0f} MiB vs target {TARGET_BYTES / 2**20:.0f} MiB")
    return 0 if ok_time and ok_mem else 1


if __name__ == "__main__":
    raise SystemExit(main())

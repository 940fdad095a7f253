"""Benchmark the multi-label stratified split against the `iterative-stratification` package (iterstrat).

A synthetic long-tailed set (label j drawn with probability ~ (j + 1)^-1.1, 1 + Poisson(2) labels per
image, about 2.8 after duplicates) is split 0.7/0.15/0.15 by:

- tailtag's `split_table` (the library call), and the whole `tailtag split` command in a subprocess
  (reading a tags CSV, splitting, measuring, writing the files);
- iterstrat: two `MultilabelStratifiedShuffleSplit` stages (test 0.15, then val 0.15/0.85 of the rest),
  the usual way to get three subsets from it. Its cost grows as N x L per label, so it can be run on
  the first `--iterstrat-n` images only; ours is then also run on that subset for a same-size
  comparison, and the output says which size each ran at.

Prints times, the mean absolute per-label proportion deviation (lower is better), the ratios
ours/theirs, and PASS/FAIL for: whole command <= 10 s at full size; deviation no worse than iterstrat.

    python benchmarks/bench_split.py                        # 100,000 x 1,000, everything
    python benchmarks/bench_split.py --iterstrat-n 20000    # iterstrat on 20,000 images only
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

from tailtag.labels import LabelTable
from tailtag.split import split_quality, split_table

FRACTIONS = (0.7, 0.15, 0.15)
TIME_LIMIT_S = 10.0


def power_law_labels(n: int, n_labels: int, *, alpha: float = 1.1, seed: int = 0) -> sp.csr_matrix:
    """(n, n_labels) uint8 CSR with label frequencies ~ rank^-alpha and 1 + Poisson(2) draws per image."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_labels + 1) ** alpha
    draws = 1 + rng.poisson(2.0, size=n)
    rows = np.repeat(np.arange(n), draws)
    cols = rng.choice(n_labels, size=len(rows), p=weights / weights.sum())
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n_labels))
    matrix.data[:] = 1  # a label drawn twice for one image is one positive
    return sp.csr_matrix(matrix, dtype=np.uint8)


def table_of(matrix: sp.csr_matrix) -> LabelTable:
    paths = np.array([f"img{i:06d}.jpg" for i in range(matrix.shape[0])], dtype=object)
    return LabelTable(paths, [f"label{j:04d}" for j in range(matrix.shape[1])], matrix)


def deviation(matrix: sp.csr_matrix, assignment: np.ndarray) -> float:
    return split_quality(matrix, assignment, FRACTIONS).mean_abs_deviation


def run_ours(matrix: sp.csr_matrix, seed: int) -> tuple[float, np.ndarray]:
    table = table_of(matrix)
    started = time.perf_counter()
    split = split_table(table, fractions=FRACTIONS, seed=seed)
    return time.perf_counter() - started, split.assignment


def run_command(matrix: sp.csr_matrix, seed: int) -> float:
    """Wall time of `python -m tailtag split` on a tags CSV of `matrix`, interpreter start included."""
    with tempfile.TemporaryDirectory() as folder:
        labels = Path(folder) / "labels.csv"
        names = [f"label{j:04d}" for j in range(matrix.shape[1])]
        lines = ["filename,labels"]
        for i in range(matrix.shape[0]):
            row = matrix.indices[matrix.indptr[i] : matrix.indptr[i + 1]]
            lines.append(f'img{i:06d}.jpg,"{",".join(names[j] for j in row)}"')
        labels.write_text("\n".join(lines) + "\n")
        command = [
            sys.executable,
            "-m",
            "tailtag",
            "split",
            str(labels),
            "--format",
            "tags",
            "--out",
            str(Path(folder) / "split"),
            "--seed",
            str(seed),
        ]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"tailtag split failed ({result.returncode}):\n{result.stderr}")
        print(result.stdout)
    return elapsed


def run_iterstrat(matrix: sp.csr_matrix, seed: int) -> tuple[float, np.ndarray]:
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    y = matrix.toarray()
    n = len(y)
    started = time.perf_counter()
    first = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=FRACTIONS[2], random_state=seed)
    rest, test = next(first.split(np.zeros(n), y))
    second = MultilabelStratifiedShuffleSplit(
        n_splits=1, test_size=FRACTIONS[1] / (1 - FRACTIONS[2]), random_state=seed
    )
    train, val = next(second.split(np.zeros(len(rest)), y[rest]))
    elapsed = time.perf_counter() - started
    assignment = np.empty(n, dtype=np.int64)
    assignment[rest[train]], assignment[rest[val]], assignment[test] = 0, 1, 2
    return elapsed, assignment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="images (default 100,000)")
    parser.add_argument("--labels", type=int, default=1_000, help="labels (default 1,000)")
    parser.add_argument("--iterstrat-n", type=int, help="run iterstrat on the first N images only (default --n)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-command", action="store_true", help="do not time the whole CLI command")
    parser.add_argument("--skip-iterstrat", action="store_true")
    args = parser.parse_args(argv)

    matrix = power_law_labels(args.n, args.labels, seed=args.seed)
    counts = np.bincount(matrix.indices, minlength=args.labels)
    print(
        f"synthetic set: {args.n:,} images x {args.labels:,} labels, {matrix.nnz / args.n:.2f} labels/image, "
        f"label frequency {counts.max():,} .. {counts.min():,} positives, {int((counts < 3).sum())} labels < 3\n"
    )

    ours_s, ours_assignment = run_ours(matrix, args.seed)
    ours_dev = deviation(matrix, ours_assignment)
    print(
        f"tailtag split_table   n={args.n:>7,}  {ours_s:8.2f} s  mean |proportion gap| {ours_dev:.3e}  "
        f"sizes {np.bincount(ours_assignment).tolist()}"
    )
    verdicts = []
    if not args.skip_command:
        command_s = run_command(matrix, args.seed)
        print(
            f"tailtag split (CLI)   n={args.n:>7,}  {command_s:8.2f} s  (whole command: read CSV, split, measure, "
            "write)"
        )
        verdicts.append((f"whole command <= {TIME_LIMIT_S:.0f} s at n={args.n:,}", command_s <= TIME_LIMIT_S))
    else:
        verdicts.append((f"split_table <= {TIME_LIMIT_S:.0f} s at n={args.n:,}", ours_s <= TIME_LIMIT_S))
    if not args.skip_iterstrat:
        n_theirs = min(args.iterstrat_n or args.n, args.n)
        subset = matrix[:n_theirs]
        if n_theirs < args.n:
            same_s, same_assignment = run_ours(subset, args.seed)
            same_dev = deviation(subset, same_assignment)
            print(f"tailtag split_table   n={n_theirs:>7,}  {same_s:8.2f} s  mean |proportion gap| {same_dev:.3e}")
        else:
            same_s, same_dev = ours_s, ours_dev
        theirs_s, theirs_assignment = run_iterstrat(subset, args.seed)
        theirs_dev = deviation(subset, theirs_assignment)
        print(
            f"iterstrat (2 stages)  n={n_theirs:>7,}  {theirs_s:8.2f} s  mean |proportion gap| {theirs_dev:.3e}  "
            f"sizes {np.bincount(theirs_assignment).tolist()}"
        )
        ratios = f"time {same_s / theirs_s:.4f}, deviation {same_dev / theirs_dev:.3f}"
        print(f"\nratios ours/theirs at n={n_theirs:,}: {ratios}")
        verdicts.append((f"deviation no worse than iterstrat at n={n_theirs:,}", same_dev <= theirs_dev))
    print()
    for claim, ok in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {claim}")
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Time `tailtag compare` on the MIML grid (recipes/compare-miml.yaml) against issue 6's target.

Target: the 48-cell grid (6 losses x 4 samplers x 2 decision rules) x 3 seeds on MIML completes in <= 10 min on
a 2-core machine, feature extraction included. The run starts from an empty feature cache (so extraction is
timed), then, in the same process and on the same machine, times one plain `tailtag train` of the baseline cell
(bce, no sampler, same base config) on the now warm cache: the ratio says how many single trainings the whole
grid costs. Prints wall time, cells/s, trainings/s, the ratio, and the leaderboard's top 5.

Usage (from the repository root; skips with a message when MIML is absent):
    python benchmarks/bench_compare.py [--jobs N] [--config recipes/compare-miml.yaml] [--out DIR] [--warm]
        [--labels FILE --images DIR]   (e.g. a long-tailed variant written by `tailtag make-longtail`)
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MIML = ROOT / ".." / "shared" / "data" / "miml"
TARGET_SECONDS = 600.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "recipes" / "compare-miml.yaml")
    parser.add_argument("--out", type=Path, help="output folder (default: a temporary one, removed afterwards)")
    parser.add_argument("--jobs", type=int, help="worker processes (default: usable cores)")
    parser.add_argument("--labels", help="override data.labels (default: the recipe's MIML labels)")
    parser.add_argument("--images", help="override data.images")
    parser.add_argument("--warm", action="store_true", help="keep the user's feature cache (extraction not timed)")
    return parser.parse_args()


def load_raw(args: argparse.Namespace, cache_dir: Path | None) -> dict:
    raw = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    data = raw["data"]
    data["labels"] = args.labels or str(MIML / "labels.csv")
    data["images"] = args.images or (None if args.labels else str(MIML / "images"))
    if cache_dir is not None:
        raw["train"]["cache_dir"] = str(cache_dir)
    return raw


def time_single_train(config, out: Path) -> float:
    """Seconds of one `tailtag train` (library call) of the baseline cell on the comparison's data."""
    from tailtag.compare.features import load_data
    from tailtag.config import make_config
    from tailtag.train.run import train

    values = config.train_values(next(t for t in config.trainings() if t.loss.name == "bce"))
    started = time.perf_counter()
    train(load_data(config.data), out=out, config=make_config(values))
    return time.perf_counter() - started


def main() -> int:
    args = parse_args()
    if args.labels is None and not (MIML / "labels.csv").is_file():
        print(f"skipped: MIML not found at {MIML.resolve()} (see ../shared/data/README.md)")
        return 0
    from tailtag.compare import compare, default_jobs, parse_compare_config

    scratch = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    try:
        config = parse_compare_config(load_raw(args, None if args.warm else scratch / "cache"), source=str(args.config))
        out = args.out or scratch / "out"
        jobs = args.jobs or default_jobs()
        started = time.perf_counter()
        result = compare(config, out, jobs=jobs, quiet=True)
        wall = time.perf_counter() - started
        single = time_single_train(config, scratch / "single-run")
        n_cells, n_trainings = config.n_cells(), len(config.trainings())
        verdict = "PASS" if wall <= TARGET_SECONDS else "FAIL"
        print(f"grid: {n_cells} cells = {n_trainings} trainings x {len(config.rules)} rules, jobs={jobs}")
        print(f"compare wall time (extraction {'cached' if args.warm else 'included'}): {wall:.1f} s "
              f"[{verdict} target <= {TARGET_SECONDS:.0f} s]")  # fmt: skip
        print(
            f"grid part: {result['seconds']:.1f} s; {n_cells / wall:.3f} cells/s, {n_trainings / wall:.3f} trainings/s"
        )
        print(
            f"one `tailtag train` of the baseline cell (warm cache): {single:.1f} s; "
            f"grid / single = {wall / single:.1f}"
        )
        print("\nleaderboard top 5:")
        from tailtag.compare import format_table

        print(format_table(result["rows"], config.rank_by, limit=5))
        print()
        print("\n".join(result["statement"]))
        return 0 if verdict == "PASS" else 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

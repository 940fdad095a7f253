"""`tailtag compare` as a library function: CONFIG -> OUT with cells, leaderboard, page and best.yaml.

OUT/
  compare.yaml      the grid as run (every default written out)
  features.npz      the cached features, labels and split every worker reads
  cells.jsonl       one line per finished cell (training x decision rule), keyed by content hash: resumable
  leaderboard.csv   mean and std over seeds per configuration, paired tests against the best and the baseline
  leaderboard.html  the same with plots, self-contained
  summary.json      timings, best configuration, the statement of which differences are within noise
  best.yaml         `tailtag train --config` file of the best configuration (decision rule in its comments)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tailtag.compare.features import FEATURES_FILE, Prepared, prepare
from tailtag.compare.grid import CompareConfig
from tailtag.compare.leaderboard import Row, build_rows, find, format_table, rank, write_csv
from tailtag.compare.outputs import noise_statement, save_resolved, write_best, write_summary
from tailtag.compare.page import write_page
from tailtag.compare.runner import run_grid

OUTPUT_FILES = (
    "compare.yaml", FEATURES_FILE, "cells.jsonl", "leaderboard.csv", "leaderboard.html", "summary.json", "best.yaml"
)  # fmt: skip


def default_jobs() -> int:
    """Usable CPU cores (the affinity mask, not the machine's count, under a container or taskset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def baseline_row(config: CompareConfig, rows: list[Row]) -> Row | None:
    """The baseline configuration's row: CONFIG's `baseline`, else bce + none + fixed 0.5 when in the grid."""
    match = dict(config.baseline) or {"loss": "bce", "sampler": "none", "rule": "fixed 0.5"}
    return find(rows, match)


def compare(config: CompareConfig, out: Path, *, jobs: int | None = None, quiet: bool = False) -> dict:
    """Run (or resume) the grid of `config` into `out`, then write the leaderboard files.

    Returns:
        {"rows": ranked leaderboard rows, "baseline": its row or None, "statement": noise sentences,
         "trained": trainings run by this call, "seconds": wall time of the grid, "table": terminal text}.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_resolved(config, out / "compare.yaml")
    prepared = prepare(config, progress=not quiet)
    prepared.save(out / FEATURES_FILE)
    _warn_degenerate(prepared, quiet)
    run = run_grid(config, prepared, out, jobs=jobs or default_jobs(), quiet=quiet)
    rows = build_rows(run["records"])
    base_match = baseline_row(config, rows)
    rows = rank(rows, config.rank_by, base_match.config if base_match else None)
    statement = noise_statement(rows, config.rank_by, base_match)
    write_csv(rows, out / "leaderboard.csv")
    write_page(rows, statement, config.rank_by, f"tailtag compare: {config.source}", out / "leaderboard.html")
    write_summary(config, rows, base_match, run, out / "summary.json")
    if rows:
        write_best(config, rows[0], out / "best.yaml")
    table = format_table(rows, config.rank_by)
    return {
        "rows": rows,
        "baseline": base_match,
        "statement": statement,
        "trained": run["trained"],
        "seconds": run["seconds"],
        "table": table,
    }


def _warn_degenerate(prepared: Prepared, quiet: bool) -> None:
    """Labels without positives in val or test make their F1 / AP undefined there: say which, with counts."""
    for subset in ("val", "test"):
        counts = prepared.targets[prepared.rows(subset)].sum(axis=0)
        empty = [name for name, c in zip(prepared.names, counts, strict=True) if c == 0]
        if empty:
            print(
                f"warning: {len(empty)} label(s) have no positive in the {subset} split "
                f"({', '.join(empty[:8])}); they are left out of macro-F1 and mAP there",
                file=sys.stderr,
            )
    if not prepared.tail.any() and not quiet:
        counts = prepared.targets[prepared.rows("train")].sum(axis=0)
        print(
            f"note: no tail labels (fewest training positives: {int(counts.min())}, tail means <= tail_max); "
            "tail_mAP is reported as n/a",
            file=sys.stderr,
        )

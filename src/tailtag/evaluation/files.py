"""Evaluation outputs on disk: metrics.json (the summary), per_class.csv, skipped_images.csv."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from tailtag.fileio import atomic_write, write_text
from tailtag.images import ImageProblem

PER_CLASS_COLUMNS = (
    "label", "bucket", "train_count", "support", "n_predicted", "precision", "recall", "f1", "ap", "roc_auc",
    "threshold", "tp", "fp", "fn", "tn",
)  # fmt: skip


def json_ready(value):
    """The summary with NaN / inf replaced by None (strict JSON for scripts)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _atomic_text(path: Path, text: str) -> Path:
    return write_text(path, text)


def write_metrics(summary: dict, path: Path) -> Path:
    return _atomic_text(path, json.dumps(json_ready(summary), indent=1, allow_nan=False) + "\n")


def write_per_class(summary: dict, out: Path) -> Path:
    """per_class.csv: one row per label in the run's label order, the columns of `PER_CLASS_COLUMNS`."""
    path = out / "per_class.csv"
    with atomic_write(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(PER_CLASS_COLUMNS)
        for name, row in summary["per_class"].items():
            writer.writerow([name, *(_csv_value(row.get(key)) for key in PER_CLASS_COLUMNS[1:])])
    return path


def _csv_value(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def write_problems(problems: list[ImageProblem], path: Path) -> Path:
    with atomic_write(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("path", "reason"))
        writer.writerows((problem.path, problem.reason) for problem in problems)
    return path

"""The files `tailtag doctor` writes: label_issues.csv, image_issues.csv, duplicates.csv and doctor.json.

Every file is written beside its target and renamed into place, so an interrupted run never leaves half a
file (the same write-then-rename the run artifacts use). torch-free.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from tailtag.doctor.duplicates import DUPLICATE_COLUMNS, duplicate_table
from tailtag.doctor.issues import ISSUE_COLUMNS, issue_table
from tailtag.fileio import write_text

IMAGE_ISSUE_COLUMNS = ("img_path", "quality", "tags", "rank")


def write_text_atomic(path: Path, text: str) -> Path:
    """Write `text` through the project's one atomic-write helper (temp file, fsync, rename, fsync folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, text, newline="")


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict]) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomic(path, buffer.getvalue())


def image_issue_table(result) -> list[dict]:
    """Rows of image_issues.csv: images whose whole tag set cleanlab's multilabel filter flags, worst first."""
    table, quality = result.table, result.issues.image_quality
    return [
        {
            "img_path": str(table.paths[i]),
            "quality": round(float(quality[i]), 6),
            "tags": "|".join(table.labels_of(int(i))),
            "rank": r + 1,
        }
        for r, i in enumerate(result.issues.image_rows.tolist())
    ]


def _rate(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 4)


def summary(result, changes: list[dict] | None = None, fixed_files: list[str] | None = None) -> dict:
    """doctor.json: counts, per-label noise estimates, settings and timings."""
    issues, table, dups = result.issues, result.table, result.duplicates
    kinds = issues.kind()
    counts = table.label_counts()
    per_label = {}
    for j, name in enumerate(table.names):
        mine = issues.cols == j
        per_label[name] = {
            "positives": int(counts[j]),
            "suspected_missing": int((mine & (kinds == "missing")).sum()),
            "suspected_wrong": int((mine & (kinds == "wrong")).sum()),
            "missing_rate": _rate(issues.missing_rate[j]),
            "wrong_rate": _rate(issues.wrong_rate[j]),
            "threshold_positive": _rate(issues.thresholds[j, 1]),
            "skipped": issues.skipped.get(j),
        }
    leaks = int(sum(1 for row in duplicate_table(dups, table.paths, result.part) if row["leak"]))
    data = {
        "images": int(table.n_images),
        "labels": int(table.n_labels),
        "counts": {
            "label_issues": len(issues),
            "suspected_missing": int((kinds == "missing").sum()),
            "suspected_wrong": int((kinds == "wrong").sum()),
            "image_issues": int(len(issues.image_rows)),
            "duplicate_pairs": len(dups),
            "exact_pairs": int(dups.exact.sum()),
            "near_pairs": int((~dups.exact).sum()),
            "leak_pairs": leaks,
        },
        "per_label": per_label,
        "settings": result.settings,
        "seconds": result.seconds,
    }
    if changes is not None:
        data["fix"] = {
            "changes": len(changes),
            "added": sum(c["change"] == "added" for c in changes),
            "removed": sum(c["change"] == "removed" for c in changes),
            "files": fixed_files or [],
        }
    return data


def write_outputs(
    out: Path, result, *, changes: list[dict] | None = None, fixed_files: list[str] | None = None
) -> dict:
    """Write the CSV and JSON files into `out`; returns the doctor.json data."""
    table = result.table
    write_csv(out / "label_issues.csv", ISSUE_COLUMNS, issue_table(result.issues, table.paths, table.names))
    write_csv(out / "image_issues.csv", IMAGE_ISSUE_COLUMNS, image_issue_table(result))
    write_csv(out / "duplicates.csv", DUPLICATE_COLUMNS, duplicate_table(result.duplicates, table.paths, result.part))
    data = summary(result, changes, fixed_files)
    write_text_atomic(out / "doctor.json", json.dumps(data, indent=1) + "\n")
    return data

"""Output rows of `tailtag predict`: the submission CSV, JSONL with probabilities, and the skipped-images CSV.

Every format keeps one image per line (names with line breaks are left out by `inputs`), which is what lets a
killed job find its last complete row (`tailtag.predict.resume`):

    csv    img_path,tags                 a.jpg,"sea,sunset"   tags by descending probability, "" for none
    jsonl  {"img_path": "a.jpg", "tags": ["sea", "sunset"], "probabilities": {"sea": 0.912345, ...}}
    skipped CSV: path,reason             b.jpg,file is empty (0 bytes)

The CSV is the competition submission layout of the seed data (`img_path,tags`, tags joined by ',').
Probabilities are the calibrated ones the thresholds are applied to, rounded to 6 digits.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Literal

import numpy as np

from tailtag.errors import OptionError

Format = Literal["csv", "jsonl"]
FORMATS: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl"}
HEADERS: dict[str, str] = {"csv": "img_path,tags\n", "jsonl": "", "skipped": "path,reason\n"}
DIGITS = 6


def format_of(path: str | Path) -> Format:
    """The format a --out file's extension asks for; OptionError naming the valid extensions otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise OptionError(
            f"--out {path}: unknown output extension {suffix or '(none)'!r}; expected .csv (img_path,tags) or "
            ".jsonl (tags and per-label probabilities)\n  fix: name the output e.g. predictions.csv"
        )
    return FORMATS[suffix]


def clip_tags(
    probabilities: np.ndarray, decisions: np.ndarray, min_tags: int = 0, max_tags: int | None = None
) -> np.ndarray:
    """(N, K) uint8 decisions with at least `min_tags` and at most `max_tags` labels per row.

    A row below `min_tags` gets its best-scored labels added (top-k fallback: every image gets a guess);
    a row above `max_tags` keeps its `max_tags` best. Ties go to the earlier label, as in `TopKThreshold`.

    Args:
        probabilities: (N, K) float calibrated probabilities.
        decisions: (N, K) 0/1 decisions of the run's thresholds.
    """
    keep = np.asarray(decisions).astype(bool)
    if min_tags <= 0 and max_tags is None:
        return keep.astype(np.uint8)
    n_labels = keep.shape[1]
    ranks = _ranks(probabilities)
    if max_tags is not None:
        # Per-label thresholds may choose labels that are not the row's top-ranked ones: keep the best chosen.
        keep &= _ranks(np.where(keep, -ranks, -n_labels)) < max_tags
    if min_tags > 0:
        missing = np.maximum(min_tags - keep.sum(axis=1, keepdims=True), 0)
        keep |= _ranks(np.where(keep, -n_labels, -ranks)) < missing
    return keep.astype(np.uint8)


def _ranks(scores: np.ndarray) -> np.ndarray:
    """(N, K) 0-based rank of each score within its row, 0 = highest; ties go to the earlier column."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(scores.shape[1])[None, :], axis=1)
    return ranks


def _ordered(row_p: np.ndarray, row_d: np.ndarray) -> np.ndarray:
    chosen = np.flatnonzero(row_d)
    return chosen[np.argsort(-row_p[chosen], kind="stable")]


def format_rows(
    fmt: Format, names: list[str], labels: list[str], probabilities: np.ndarray, decisions: np.ndarray
) -> str:
    """The lines (each ending in "\\n") of `names` (B,) with (B, K) probabilities and decisions."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for name, row_p, row_d in zip(names, probabilities, decisions, strict=True):
            writer.writerow([name, ",".join(labels[j] for j in _ordered(row_p, row_d))])
        return buffer.getvalue()
    lines = []
    rounded = np.round(probabilities.astype(np.float64), DIGITS)
    for name, row_p, row_r, row_d in zip(names, probabilities, rounded, decisions, strict=True):
        record = {
            "img_path": name,
            "tags": [labels[j] for j in _ordered(row_p, row_d)],
            "probabilities": dict(zip(labels, row_r.tolist(), strict=True)),
        }
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    return "".join(lines)


def format_skipped(problems: list[tuple[str, str]]) -> str:
    """`path,reason` lines; line breaks inside a reason become spaces (one image per line)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for name, reason in problems:
        writer.writerow([name, " ".join(str(reason).split())])
    return buffer.getvalue()


def row_name(kind: str, line: str) -> str | None:
    """The image name of one complete line of a `kind` ("csv", "jsonl", "skipped") file; None if malformed."""
    try:
        if kind == "jsonl":
            record = json.loads(line)
            name = record.get("img_path") if isinstance(record, dict) else None
            ok = isinstance(name, str) and isinstance(record.get("tags"), list)
            return name if ok else None
        cells = next(csv.reader([line], strict=True))
    except (ValueError, StopIteration, csv.Error):
        return None
    return cells[0] if len(cells) == 2 else None

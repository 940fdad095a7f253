"""The report's tables, built from the evaluation summary with fallbacks to `ReportData`.

The summary (what `tailtag evaluate --json` prints) is the source of truth for every metric. Any key may be
missing, None or NaN: the cell then reads "n/a". Only values the arrays define without choices (training
counts, buckets, thresholds, the tp / fp / fn / tn counts at those thresholds) are filled in from `ReportData`.
Each cell carries the text shown and a sort key for the page's JavaScript (numbers as plain decimals, "" for
missing, which sorts last).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tailtag.report.data import ReportData

NA = "n/a"
#: Frequency buckets in reading order (most frequent first); other bucket names follow them.
BUCKET_ORDER = ("head", "medium", "tail")


@dataclass(frozen=True)
class Column:
    """A table column: summary key, header text, kind ("text", "int" or "float") and an optional tooltip."""

    key: str
    title: str
    kind: str
    help: str = ""


PER_CLASS_COLUMNS = (
    Column("label", "label", "text"),
    Column("bucket", "bucket", "text", "head / medium / tail by training positives"),
    Column("train_count", "train count", "int", "positives in the training split"),
    Column("support", "support", "int", "positives in the evaluation data"),
    Column("precision", "precision", "float"),
    Column("recall", "recall", "float"),
    Column("f1", "F1", "float"),
    Column("ap", "AP", "float", "average precision (threshold-free)"),
    Column("roc_auc", "ROC-AUC", "float"),
    Column("threshold", "threshold", "float", "fitted decision threshold"),
    Column("tp", "tp", "int", "true positives"),
    Column("fp", "fp", "int", "false positives"),
    Column("fn", "fn", "int", "false negatives"),
    Column("tn", "tn", "int", "true negatives"),
)

# (key, name, higher is better, inflated by the many negative cells of a multi-label matrix)
HEADLINE_METRICS = (
    ("macro_f1", "macro-F1", True, False),
    ("micro_f1", "micro-F1", True, False),
    ("mAP", "mAP", True, False),
    ("label_accuracy", "label-wise accuracy", True, True),
    ("hamming_loss", "Hamming loss", False, True),
    ("subset_accuracy", "subset accuracy (exact match)", True, False),
)
OTHER_METRICS = (
    ("weighted_f1", "weighted-F1", True),
    ("samples_f1", "samples-F1", True),
    ("one_error", "one-error", False),
    ("coverage", "coverage", False),
    ("ranking_loss", "ranking loss", False),
)


def number(value: object) -> float | None:
    """A finite float, or None for anything else (missing, None, NaN, a string, a bool)."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        value = float(value)
        return value if math.isfinite(value) else None
    return None


def ordered_buckets(names: object) -> list[str]:
    """The distinct bucket names among `names`: head, medium, tail first, then any others in order of appearance."""
    present = list(dict.fromkeys(str(n) for n in names))
    return [b for b in BUCKET_ORDER if b in present] + [b for b in present if b not in BUCKET_ORDER]


def fmt(value: object, digits: int = 4) -> str:
    """A number with `digits` decimals (integers with thousands separators), "n/a" when not available."""
    x = number(value)
    if x is None:
        return NA
    return f"{int(x):,}" if isinstance(value, (int, np.integer)) else f"{x:.{digits}f}"


def section(summary: dict, key: str) -> dict:
    """`summary[key]` when it is a dict, else an empty dict (so lookups below it degrade to "n/a")."""
    value = summary.get(key) if isinstance(summary, dict) else None
    return value if isinstance(value, dict) else {}


def cell(value: object, kind: str = "float") -> tuple[str, str]:
    """(text, sort key) of one table cell."""
    if kind == "text":
        text = NA if value is None else str(value)
        return text, "" if value is None else text.lower()
    x = number(value)
    if x is None:
        return NA, ""
    return (f"{int(x):,}" if kind == "int" else f"{x:.4f}"), repr(x)


def headline_rows(summary: dict) -> list[dict]:
    """Rows of the headline table: the model at its fitted thresholds, at 0.5, and the two baselines.

    Each row: name, inflated (bool), higher (bool), cells [(text, css class)] in column order. A model cell
    that a baseline beats gets the class "lose".
    """
    baselines = section(summary, "baselines")
    sources = [summary, section(summary, "at_0_5"), section(baselines, "prior"), section(baselines, "all_negative")]
    rows = []
    for key, name, higher, inflated in HEADLINE_METRICS:
        values = [number(src.get(key)) if isinstance(src, dict) else None for src in sources]
        model, base = values[0], [v for v in values[2:] if v is not None]
        beaten = model is not None and any((b > model) if higher else (b < model) for b in base)
        cells = [(fmt(v), "lose" if i == 0 and beaten else "") for i, v in enumerate(values)]
        rows.append({"name": name, "inflated": inflated, "higher": higher, "cells": cells})
    return rows


def other_metric_rows(summary: dict) -> list[dict]:
    return [{"name": name, "higher": higher, "text": fmt(summary.get(key))} for key, name, higher in OTHER_METRICS]


def threshold_gain_text(summary: dict) -> str | None:
    """One sentence on what the fitted thresholds gain over a single 0.5 threshold, or None if not given."""
    gain = section(summary, "threshold_gain")
    macro, micro = number(gain.get("macro_f1")), number(gain.get("micro_f1"))
    if macro is None and micro is None:
        return None
    parts = [f"{name} {value:+.4f}" for name, value in (("macro-F1", macro), ("micro-F1", micro)) if value is not None]
    held_out = gain.get("held_out")
    how = f" ({gain['how']})" if isinstance(gain.get("how"), str) and gain["how"] else ""
    if held_out is True:
        where = "measured on data the thresholds were not fitted on"
    elif held_out is False:
        where = "measured on the data the thresholds were fitted on, so optimistic"
    else:
        where = "whether this was measured on held-out data is not recorded"
    return f"Fitted thresholds vs one 0.5 threshold: {', '.join(parts)}; {where}{how}."


def per_class_rows(summary: dict, data: ReportData) -> list[dict]:
    """One row per label of `data.names`: {"name", "cells": [(text, sort key)] in `PER_CLASS_COLUMNS` order}."""
    per_class = section(summary, "per_class")
    fallback = _fallbacks(data, per_class)
    rows = []
    for j, name in enumerate(data.names):
        entry = per_class.get(name)
        entry = entry if isinstance(entry, dict) else {}
        cells = [cell(name, "text")]
        for column in PER_CLASS_COLUMNS[1:]:
            value = entry.get(column.key)
            missing = value is None or (column.kind != "text" and number(value) is None)
            if missing and column.key in fallback:
                value = fallback[column.key][j]
            cells.append(cell(value, column.kind))
        rows.append({"name": name, "cells": cells})
    return rows


def column_values(rows: list[dict], key: str, columns: tuple[Column, ...] = PER_CLASS_COLUMNS) -> np.ndarray:
    """(R,) float64 values of a numeric column of `per_class_rows`, NaN where the cell reads "n/a"."""
    col = [c.key for c in columns].index(key)
    return np.array([float(row["cells"][col][1] or "nan") for row in rows], dtype=np.float64)


def worst_first(rows: list[dict]) -> list[int]:
    """Row indices of `per_class_rows`, worst first: labels with evaluation positives by F1 ascending (those
    without an F1 after them), then labels without evaluation positives, whose F1 measures nothing. Equal F1s
    put the label with more evaluation positives first (more evidence that it is truly bad), then label order."""
    f1, support = column_values(rows, "f1"), np.nan_to_num(column_values(rows, "support"))
    # lexsort keys run last-major: without positives last, missing F1 last, F1, most positives, row index
    keys = (np.arange(len(rows)), -support, np.nan_to_num(f1, nan=0.0), ~np.isfinite(f1), support <= 0)
    return np.lexsort(keys).tolist()


def _fallbacks(data: ReportData, per_class: dict) -> dict[str, list]:
    """Per-label values computable from the arrays, used where the summary lacks them."""
    out: dict[str, list] = {
        "bucket": list(data.buckets),
        "train_count": data.train_counts.tolist(),
        "threshold": data.thresholds.tolist(),
    }
    complete = all(isinstance(e, dict) and number(e.get("tp")) is not None for e in per_class.values())
    if not per_class or not complete or set(per_class) != set(data.names):
        predicted = data.predictions()
        positive = data.targets > 0
        tp = np.count_nonzero(predicted & positive, axis=0)
        n_predicted, support = np.count_nonzero(predicted, axis=0), np.count_nonzero(positive, axis=0)
        out.update(
            support=support.tolist(),
            tp=tp.tolist(),
            fp=(n_predicted - tp).tolist(),
            fn=(support - tp).tolist(),
            tn=(data.n_images - n_predicted - support + tp).tolist(),
        )
    return out


def bucket_rows(summary: dict, data: ReportData) -> list[dict]:
    """Head / medium / tail rows: label count, training-count range and the bucket's averaged metrics."""
    given = section(summary, "buckets")
    names = list(dict.fromkeys([*given, *data.buckets]))
    ordered = ordered_buckets(names)
    buckets, counts = np.asarray(data.buckets, dtype=object), data.train_counts
    rows = []
    for bucket in ordered:
        metrics = given.get(bucket) if isinstance(given.get(bucket), dict) else {}
        mask = buckets == bucket
        n_labels = number(metrics.get("n_labels"))
        span = f"{counts[mask].min():,} - {counts[mask].max():,}" if mask.any() else NA
        rows.append(
            {
                "bucket": str(bucket),
                "n_labels": fmt(int(n_labels) if n_labels is not None else int(mask.sum())),
                "train_range": span,
                "cells": [fmt(metrics.get(k)) for k in ("macro_f1", "micro_f1", "mAP")],
            }
        )
    return rows


def calibration_rows(summary: dict) -> list[tuple[str, str, str]]:
    """(measure, before, after) rows of the summary's calibration numbers."""
    calibration = section(summary, "calibration")
    return [
        ("ECE, pooled cells", fmt(calibration.get("ece_before")), fmt(calibration.get("ece_after"))),
        (
            "macro ECE (mean over labels)",
            fmt(calibration.get("macro_ece_before")),
            fmt(calibration.get("macro_ece_after")),
        ),
    ]

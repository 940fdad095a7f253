"""One function per report section: summary + data -> the values its part of the template shows.

`build_sections` runs them all. A section that fails on unexpected input (a summary written by a different
version, a value of the wrong type) is replaced by a visible error line and a `ReportWarning`, so one bad
key costs one section, not the report of a finished run.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from tailtag.report import tables
from tailtag.report.bucket_plots import MANY_LABELS, bucket_summary_plot
from tailtag.report.curve_plots import curve_plots, reliability_plot
from tailtag.report.data import ReportData
from tailtag.report.matrix_plots import heatmap, most_confused
from tailtag.report.overview_plots import MAX_NAMED_BARS, history_plot, long_tail_plot
from tailtag.report.paged_table import PAGE_ROWS, paged_table
from tailtag.report.reliability import reliability_bins
from tailtag.report.selection import select_curve_labels
from tailtag.report.tables import NA, Column, fmt, number, section
from tailtag.report.thumbnails import error_gallery

_META = (
    ("run", "run"),
    ("data", "data"),
    ("split", "split"),
    ("task", "task"),
    ("n_images", "images evaluated"),
    ("n_labels", "labels"),
    ("threshold_strategy", "threshold strategy"),
    ("calibration_method", "calibration"),
)
_MULTICLASS_COLUMNS = (
    Column("label", "class", "text"),
    Column("precision", "precision", "float"),
    Column("recall", "recall", "float"),
    Column("f1", "F1", "float"),
    Column("support", "support", "int"),
)

_MULTICLASS_METRICS = (
    ("balanced_accuracy", "balanced accuracy"),
    ("macro_f1", "macro-F1"),
    ("accuracy", "accuracy"),
)


class ReportWarning(UserWarning):
    """A report section could not be drawn; the page says so in its place."""


def build_sections(summary: dict, data: ReportData) -> dict:
    """Template context of every section (see `_template.PAGE`)."""
    per_class = _guard("per-class table", _per_class, summary, data)
    curves = _guard("curves", _curves, summary, data)
    return {
        "header": _header(summary, data),
        "headline": _guard("headline metrics", _headline, summary),
        "imbalance": _guard("imbalance profile", _imbalance, summary, data),
        "training": _guard("training curves", lambda: {"plot": history_plot(data.history)}),
        "per_class": per_class,
        "curves": curves,
        "calibration": _guard("calibration", _calibration, summary, data),
        "errors": _guard("error analysis", _errors, summary, data, curves.get("names", [])),
        "multiclass": _guard("multi-class", _multiclass, summary, data) if _is_multiclass(summary, data) else None,
    }


def _guard(name: str, build: Callable[..., dict], *args: object) -> dict:
    try:
        return build(*args)
    except Exception as error:  # one broken section must not lose the rest of a finished run's report
        message = f"The {name} section could not be drawn: {type(error).__name__}: {error}"
        warnings.warn(message, ReportWarning, stacklevel=2)
        return {"error": message}


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return NA
    return fmt(value) if isinstance(value, float) else str(value)


def _header(summary: dict, data: ReportData) -> dict:
    fallback = {"task": data.task, "n_images": data.n_images, "n_labels": data.n_labels}
    meta = [(title, _text(fallback.get(key) if summary.get(key) is None else summary[key])) for key, title in _META]
    raw = summary.get("warnings")
    warns = [str(w) for w in raw] if isinstance(raw, list) else ([str(raw)] if raw else [])
    return {
        "run": _text(summary.get("run")),
        "meta": meta,
        "command": data.command,
        "config": data.config_yaml,
        "warnings": warns,
    }


def _headline(summary: dict) -> dict:
    return {
        "rows": tables.headline_rows(summary),
        "other": tables.other_metric_rows(summary),
        "gain": tables.threshold_gain_text(summary),
    }


def _imbalance(summary: dict, data: ReportData) -> dict:
    notes = []
    if data.n_labels > MAX_NAMED_BARS:
        notes.append(
            f"{data.n_labels:,} labels: the profile is one filled area per bucket, not one named bar per label."
        )
    return {
        "plot": long_tail_plot(data.train_counts, data.buckets, data.names),
        "rows": tables.bucket_rows(summary, data),
        "notes": notes,
    }


def _per_class(summary: dict, data: ReportData) -> dict:
    rows = tables.per_class_rows(summary, data)
    if len(rows) > PAGE_ROWS:
        order = tables.worst_first(rows)
        note = (
            "Worst first: labels with evaluation positives by F1, lowest first, then the labels without "
            "evaluation positives. Click a column header to sort by it (again to reverse); n/a sorts last."
        )
    else:
        order, note = None, "Click a column header to sort (again to reverse); n/a sorts last."
    cells = [row["cells"] for row in rows]
    table = paged_table(
        "per-class", tables.PER_CLASS_COLUMNS, cells, order=order, order_note=note, group_key="bucket", noun="labels"
    )
    out: dict = {"table": table, "notes": [], "buckets_plot": None}
    if data.n_labels > MANY_LABELS:
        values = {key: tables.column_values(rows, key) for key in ("f1", "ap", "threshold")}
        out["buckets_plot"] = bucket_summary_plot(data.buckets, tables.column_values(rows, "support"), values)
        out["notes"].append(
            f"{data.n_labels:,} labels (more than {MANY_LABELS}): per-label plots are summarised per frequency "
            "bucket. The box plots show the spread of per-class F1, AP and fitted threshold within head / medium / "
            "tail (box: quartiles; whiskers: 5th-95th percentile; diamond: mean); the table below pages through "
            "every label."
        )
    return out


def _curves(summary: dict, data: ReportData) -> dict:
    per_class = section(summary, "per_class")
    predicted, positive = data.predictions(), data.targets > 0
    tp = np.count_nonzero(predicted & positive, axis=0)
    support, n_predicted = np.count_nonzero(positive, axis=0), np.count_nonzero(predicted, axis=0)
    own_f1 = np.divide(2.0 * tp, support + n_predicted, out=np.zeros(data.n_labels), where=(support + n_predicted) > 0)
    # the summary's F1 when given (the number the reader sees in the table), else the one at data.thresholds
    f1 = np.array([_f1(per_class.get(name), own_f1[j]) for j, name in enumerate(data.names)], dtype=np.float64)
    chosen = select_curve_labels(data.train_counts, support, f1)
    pr, thr = curve_plots(data, chosen)
    notes = []
    if chosen and len(chosen) < data.n_labels:
        notes.append(
            f"Curves for {len(chosen)} of {data.n_labels:,} labels: "
            + "; ".join(f"{data.names[c.index]} ({c.reason})" for c in chosen)
            + "."
        )
    elif not chosen:
        notes.append("No label has a positive in the evaluation data, so there are no curves to draw.")
    return {"pr": pr, "thr": thr, "notes": notes, "names": [data.names[c.index] for c in chosen]}


def _f1(entry: object, default: float) -> float:
    value = number(entry.get("f1")) if isinstance(entry, dict) else None
    return default if value is None else value


def _calibration(summary: dict, data: ReportData) -> dict:
    given = section(summary, "calibration")
    method = given.get("method") or summary.get("calibration_method")
    calibrated = data.calibrated
    before = reliability_bins(data.targets, data.raw_scores)
    after = reliability_bins(data.targets, data.scores) if calibrated else None
    notes = ["The table gives the evaluation's numbers; the plot's legend gives the ECE of the bins drawn."]
    if not calibrated:
        notes.append("The scores were not calibrated (raw and calibrated scores are identical): one curve is drawn.")
    if not given:
        notes.append("The summary has no calibration numbers.")
    return {
        "method": _text(method) if method else "method not recorded",
        "rows": tables.calibration_rows(summary),
        "plot": reliability_plot(before, after, str(method) if method else None),
        "notes": notes,
    }


def _errors(summary: dict, data: ReportData, priority: list[str]) -> dict:
    if data.images:
        gallery, notes = error_gallery(summary.get("errors"), data.paths, priority, n_labels=data.n_labels)
    else:
        gallery = []
        notes = ["No thumbnails: this run was trained on features computed elsewhere, so its rows are feature "
                 "vectors, not image files; the lists in metrics.json name the images."]  # fmt: skip
    co = section(summary, "co_confusion")
    labels, matrix = co.get("labels"), co.get("matrix")
    plot = None
    if isinstance(labels, list) and labels and matrix is not None:
        values = np.array(matrix, dtype=np.float64)
        if values.shape != (len(labels), len(labels)):
            raise ValueError(f"co_confusion.matrix has shape {values.shape}, expected ({len(labels)}, {len(labels)})")
        keep = most_confused(values)
        if keep.size < len(labels):
            notes.append(f"Co-confusion shows the {keep.size} of {len(labels)} labels with the most confusion.")
        elif len(labels) < data.n_labels:
            notes.append(
                f"Co-confusion shows the {len(labels)} of {data.n_labels:,} labels that the summary lists "
                "(`tailtag evaluate` keeps those with the most errors)."
            )
        plot = heatmap(
            values[np.ix_(keep, keep)],
            [str(labels[i]) for i in keep],
            title="Co-confusion: fraction of images with row label present\nwhere column label is predicted but absent",
            xlabel="predicted but absent",
            ylabel="present",
            colour_label="fraction of images",
            mask_diagonal=True,
        )
    return {"gallery": gallery, "co_confusion": plot, "notes": notes}


def _is_multiclass(summary: dict, data: ReportData) -> bool:
    return data.task == "multiclass" or summary.get("task") == "multiclass" or bool(section(summary, "multiclass"))


def _multiclass(summary: dict, data: ReportData) -> dict:
    given = section(summary, "multiclass")
    metrics = [(name, fmt(given.get(key))) for key, name in _MULTICLASS_METRICS]
    per_class = given.get("per_class") if isinstance(given.get("per_class"), dict) else {}
    names = list(per_class) or list(data.names)
    rows = []
    for name, entry in per_class.items():
        entry = entry if isinstance(entry, dict) else {}
        rows.append([tables.cell(entry.get(c.key) if c.key != "label" else name, c.kind) for c in _MULTICLASS_COLUMNS])
    notes, plot = [], None
    if given.get("confusion_matrix") is not None:
        plot, note = _confusion_plot(np.array(given["confusion_matrix"], dtype=np.float64), names, data.names)
        notes += [note] if note else []
    else:
        notes.append("The summary has no confusion matrix.")
    table = paged_table(
        "multiclass-per-class",
        _MULTICLASS_COLUMNS,
        rows,
        order_note="Click a column header to sort (again to reverse); n/a sorts last.",
        noun="classes",
    )
    return {"metrics": metrics, "table": table if rows else None, "confusion": plot, "notes": notes}


def _confusion_plot(counts: np.ndarray, names: list[str], fallback: list[str]) -> tuple[str | None, str | None]:
    """Row-normalised confusion heatmap (recall on the diagonal), counts printed in the cells when small."""
    size = counts.shape[0]
    if counts.ndim != 2 or counts.shape[1] != size:
        raise ValueError(f"multiclass.confusion_matrix must be square; got shape {counts.shape}")
    names = names if len(names) == size else (fallback if len(fallback) == size else [str(i) for i in range(size)])
    rows = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, rows, out=np.full_like(counts, np.nan), where=rows > 0)
    keep = most_confused(normalised)
    note = (
        f"Confusion matrix shows the {keep.size} of {size} classes with the most confusion."
        if keep.size < size
        else None
    )
    plot = heatmap(
        normalised[np.ix_(keep, keep)],
        [names[i] for i in keep],
        title="Confusion matrix, rows normalised (cells: image counts)",
        xlabel="predicted class",
        ylabel="true class",
        colour_label="fraction of the true class",
        counts=counts[np.ix_(keep, keep)],
    )
    return plot, note

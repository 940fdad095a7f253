"""Run-level plots: the long-tail profile of the training labels and the training curves.

Each function returns a PNG data URI, or None when there is nothing to draw (the page then says
"not available").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tailtag.report._canvas import bucket_colour, grid_figure, new_figure, plain, to_data_uri
from tailtag.report.bucket_plots import MANY_LABELS
from tailtag.report.tables import ordered_buckets

#: Up to this many labels the profile is a bar chart with label names; beyond it a filled step per bucket.
MAX_NAMED_BARS = MANY_LABELS
#: A max / min ratio of training counts from which the count axis is logarithmic.
LOG_SPREAD = 20.0
# History keys that are bookkeeping, not curves.
_NOT_CURVES = ("epoch", "step", "time", "second", "elapsed", "throughput", "per_s")


def long_tail_plot(train_counts: np.ndarray, buckets: Sequence[str], names: Sequence[str]) -> str | None:
    """Training positives per label, most frequent first, coloured by bucket.

    Args:
        train_counts: (K,) training positives. buckets: (K,) bucket names. names: (K,) label names.

    Returns:
        A PNG data URI; None when K is 0. The count axis is logarithmic when max / min (over labels with a
        positive) reaches `LOG_SPREAD`; labels with no training positive cannot sit on it and are counted in
        the title instead.
    """
    counts = np.asarray(train_counts, dtype=np.int64)
    k = counts.size
    if k == 0:
        return None
    order = np.argsort(-counts, kind="stable")
    sorted_counts, sorted_buckets = counts[order], np.asarray(buckets, dtype=object)[order]
    positive = sorted_counts > 0
    spread = sorted_counts[0] / sorted_counts[positive].min() if positive.any() else 1.0
    log_y = spread >= LOG_SPREAD
    named = k <= MAX_NAMED_BARS
    x = np.arange(1, k + 1)
    fig = new_figure(max(6.0, min(12.0, 0.22 * k + 3)) if named else 10.0, 3.8)
    ax = fig.add_subplot()
    for bucket in ordered_buckets(sorted_buckets.tolist()):
        mask = sorted_buckets == bucket
        label = f"{plain(bucket, 12)}: {int(mask.sum()):,} label{'s' * (int(mask.sum()) != 1)}"
        drawn = mask & positive if log_y else mask
        if named:
            ax.bar(x[drawn], sorted_counts[drawn], width=0.85, color=bucket_colour(bucket), label=label)
        else:
            # thousands of bars alias and are slow to draw; a filled step per bucket reads the same
            ax.fill_between(x, sorted_counts, where=drawn, step="mid", color=bucket_colour(bucket), lw=0, label=label)
    if log_y:
        ax.set_yscale("log")
        if not named:
            ax.set_xscale("log")  # the head is a handful of labels, the tail thousands
    if named:
        ax.set_xticks(x, [plain(names[j], 18) for j in order], rotation=60, ha="right", fontsize=7)
    ax.set_xlabel("labels, most frequent first" if named else "label rank, most frequent first")
    ax.set_ylabel("training positives" + (" (log)" if log_y else ""))
    ax.legend(fontsize=8, loc="upper right")
    zeros = int((~positive).sum())
    hidden = f"; {zeros:,} label{'s' * (zeros != 1)} with no training positive not shown" if zeros and log_y else ""
    ax.set_title(f"{k:,} labels, max / min training count = {spread:,.1f}{hidden}", fontsize=10)
    return to_data_uri(fig)


def history_plot(history: Sequence[dict]) -> str | None:
    """Loss, validation metrics and learning rate per epoch, one panel each (panels without data are left out).

    Args:
        history: one dict per epoch; "epoch" gives the x value (default: 1, 2, ...), keys containing "loss" go
            to the loss panel, "lr" / "learning_rate" to a log-scale panel, other numeric keys to the metric panel.

    Returns:
        A PNG data URI, or None when no epoch has a numeric value.
    """
    rows = [row for row in history if isinstance(row, dict)]
    epochs = [_number(row.get("epoch")) for row in rows]
    x = np.array([e if e is not None else i + 1 for i, e in enumerate(epochs)], dtype=np.float64)
    keys = [key for key in dict.fromkeys(k for row in rows for k in row) if isinstance(key, str)]
    curves = {key: np.array([_nan(row.get(key)) for row in rows]) for key in keys}
    curves = {key: values for key, values in curves.items() if np.isfinite(values).any()}
    lr = [k for k in curves if k.lower() in ("lr", "learning_rate")]
    losses = [k for k in curves if "loss" in k.lower()]
    metrics = [k for k in curves if k not in lr and k not in losses and not any(w in k.lower() for w in _NOT_CURVES)]
    panels = [(ks, title) for ks, title in ((losses, "loss"), (metrics, "metrics"), (lr, "learning rate")) if ks]
    if not panels:
        return None
    from matplotlib.ticker import MaxNLocator

    fig = grid_figure(1, len(panels), 4.2, 3.2)
    marker = "o" if len(rows) <= 40 else None
    for i, (panel_keys, title) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for key in panel_keys:
            ax.plot(x, curves[key], marker=marker, ms=3, label=plain(key, 24))
        if title == "learning rate" and np.nanmin([np.nanmin(curves[k]) for k in panel_keys]) > 0:
            _log_axis(ax)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=8)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return to_data_uri(fig)


def _log_axis(ax) -> None:
    """Log y axis with short "1e-04" labels and no minor labels, which would not fit the fixed left margin."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # a schedule often spans less than a decade
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.0e"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _number(value: object) -> float | None:
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value) if math.isfinite(float(value)) else None
    return None


def _nan(value: object) -> float:
    number = _number(value)
    return float("nan") if number is None else number

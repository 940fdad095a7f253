"""Per-label precision-recall and threshold curves, and the pooled reliability diagram.

PR curves come from `sklearn.metrics.precision_recall_curve` on the calibrated scores (the ones the thresholds
apply to). The threshold plot shows F1, precision and recall as functions of the decision threshold, the view
that explains a fitted per-class threshold (Lipton, Elkan & Naryanaswamy, "Optimal thresholding of classifiers
to maximize F1 measure", ECML PKDD 2014). Each label's fitted threshold is marked on both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import precision_recall_curve

from tailtag.report._canvas import grid_figure, plain, to_data_uri
from tailtag.report.data import ReportData
from tailtag.report.reliability import ReliabilityBins
from tailtag.report.selection import CurveLabel

_PANEL_W, _PANEL_H, _MAX_COLS = 3.0, 2.7, 4
_BOX = {"facecolor": "white", "alpha": 0.8, "linewidth": 0, "pad": 1.5}  # keeps in-axes text readable over curves


def curve_plots(data: ReportData, chosen: Sequence[CurveLabel]) -> tuple[str | None, str | None]:
    """(PR curves, threshold curves) of the chosen labels as two PNG data URIs, one panel per label.

    Labels without evaluation positives get a panel that says so. Returns (None, None) for no labels.
    """
    if not chosen:
        return None, None
    n_cols = min(_MAX_COLS, len(chosen))
    n_rows = math.ceil(len(chosen) / n_cols)
    pr_fig = grid_figure(n_rows, n_cols, _PANEL_W, _PANEL_H)
    th_fig = grid_figure(n_rows, n_cols, _PANEL_W, _PANEL_H)
    for i, label in enumerate(chosen):
        pr_ax = pr_fig.add_subplot(n_rows, n_cols, i + 1)
        th_ax = th_fig.add_subplot(n_rows, n_cols, i + 1)
        j = label.index
        y, s, t = data.targets[:, j], data.scores[:, j], float(data.thresholds[j])
        title = f"{plain(data.names[j])}\n{label.reason}; eval + {int(y.sum()):,}, train {int(data.train_counts[j]):,}"
        for ax in (pr_ax, th_ax):
            ax.set_title(title, fontsize=8)
            ax.tick_params(labelsize=7)
        if not y.any():
            for ax in (pr_ax, th_ax):
                ax.text(0.5, 0.5, "no positives in the\nevaluation data", ha="center", va="center", fontsize=8)
                ax.set_axis_off()
            continue
        precision, recall, cuts = precision_recall_curve(y, s)
        _draw_pr(pr_ax, precision, recall, y, s, t)
        _draw_threshold(th_ax, precision, recall, cuts, t, legend=i == 0)
    return to_data_uri(pr_fig), to_data_uri(th_fig)


def _operating_point(y: np.ndarray, s: np.ndarray, t: float) -> tuple[float, float]:
    """(precision, recall) at threshold t, with precision 0 when nothing is predicted (zero_division=0)."""
    predicted = s >= t
    tp = int(np.count_nonzero(predicted & (y > 0)))
    n_predicted, n_positive = int(np.count_nonzero(predicted)), int(np.count_nonzero(y))
    return (tp / n_predicted if n_predicted else 0.0), tp / n_positive


def _draw_pr(ax, precision: np.ndarray, recall: np.ndarray, y: np.ndarray, s: np.ndarray, t: float) -> None:
    # scikit-learn's step-wise AP: sum over thresholds of (R_n - R_{n-1}) P_n; recall is decreasing here
    ap = float(-np.sum(np.diff(recall) * precision[:-1]))
    ax.plot(recall, precision, drawstyle="steps-post", lw=1.2, color="#1f77b4")
    prevalence = float(np.mean(y > 0))
    ax.axhline(prevalence, color="grey", ls=":", lw=0.8)  # a random scorer's precision
    p, r = _operating_point(y, s, t)
    ax.plot([r], [p], "o", color="#d62728", ms=5)
    ax.annotate(f"t={t:.2f}", (r, p), textcoords="offset points", xytext=(4, 4), fontsize=7, color="#d62728")
    ax.text(0.02, 0.04, f"AP {ap:.3f}\nprevalence {prevalence:.3f}", transform=ax.transAxes, fontsize=7, bbox=_BOX)
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.03)
    ax.set_xlabel("recall", fontsize=7)
    ax.set_ylabel("precision", fontsize=7)


def _draw_threshold(ax, precision: np.ndarray, recall: np.ndarray, cuts: np.ndarray, t: float, *, legend: bool) -> None:
    # precision_recall_curve returns one more (precision, recall) pair than thresholds: the final (1, 0) point
    p, r = precision[:-1], recall[:-1]
    f1 = np.divide(2 * p * r, p + r, out=np.zeros_like(p), where=(p + r) > 0)
    ax.plot(cuts, f1, color="#2ca02c", lw=1.4, label="F1", drawstyle="steps-post")
    ax.plot(cuts, p, color="#1f77b4", lw=0.9, label="precision", drawstyle="steps-post")
    ax.plot(cuts, r, color="#ff7f0e", lw=0.9, label="recall", drawstyle="steps-post")
    ax.axvline(t, color="#d62728", ls="--", lw=1.0, label="fitted threshold")
    best = int(np.argmax(f1))
    ax.text(
        0.98,
        0.04,
        f"max F1 {f1[best]:.3f} at {cuts[best]:.2f}",
        transform=ax.transAxes,
        ha="right",
        fontsize=7,
        bbox=_BOX,
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.03)
    ax.set_xlabel("threshold", fontsize=7)
    if legend:
        ax.legend(fontsize=6, loc="center left")


def reliability_plot(before: ReliabilityBins, after: ReliabilityBins | None, method: str | None) -> str | None:
    """Reliability diagram (observed frequency vs mean score per bin) and the cells per bin, before and after
    calibration (`after` None: one curve, no calibration applied). None when there are no cells."""
    if int(before.count.sum()) == 0:
        return None
    fig = grid_figure(1, 2, 4.6, 3.6)
    diagram, counts = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    diagram.plot([0, 1], [0, 1], color="grey", ls=":", lw=0.8, label="perfect calibration")
    series = [("before calibration" if after is not None else "scores", before, "#1f77b4")]
    if after is not None:
        series.append((f"after ({plain(method or 'calibration', 20)})", after, "#d62728"))
    centres = (before.edges[:-1] + before.edges[1:]) / 2
    width = (before.edges[1] - before.edges[0]) / (len(series) + 0.5)
    for i, (name, bins, colour) in enumerate(series):
        filled = bins.count > 0
        diagram.plot(
            bins.mean_score[filled],
            bins.frequency[filled],
            "o-",
            ms=3,
            color=colour,
            label=f"{name}, ECE {bins.ece:.4f}",
        )
        counts.bar(centres + (i - (len(series) - 1) / 2) * width, bins.count, width=width, color=colour, label=name)
    diagram.set_xlim(0, 1)
    diagram.set_ylim(0, 1)
    diagram.set_xlabel("mean score in bin")
    diagram.set_ylabel("fraction positive")
    diagram.set_title(f"Reliability, pooled (image, label) cells, {before.count.size} bins", fontsize=9)
    diagram.legend(fontsize=7, loc="upper left")
    counts.set_yscale("log")
    counts.set_xlim(0, 1)
    counts.set_xlabel("score bin")
    counts.set_ylabel("cells (log)")
    counts.set_title("Cells per bin", fontsize=9)
    counts.legend(fontsize=7)
    return to_data_uri(fig)

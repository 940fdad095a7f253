"""PNG plots of label statistics: sorted label frequency, label-set histogram, co-occurrence heatmap.

matplotlib is imported inside each function, and figures are drawn on the Agg canvas without pyplot, so
importing `tailtag.stats` stays cheap and never changes the backend of a caller's notebook.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from tailtag.stats.imbalance import BUCKETS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from tailtag.stats.summary import LabelStats

BUCKET_COLOURS = {"head": "#1f77b4", "medium": "#ff7f0e", "tail": "#d62728"}
_MAX_NAMED_BARS = 60  # beyond this the frequency plot drops per-label tick names
_MAX_TEXT = 40  # characters of a label-set name on the powerset plot
# Label names are data, never markup: `$` must not start mathtext (an odd count raises) and a user's
# matplotlibrc asking for LaTeX must not make `_` or `%` in a name break the plot.
_LITERAL_TEXT = {"text.usetex": False, "text.parse_math": False}
_Plot = TypeVar("_Plot", bound=Callable[..., Path])


def _literal(plot: _Plot) -> _Plot:
    """Run `plot` with text drawn literally; tick labels are made at draw time, so savefig must be inside too."""

    @functools.wraps(plot)
    def wrapper(*args, **kwargs):
        from matplotlib import rc_context

        with rc_context(_LITERAL_TEXT):
            return plot(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _short(text: str, limit: int = _MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@_literal
def _empty_plot(path: Path, title: str) -> Path:
    fig = _figure(6.0, 2.0)
    fig.text(0.5, 0.5, title, ha="center", va="center")
    fig.savefig(path)
    return path


def _bucket_handles(stats: LabelStats) -> list:
    """Legend entries built by hand, so empty buckets keep their colour and every entry gives its range."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    ranges = {
        "head": f">= {stats.head_min}",
        "medium": f"{stats.tail_max + 1}-{stats.head_min - 1}",
        "tail": f"<= {stats.tail_max}",
    }
    handles: list = [
        Patch(color=BUCKET_COLOURS[b], label=f"{b}: {int(np.count_nonzero(stats.buckets == b)):,} labels ({ranges[b]})")
        for b in BUCKETS
    ]
    handles.append(Line2D([], [], color="grey", ls="--", lw=0.8, label=f"head threshold ({stats.head_min})"))
    handles.append(Line2D([], [], color="grey", ls=":", lw=0.8, label=f"tail threshold ({stats.tail_max + 1})"))
    return handles


@_literal
def plot_label_frequency(stats: LabelStats, path: Path) -> Path:
    """Positives per label, sorted, on a log axis, coloured by head/medium/tail bucket.

    Zero-positive labels cannot sit on a log axis; the title counts them instead.
    """
    imb = stats.imbalance
    order = np.argsort(-imb.counts, kind="stable")
    counts, buckets = imb.counts[order], stats.buckets[order]
    shown = counts > 0
    x = np.arange(1, counts.size + 1)
    fig = _figure(max(6.0, min(14.0, 0.25 * counts.size + 2)), 4.5)
    ax = fig.add_subplot()
    named = counts.size <= _MAX_NAMED_BARS
    for bucket in BUCKETS:
        mask = shown & (buckets == bucket)
        if named:
            ax.bar(x[mask], counts[mask], width=0.85, color=BUCKET_COLOURS[bucket])
        elif mask.any():
            # Thousands of bars are slow and alias; a filled step per bucket reads the same.
            ax.fill_between(x[mask], counts[mask], step="mid", color=BUCKET_COLOURS[bucket], lw=0)
    ax.axhline(stats.head_min, color="grey", ls="--", lw=0.8)
    ax.axhline(stats.tail_max + 1, color="grey", ls=":", lw=0.8)
    ax.legend(handles=_bucket_handles(stats), loc="upper right", fontsize=8)
    ax.set_yscale("log")
    if named:
        ax.set_xticks(x, [_short(imb.names[j], 20) for j in order], rotation=60, ha="right", fontsize=8)
    else:
        ax.set_xscale("log")  # rank on a log axis: the head is a handful of labels, the tail thousands
    ax.set_xlabel("labels, most frequent first" if named else "label rank (log), most frequent first")
    ax.set_ylabel("positive images (log)")
    empty = f", {imb.empty_labels.size} with no positive not shown" if imb.empty_labels.size else ""
    ax.set_title(
        f"Label frequency: {imb.n_images:,} images, {imb.n_labels:,} labels{empty}\n"
        f"MeanIR {imb.mean_ir:.2f}, MaxIR {imb.max_ir:.1f}, CVIR {imb.cvir:.2f}",
        fontsize=10,
    )
    fig.savefig(path)
    return path


@_literal
def plot_labelsets(stats: LabelStats, path: Path, top: int = 20) -> Path:
    """Horizontal histogram of the `top` most frequent label sets."""
    sets = stats.labelsets
    k = min(top, len(sets))
    if k == 0:
        return _empty_plot(path, "Label sets: the table has no images")
    names = [_short(" + ".join(sets.labels(i)) or "(no label)") for i in range(k)]
    counts = sets.counts[:k]
    fig = _figure(8.0, max(2.5, 0.3 * k + 1.2))
    ax = fig.add_subplot()
    y = np.arange(k)
    ax.barh(y, counts, color="#4c72b0")
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    for yi, c in zip(y, counts, strict=True):
        ax.text(c, yi, f" {c}", va="center", fontsize=7)
    ax.set_xlabel("images")
    ax.set_title(f"Top {k} of {len(sets)} label sets ({sets.n_single} carried by one image)")
    ax.margins(x=0.12)
    fig.savefig(path)
    return path


@_literal
def plot_cooccurrence(stats: LabelStats, path: Path, top: int = 20) -> Path:
    """Heatmap of P(column label | row label) over the `top` most frequent labels (diagonal masked)."""
    imb = stats.imbalance
    idx = np.argsort(-imb.counts, kind="stable")[: min(top, imb.n_labels)]
    idx = idx[imb.counts[idx] > 0]
    if idx.size == 0:
        return _empty_plot(path, "Co-occurrence: no label has a positive image")
    sub = stats.cooccurrence[idx][:, idx].toarray().astype(np.float64)
    cond = sub / np.diag(sub)[:, None]
    np.fill_diagonal(cond, np.nan)  # P(l | l) = 1 says nothing and would dominate the eye
    size = max(4.0, 0.35 * idx.size + 2.5)
    fig = _figure(size + 1.0, size)
    ax = fig.add_subplot()
    image = ax.imshow(cond, vmin=0.0, vmax=1.0, cmap="viridis")
    names = [_short(imb.names[j], 20) for j in idx]
    ax.set_xticks(np.arange(idx.size), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(np.arange(idx.size), names, fontsize=8)
    if idx.size <= 20:
        for (r, c), value in np.ndenumerate(cond):
            if not np.isnan(value):
                ax.text(
                    c,
                    r,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if value < 0.5 else "black",
                )
    ax.set_xlabel("column label")
    ax.set_ylabel("row label (given)")
    ax.set_title(f"Co-occurrence P(column | row), top {idx.size} labels")
    fig.colorbar(image, ax=ax, shrink=0.8, label="P(column | row)")
    fig.savefig(path)
    return path


def write_plots(stats: LabelStats, out_dir: str | Path, top: int = 20) -> list[Path]:
    """Write the three plots into `out_dir` (created if needed) and return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [
        plot_label_frequency(stats, out / "label_frequency.png"),
        plot_labelsets(stats, out / "labelsets.png", top),
        plot_cooccurrence(stats, out / "cooccurrence.png", top),
    ]

"""Per-bucket summaries of per-label numbers, for label sets too large for one mark per label.

Past `MANY_LABELS` labels a bar or a curve per label is unreadable (and thousands of them slow to draw and to
load), so the report shows, for each frequency bucket (head / medium / tail by training positives, as
`tailtag.stats.assign_buckets` defines them), the distribution of the per-class F1, AP and fitted threshold as a
box plot with the bucket's mean marked. The figure has the same three panels whatever the number of labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tailtag.report._canvas import bucket_colour, grid_figure, plain, to_data_uri
from tailtag.report.tables import ordered_buckets

#: Above this many labels, per-label plots are summarised per bucket.
MANY_LABELS = 50
_PANELS = (
    ("f1", "per-class F1 (labels with evaluation positives)", True),
    ("ap", "per-class AP (labels with evaluation positives)", True),
    ("threshold", "fitted threshold (all labels)", False),
)


def bucket_summary_plot(
    buckets: Sequence[str],
    support: np.ndarray,
    values: dict[str, np.ndarray],
) -> str | None:
    """Box plots of per-label values within each bucket, one panel per value.

    Args:
        buckets: (K,) bucket name of each label.
        support: (K,) evaluation positives per label (NaN when unknown); F1 and AP are only drawn for labels
            with at least one, since without positives they are 0 or undefined by convention, not measured.
        values: "f1", "ap", "threshold" -> (K,) float64, NaN where not available; a missing key skips its panel.

    Returns:
        A PNG data URI; None when no panel has a finite value.
    """
    kinds = np.asarray(buckets, dtype=object)
    names = ordered_buckets(kinds.tolist())
    has_positives = np.nan_to_num(np.asarray(support, dtype=np.float64)) > 0
    panels = []
    for key, title, positives_only in _PANELS:
        if key not in values:
            continue
        column = np.asarray(values[key], dtype=np.float64)
        keep = np.isfinite(column) & (has_positives if positives_only else True)
        groups = [column[keep & (kinds == name)] for name in names]
        if any(g.size for g in groups):
            panels.append((title, groups))
    if not panels:
        return None
    fig = grid_figure(1, len(panels), 4.0, 3.4)
    for i, (title, groups) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        _draw_boxes(ax, names, groups)
        ax.set_title(title, fontsize=9)
    return to_data_uri(fig)


def _draw_boxes(ax, names: list[str], groups: list[np.ndarray]) -> None:
    positions = np.arange(1, len(names) + 1)
    filled = [j for j, g in enumerate(groups) if g.size]
    # whiskers at the 5th / 95th percentiles and no fliers: thousands of outlier dots would hide the boxes
    boxes = ax.boxplot(
        [groups[j] for j in filled],
        positions=positions[filled],
        widths=0.55,
        whis=(5, 95),
        showfliers=False,
        patch_artist=True,
        medianprops={"color": "black"},
    )
    for patch, j in zip(boxes["boxes"], filled, strict=True):
        patch.set_facecolor(bucket_colour(names[j]))
        patch.set_alpha(0.55)
    means = [float(groups[j].mean()) for j in filled]
    ax.plot(positions[filled], means, "D", color="black", ms=4, label="mean")
    ax.set_xticks(positions, [f"{plain(n, 10)}\n{g.size:,} labels" for n, g in zip(names, groups, strict=True)])
    ax.set_xlim(0.4, len(names) + 0.6)
    ax.set_ylim(-0.03, 1.03)
    ax.tick_params(labelsize=7)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")

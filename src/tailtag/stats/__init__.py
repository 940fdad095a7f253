"""Label statistics: imbalance measures, label sets, co-occurrence, and their plots (no torch).

`describe(table)` gathers everything `tailtag inspect` reports; the functions below compute one piece each on
the sparse (N, L) matrix. Plots live in `tailtag.stats.plots` and import matplotlib only when called.
"""

from tailtag.stats.imbalance import (
    BUCKETS,
    Bucket,
    ImbalanceStats,
    assign_buckets,
    imbalance_ratios,
    imbalance_stats,
    irlbl,
    label_scumble,
    scumble_per_image,
)
from tailtag.stats.labelsets import (
    MAX_POWERLABEL_LABELS,
    LabelsetTable,
    cooccurrence,
    labelset_table,
    powerlabel,
    top_pairs,
)
from tailtag.stats.summary import LabelStats, describe

__all__ = [
    "BUCKETS",
    "MAX_POWERLABEL_LABELS",
    "Bucket",
    "ImbalanceStats",
    "LabelStats",
    "LabelsetTable",
    "assign_buckets",
    "cooccurrence",
    "describe",
    "imbalance_ratios",
    "imbalance_stats",
    "irlbl",
    "label_scumble",
    "labelset_table",
    "powerlabel",
    "scumble_per_image",
    "top_pairs",
]

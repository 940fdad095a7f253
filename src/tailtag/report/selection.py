"""Which labels get their own PR and threshold curves when there are too many to draw them all.

A long-tailed label set is summarised by its extremes and its middle: the most frequent labels (where the
model has the most evidence), labels around the median frequency, the rarest labels that still have
evaluation positives (where thresholds are least reliable), and the label with the worst F1 (the one most
worth a look). Frequency is the training count, the quantity that defines head / medium / tail, with the
evaluation support breaking ties. A label without evaluation positives has no PR curve and is never picked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Up to this many labels every label gets its curves.
MAX_ALL = 12
#: Labels taken from each of the frequent / median / rare groups beyond `MAX_ALL`.
PER_GROUP = 4


@dataclass(frozen=True)
class CurveLabel:
    """One label chosen for the curve plots.

    Attributes:
        index: column of the label.
        reason: why it was chosen ("all labels", "most frequent", "median frequency", "rarest", "worst F1").
    """

    index: int
    reason: str


def select_curve_labels(
    train_counts: np.ndarray,
    support: np.ndarray,
    f1: np.ndarray,
    *,
    max_all: int = MAX_ALL,
    per_group: int = PER_GROUP,
) -> list[CurveLabel]:
    """Pick a readable set of labels for per-label curves.

    Args:
        train_counts: (K,) training positives per label.
        support: (K,) evaluation positives per label.
        f1: (K,) F1 at the fitted thresholds (NaN allowed; treated as unknown, never "worst").
        max_all: with K <= max_all every label is returned, in column order (with or without positives).
        per_group: beyond that, how many labels to take from the top, the middle and the bottom of the
            frequency order.

    Returns:
        The chosen labels, most frequent group first, then median, rarest and the worst by F1 (if it is already
        in a group, that entry's reason says so instead); each label once.
        Empty when K > max_all and no label has an evaluation positive.
    """
    train_counts, support, f1 = np.asarray(train_counts), np.asarray(support), np.asarray(f1, dtype=np.float64)
    k = train_counts.shape[0]
    if k <= max_all:
        return [CurveLabel(j, "all labels") for j in range(k)]
    candidates = np.flatnonzero(support > 0)
    # lexsort keys run last-major: most training positives first, then most evaluation positives, then column
    order = candidates[np.lexsort((candidates, -support[candidates], -train_counts[candidates]))]
    if order.size <= 3 * per_group:
        return [CurveLabel(int(j), "labels with positives") for j in order]
    middle = order.size // 2 - per_group // 2
    groups = [
        ("most frequent", order[:per_group]),
        ("median frequency", order[middle : middle + per_group]),
        ("rarest", order[-per_group:]),
    ]
    chosen: list[CurveLabel] = []
    seen: set[int] = set()
    for reason, indices in groups:
        for j in indices:
            if int(j) not in seen:
                seen.add(int(j))
                chosen.append(CurveLabel(int(j), reason))
    finite = order[np.isfinite(f1[order])]
    if finite.size:
        # the stable argsort keeps the most frequent of equally bad labels: more evidence that it is truly bad
        worst = int(finite[np.argsort(f1[finite], kind="stable")[0]])
        if worst in seen:
            chosen = [CurveLabel(c.index, c.reason + ", worst F1") if c.index == worst else c for c in chosen]
        else:
            chosen.append(CurveLabel(worst, "worst F1"))
    return chosen

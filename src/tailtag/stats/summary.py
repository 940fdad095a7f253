"""`describe(table)`: every label statistic of a table in one object, its warnings, and its JSON form.

This is what `tailtag inspect` prints; library users get the same numbers from `describe(table).to_dict()`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from tailtag.labels import LabelTable
from tailtag.stats.imbalance import (
    BUCKETS,
    DEFAULT_HEAD_MIN,
    DEFAULT_TAIL_MAX,
    ImbalanceStats,
    assign_buckets,
    check_bucket_thresholds,
    imbalance_stats,
)
from tailtag.stats.labelsets import LabelsetTable, cooccurrence, labelset_table, top_pairs

if TYPE_CHECKING:
    from tailtag.images import ImageCheck

DEFAULT_MIN_POSITIVES = 5
COOCCURRENCE_MATRIX_MAX_LABELS = 50
COOCCURRENCE_TOP_PAIRS = 50
_EXAMPLES = 5  # names quoted in a warning before "..."


@dataclass(frozen=True, eq=False)
class LabelStats:
    """All statistics of one label table.

    Attributes:
        imbalance: per-label counts, IRLbl, SCUMBLE and the data-set ratios.
        labelsets: the distinct label sets, most frequent first.
        cooccurrence: (L, L) CSR int64 co-occurrence counts Y^T Y.
        buckets: (L,) "head" / "medium" / "tail" per label.
        head_min, tail_max: the bucket thresholds used (positives).
        warnings: degenerate-but-legal findings, each a sentence with its numbers.
        task, source: copied from the table.
    """

    imbalance: ImbalanceStats
    labelsets: LabelsetTable
    cooccurrence: sp.csr_matrix
    buckets: np.ndarray
    head_min: int
    tail_max: int
    warnings: list[str] = field(default_factory=list)
    task: str = "multilabel"
    source: str = ""

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        """JSON-ready dict; `top` limits the label sets listed (None or 0: all). NaN becomes None."""
        imb = self.imbalance
        names = imb.names
        shown = len(self.labelsets) if not top else min(top, len(self.labelsets))
        pl = self.labelsets.powerlabels
        return {
            "source": self.source,
            "task": self.task,
            "n_images": imb.n_images,
            "n_labels": imb.n_labels,
            "label_counts": {name: int(c) for name, c in zip(names, imb.counts, strict=True)},
            "labels": [self._label_row(j) for j in range(imb.n_labels)],
            "cardinality": _num(imb.cardinality),
            "density": _num(imb.density),
            "n_unlabelled_images": imb.n_unlabelled,
            "mean_ir": _num(imb.mean_ir),
            "max_ir": _num(imb.max_ir),
            "cvir": _num(imb.cvir),
            "scumble": _num(imb.scumble),
            "scumble_cv": _num(imb.scumble_cv),
            "zero_positive_labels": [names[j] for j in imb.empty_labels],
            "n_labelsets": len(self.labelsets),
            "n_single_labelsets": self.labelsets.n_single,
            "labelsets": [
                {
                    "labels": self.labelsets.labels(k),
                    "count": int(self.labelsets.counts[k]),
                    "powerlabel": int(pl[k]) if pl is not None else None,
                }
                for k in range(shown)
            ],
            "bucket_thresholds": {"head_min": self.head_min, "tail_max": self.tail_max},
            "buckets": {name: str(b) for name, b in zip(names, self.buckets, strict=True)},
            "bucket_sizes": {b: int(np.count_nonzero(self.buckets == b)) for b in BUCKETS},
            "cooccurrence": self._cooccurrence_dict(),
            "warnings": list(self.warnings),
        }

    def _label_row(self, j: int) -> dict[str, Any]:
        imb = self.imbalance
        return {
            "name": imb.names[j],
            "count": int(imb.counts[j]),
            "frequency": _num(imb.frequencies[j]),
            "irlbl": _num(imb.irlbl[j]),
            "scumble": _num(imb.label_scumble[j]),
            "bucket": str(self.buckets[j]),
        }

    def _cooccurrence_dict(self) -> dict[str, Any]:
        """Full matrix for small label spaces; always the most frequent pairs with conditional probabilities."""
        names = self.imbalance.names
        diag = self.cooccurrence.diagonal()
        pairs = [
            {
                "labels": [names[i], names[j]],
                "count": n,
                "p_second_given_first": n / int(diag[i]),
                "p_first_given_second": n / int(diag[j]),
            }
            for i, j, n in top_pairs(self.cooccurrence, COOCCURRENCE_TOP_PAIRS)
        ]
        small = len(names) <= COOCCURRENCE_MATRIX_MAX_LABELS
        matrix = self.cooccurrence.toarray().tolist() if small else None
        return {"labels": names if small else None, "matrix": matrix, "top_pairs": pairs}


def _num(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def _examples(items: list[str]) -> str:
    shown = ", ".join(repr(s) for s in items[:_EXAMPLES])
    return shown + (", ..." if len(items) > _EXAMPLES else "")


def label_warnings(imb: ImbalanceStats, sets: LabelsetTable, min_positives: int) -> list[str]:
    """Warnings about the labels and label sets, each with its numbers."""
    out: list[str] = []
    n, names = imb.n_images, imb.names
    if n == 0:
        return ["the table has no images: every statistic is undefined"]
    empty = [names[j] for j in imb.empty_labels]
    if empty:
        out.append(
            f"{len(empty)} of {imb.n_labels} labels have no positive image ({_examples(empty)}): they cannot be "
            "learned or evaluated and are left out of MeanIR/MaxIR/CVIR; drop them or add examples"
        )
    few = np.flatnonzero((imb.counts > 0) & (imb.counts < min_positives))
    if few.size:
        rarest = few[np.argsort(imb.counts[few], kind="stable")]
        listed = [f"{names[j]} ({imb.counts[j]})" for j in rarest]
        out.append(
            f"{few.size} labels have fewer than {min_positives} positives: {', '.join(listed[:_EXAMPLES])}"
            f"{', ...' if few.size > _EXAMPLES else ''}; a split or k-fold cannot put one in every part"
        )
    if imb.n_unlabelled:
        out.append(f"{imb.n_unlabelled} of {n} images ({imb.n_unlabelled / n:.1%}) have no label (kept as negatives)")
    if sets.n_single:
        out.append(
            f"{sets.n_single} of {len(sets)} label sets are carried by a single image ({sets.n_single / n:.1%} of "
            "images): label-powerset methods and stratification on whole label sets cannot split them"
        )
    return out


def path_warnings(paths: np.ndarray) -> list[str]:
    """A warning when an image path occurs more than once in the table."""
    repeated = {p: c for p, c in Counter(paths.tolist()).items() if c > 1}
    if not repeated:
        return []
    extra = sum(repeated.values()) - len(repeated)
    return [
        f"{len(repeated)} image paths occur more than once ({extra} extra rows; e.g. {_examples(list(repeated))}): "
        "the same image could land in train and test; merge its rows in the label file"
    ]


def image_warnings(check: ImageCheck) -> list[str]:
    """Warnings from an image check: unreadable files and byte-identical duplicates."""
    out = []
    if check.problems:
        kinds = ", ".join(f"{n} {kind}" for kind, n in check.counts_by_kind().items())
        listed = [f"{p.path} ({p.reason})" for p in check.problems[:_EXAMPLES]]
        more = ", ..." if len(check.problems) > _EXAMPLES else ""
        out.append(
            f"{check.n_bad} of {check.n_checked} images cannot be used ({kinds}): {', '.join(listed)}{more}; "
            "repair or remove them (training can skip them with --on-bad-image skip)"
        )
    if check.duplicates:
        files = sum(len(group) for group in check.duplicates)
        first = ", ".join(check.duplicates[0])
        out.append(
            f"{len(check.duplicates)} groups of byte-identical image files ({files} files; e.g. {first}): "
            "duplicates can leak between train and test"
        )
    return out


def describe(
    table: LabelTable,
    *,
    head_min: int = DEFAULT_HEAD_MIN,
    tail_max: int = DEFAULT_TAIL_MAX,
    min_positives: int = DEFAULT_MIN_POSITIVES,
    image_check: ImageCheck | None = None,
) -> LabelStats:
    """Compute every statistic of `table` and collect its warnings.

    Args:
        table: the labels, (N, L).
        head_min, tail_max: bucket thresholds in positives (see `assign_buckets`).
        min_positives: labels with 1 to min_positives - 1 positives get a warning.
        image_check: result of `tailtag.images.check_images` for the table's images, if they were checked.
    """
    check_bucket_thresholds(head_min, tail_max)  # fail before the work, not after
    imb = imbalance_stats(table)
    sets = labelset_table(table)
    warnings = label_warnings(imb, sets, min_positives) + path_warnings(table.paths)
    warnings += [f"reader: {note}" for note in table.notes]
    if image_check is not None:
        warnings += image_warnings(image_check)
    return LabelStats(
        imbalance=imb,
        labelsets=sets,
        cooccurrence=cooccurrence(table.matrix),
        buckets=assign_buckets(imb.counts, head_min, tail_max),
        head_min=head_min,
        tail_max=tail_max,
        warnings=warnings,
        task=table.task,
        source=table.source,
    )

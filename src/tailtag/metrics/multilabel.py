"""Multi-label metrics on (N, K) targets and scores: what training validates every epoch.

Label-wise accuracy (1 - Hamming loss) is reported because the seed recipes report it, but it is inflated
by true negatives on sparse labels: selection and headlines use macro-F1 and mAP.

The F1 family follows scikit-learn's definitions (`precision_recall_fscore_support`, `f1_score` with
zero_division=0) computed from integer counts (`tailtag.metrics.per_class`, parity-tested against
scikit-learn), not scikit-learn itself: training reaches these metrics every epoch, and importing
`sklearn.metrics` costs a process about 80 MB (it loads pandas and scipy.stats): 8% of the 1.024 GB that the
README's 1,000,000-image run is measured against.
"""

from __future__ import annotations

import numpy as np

from tailtag.metrics.per_class import micro_and_samples_f1, thresholded_metrics
from tailtag.metrics.ranks import average_precision, column_ranks

SELECTION_METRICS = ("macro_f1", "micro_f1", "mAP", "tail_mAP", "minority_recall", "label_accuracy")


def _average_precision(targets: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(K,) AP per label; NaN for a label with no positive in `targets` (AP is undefined there)."""
    ap = np.full(targets.shape[1], np.nan)
    # one scikit-learn call per label is too slow at thousands of labels; same values from the positives' ranks
    for column in column_ranks(targets, scores):
        ap[column.column] = average_precision(column)
    return ap


def multilabel_metrics(
    targets: np.ndarray,
    scores: np.ndarray,
    thresholds: np.ndarray | float = 0.5,
    *,
    tail_mask: np.ndarray | None = None,
) -> dict:
    """Headline multi-label metrics.

    Args:
        targets: (N, K) 0/1 ground truth.
        scores: (N, K) probabilities in [0, 1].
        thresholds: scalar or (K,) decision thresholds; a label is predicted when score >= threshold.
        tail_mask: (K,) bool, labels in the tail bucket (for `tail_mAP`, `minority_recall`); default: the
            labels with below-median positives in `targets`.

    Returns:
        dict with macro_f1, micro_f1, samples_f1, mAP (mean AP over labels that have positives), tail_mAP,
        minority_recall (mean recall over tail labels), label_accuracy, hamming_loss, subset_accuracy and
        per_class (name-less lists: precision, recall, f1, ap, support), all plain Python floats.
    """
    targets = np.asarray(targets).astype(np.int8)
    predictions = (np.asarray(scores) >= np.asarray(thresholds)).astype(np.int8)
    thresholded = thresholded_metrics(targets, predictions)
    precision, recall, f1, support = (thresholded[key] for key in ("precision", "recall", "f1", "support"))
    if tail_mask is None:
        tail_mask = support < np.median(support)
    ap = _average_precision(targets, np.asarray(scores))
    micro_f1, samples_f1 = micro_and_samples_f1(targets, predictions)
    labelled = support > 0
    hamming = float(np.mean(targets != predictions))
    tail = tail_mask & labelled
    return {
        "macro_f1": float(f1[labelled].mean()) if labelled.any() else 0.0,
        "micro_f1": micro_f1,
        "samples_f1": float(samples_f1),
        "mAP": float(np.nanmean(ap)) if labelled.any() else 0.0,
        "tail_mAP": float(np.nanmean(ap[tail])) if tail.any() else float(np.nanmean(ap)) if labelled.any() else 0.0,
        "minority_recall": float(recall[tail].mean())
        if tail.any()
        else float(recall[labelled].mean() if labelled.any() else 0.0),
        "label_accuracy": 1.0 - hamming,
        "hamming_loss": hamming,
        "subset_accuracy": float(np.mean((targets == predictions).all(axis=1))),
        "per_class": {
            "precision": precision.tolist(),
            "recall": recall.tolist(),
            "f1": f1.tolist(),
            "ap": [None if np.isnan(v) else float(v) for v in ap],
            "support": support.astype(int).tolist(),
        },
    }


def selection_score(metrics: dict, name: str) -> float:
    """The value of the checkpoint-selection metric `name` (higher is better)."""
    return float(metrics[name])

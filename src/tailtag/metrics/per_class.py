"""Per-class multi-label metrics and their averages, on scikit-learn.

Explicit policy for degenerate labels (scikit-learn's `zero_division=0` for the thresholded ones):

- no positive in the targets: recall 0 and F1 0 by zero_division, AP and ROC-AUC NaN (undefined; JSON null).
  Such labels are left out of macro averages and mAP (they carry no evidence), and counted in `n_empty`.
- no prediction: precision 0 (zero_division), so F1 is 0 unless the label also has no positive.
- predicted for every image: well defined (precision = prevalence, recall 1), nothing special.
- every image positive: ROC-AUC NaN (no negatives), AP is defined.
Weighted F1 weights by support, so empty labels drop out of it by construction; micro-F1 pools all cells.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import average_precision_score, f1_score, precision_recall_fscore_support, roc_auc_score


def per_class_metrics(targets: np.ndarray, scores: np.ndarray, predictions: np.ndarray) -> dict[str, np.ndarray]:
    """Per-label metrics.

    Args:
        targets: (N, K) 0/1 int. scores: (N, K) float. predictions: (N, K) 0/1 decisions.

    Returns:
        dict of (K,) arrays: precision, recall, f1, ap, roc_auc (float64, NaN where undefined), support and
        n_predicted (int64).
    """
    k = targets.shape[1]
    ap, auc = np.full(k, np.nan), np.full(k, np.nan)
    support = targets.sum(axis=0).astype(np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zero_division is the documented policy; undefined AP/AUC stay NaN
        precision, recall, f1, _ = precision_recall_fscore_support(
            targets, predictions, average=None, zero_division=0, labels=np.arange(k)
        )
        for j in np.flatnonzero(support > 0):
            ap[j] = average_precision_score(targets[:, j], scores[:, j])
            if support[j] < targets.shape[0]:
                auc[j] = roc_auc_score(targets[:, j], scores[:, j])
    return {
        "precision": precision.astype(np.float64),
        "recall": recall.astype(np.float64),
        "f1": f1.astype(np.float64),
        "ap": ap,
        "roc_auc": auc,
        "support": support,
        "n_predicted": predictions.sum(axis=0).astype(np.int64),
    }


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def averaged_metrics(
    targets: np.ndarray, predictions: np.ndarray, per_class: dict[str, np.ndarray]
) -> dict[str, float]:
    """Micro / macro / weighted / samples F1, macro precision and recall, mAP, mean ROC-AUC, Hamming loss,
    label-wise accuracy and subset accuracy (macro and mAP over labels with positives; NaN if there are none)."""
    labelled = per_class["support"] > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        micro = f1_score(targets, predictions, average="micro", zero_division=0)
        weighted = f1_score(targets, predictions, average="weighted", zero_division=0) if labelled.any() else 0.0
        samples = f1_score(targets, predictions, average="samples", zero_division=0) if len(targets) else np.nan
    hamming = float(np.mean(targets != predictions)) if targets.size else float("nan")
    return {
        "micro_f1": float(micro),
        "macro_f1": _mean(np.where(labelled, per_class["f1"], np.nan)),
        "weighted_f1": float(weighted),
        "samples_f1": float(samples),
        "macro_precision": _mean(np.where(labelled, per_class["precision"], np.nan)),
        "macro_recall": _mean(np.where(labelled, per_class["recall"], np.nan)),
        "mAP": _mean(per_class["ap"]),
        "macro_roc_auc": _mean(per_class["roc_auc"]),
        "hamming_loss": hamming,
        "label_accuracy": 1.0 - hamming,
        "subset_accuracy": float(np.mean((targets == predictions).all(axis=1))) if len(targets) else float("nan"),
        "n_labels": int(targets.shape[1]),
        "n_empty": int((~labelled).sum()),
    }

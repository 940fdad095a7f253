"""Per-class multi-label metrics and their averages (scikit-learn definitions; AP and ROC-AUC computed in
`tailtag.metrics.ranks` for speed).

Explicit policy for degenerate labels (scikit-learn's `zero_division=0` for the thresholded ones):

- no positive in the targets: recall 0 and F1 0 by zero_division, AP and ROC-AUC NaN (undefined; JSON null).
  Such labels are left out of macro averages and mAP (they carry no evidence), and counted in `n_empty`.
- no prediction: precision 0 (zero_division), so F1 is 0 unless the label also has no positive.
- predicted for every image: well defined (precision = prevalence, recall 1), nothing special.
- every image positive: ROC-AUC NaN (no negatives), AP is defined.
Weighted F1 weights by support, so empty labels drop out of it by construction; micro-F1 pools all cells.
"""

from __future__ import annotations

import numpy as np

from tailtag.metrics.ranks import average_precision, column_ranks, roc_auc


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
    thresholded = thresholded_metrics(targets, predictions)
    # scikit-learn's per-label average_precision_score / roc_auc_score calls take ~30 s at 7,000 labels; the
    # positives' ranks give the same values (parity-tested to 1e-9) from one value sort per column
    for column in column_ranks(targets, scores):
        ap[column.column] = average_precision(column)
        auc[column.column] = roc_auc(column)
    return {**thresholded, "ap": ap, "roc_auc": auc}


def thresholded_metrics(targets: np.ndarray, predictions: np.ndarray) -> dict[str, np.ndarray]:
    """Per-label precision, recall, F1 (float64, scikit-learn's definitions with zero_division=0), support and
    n_predicted (int64) of (N, K) 0/1 `predictions` against (N, K) 0/1 `targets`, from integer counts."""
    support = targets.sum(axis=0, dtype=np.int64)
    n_predicted = predictions.sum(axis=0, dtype=np.int64)
    tp = _true_positives(targets, predictions, axis=0)
    return {
        "precision": _ratio(tp, n_predicted),
        "recall": _ratio(tp, support),
        "f1": f1_from_counts(tp, support, n_predicted),
        "support": support,
        "n_predicted": n_predicted,
    }


def micro_and_samples_f1(targets: np.ndarray, predictions: np.ndarray) -> tuple[float, float]:
    """Micro-F1 (every cell pooled) and samples-F1 (the mean of each image's F1) of (N, K) 0/1 arrays, with
    scikit-learn's definitions and zero_division=0; samples-F1 is NaN for no images."""
    row_tp = _true_positives(targets, predictions, axis=1)
    row_total = targets.sum(axis=1, dtype=np.int64) + predictions.sum(axis=1, dtype=np.int64)
    micro = float(_ratio(2 * row_tp.sum(), row_total.sum()))
    samples = float(_ratio(2 * row_tp, row_total).mean()) if len(targets) else float("nan")
    return micro, samples


def f1_scores(targets: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """(K,) float64 per-label F1 of (N, K) 0/1 `predictions` against (N, K) 0/1 `targets` (0 where undefined)."""
    support = targets.sum(axis=0, dtype=np.int64)
    n_predicted = predictions.sum(axis=0, dtype=np.int64)
    return f1_from_counts(_true_positives(targets, predictions, axis=0), support, n_predicted)


def f1_from_counts(true_positives: np.ndarray, support: np.ndarray, n_predicted: np.ndarray) -> np.ndarray:
    """(K,) float64 F1 = 2 TP / (support + predicted) per label from integer counts (0 where undefined), e.g.
    counts summed over cross-fitting folds."""
    return _ratio(2 * np.asarray(true_positives), np.asarray(support) + np.asarray(n_predicted))


def _true_positives(targets: np.ndarray, predictions: np.ndarray, axis: int) -> np.ndarray:
    return np.logical_and(targets, predictions).sum(axis=axis, dtype=np.int64)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator with scikit-learn's zero_division=0 (0 where the denominator is 0)."""
    numerator, denominator = np.asarray(numerator, dtype=np.float64), np.asarray(denominator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def averaged_metrics(
    targets: np.ndarray, predictions: np.ndarray, per_class: dict[str, np.ndarray]
) -> dict[str, float]:
    """Micro / macro / weighted / samples F1, macro precision and recall, mAP, mean ROC-AUC, Hamming loss,
    label-wise accuracy and subset accuracy (macro and mAP over labels with positives; NaN if there are none)."""
    support = per_class["support"]
    labelled = support > 0
    # scikit-learn's f1_score re-validates and re-counts the (N, K) arrays on every call (~4 s at 8,000 x 6,941);
    # the same F1 definitions from counts, with zero_division=0 (parity-tested)
    micro, samples = micro_and_samples_f1(targets, predictions)
    weighted = float((per_class["f1"] * support).sum() / support.sum()) if labelled.any() else 0.0
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

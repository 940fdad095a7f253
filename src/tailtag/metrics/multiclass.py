"""Multi-class (single-label) metrics: confusion matrix, per-class precision / recall, balanced accuracy,
macro-F1, accuracy, all from scikit-learn with `labels=range(K)` so absent classes keep their row.

Policy: a class absent from the targets has recall NaN and is left out of balanced accuracy and macro-F1
(scikit-learn's `balanced_accuracy_score` does the same, with a warning); a class never predicted has
precision 0 (zero_division=0). Balanced accuracy is the mean recall over present classes (Brodersen et al.,
"The balanced accuracy and its posterior distribution", ICPR 2010).
"""

from __future__ import annotations

import warnings

import numpy as np

from tailtag.errors import TailtagError


def _as_class_indices(values: object, n_classes: int, what: str) -> np.ndarray:
    """(N,) int class indices from (N,) indices or an (N, K) one-hot / score matrix (argmax)."""
    a = np.asarray(values)
    if a.ndim == 2:
        if a.shape[1] != n_classes:
            raise TailtagError(f"multiclass_metrics: {what} has {a.shape[1]} columns, expected {n_classes}")
        a = a.argmax(axis=1)
    if a.ndim != 1 or (a.size and (a.min() < 0 or a.max() >= n_classes)):
        raise TailtagError(
            f"multiclass_metrics: {what} must be (N,) class indices in [0, {n_classes}) or an (N, {n_classes}) "
            f"matrix, got shape {np.shape(values)}; fix: map class names to column indices"
        )
    return a.astype(np.int64)


def multiclass_metrics(targets: object, predictions: object, n_classes: int) -> dict:
    """Multi-class evaluation.

    Args:
        targets: (N,) true class indices or (N, K) one-hot.
        predictions: (N,) predicted indices or (N, K) scores (argmax is taken).
        n_classes: K.

    Returns:
        dict: confusion (K, K) int64 (rows true, columns predicted), precision / recall / f1 (K,) float64
        (recall NaN for absent classes), support (K,), accuracy, balanced_accuracy, macro_f1, n_absent.
    """
    y = _as_class_indices(targets, n_classes, "targets")
    p = _as_class_indices(predictions, n_classes, "predictions")
    if y.shape != p.shape:
        raise TailtagError(f"multiclass_metrics: {y.shape[0]} targets but {p.shape[0]} predictions")
    # imported here, as in `tailtag.metrics.ranking`: `import sklearn.metrics` costs about 80 MB, which a process
    # that trains multi-label models need not carry
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = np.arange(n_classes)
    cm = confusion_matrix(y, p, labels=labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        precision, recall, f1, support = precision_recall_fscore_support(
            y, p, labels=labels, average=None, zero_division=0
        )
    present = support > 0
    recall = np.where(present, recall, np.nan)
    return {
        "confusion": cm.astype(np.int64),
        "precision": precision.astype(np.float64),
        "recall": recall.astype(np.float64),
        "f1": f1.astype(np.float64),
        "support": support.astype(np.int64),
        "accuracy": float(np.mean(y == p)) if y.size else float("nan"),
        "balanced_accuracy": float(np.mean(recall[present])) if present.any() else float("nan"),
        "macro_f1": float(np.mean(f1[present])) if present.any() else float("nan"),
        "n_absent": int((~present).sum()),
    }

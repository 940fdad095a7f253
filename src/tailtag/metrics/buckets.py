"""The full multi-label evaluation, overall and per head / medium / tail bucket of labels.

A bucket's metrics are the same metrics computed on the bucket's label columns only (so samples-F1, subset
accuracy and the ranking metrics of "tail" ask: how well are the tail labels of each image ranked and decided).
Buckets usually come from `tailtag.stats.assign_buckets` on the *training* counts; an empty bucket is omitted.
"""

from __future__ import annotations

import warnings

import numpy as np

from tailtag.errors import TailtagError
from tailtag.metrics.arrays import as_targets_scores
from tailtag.metrics.per_class import averaged_metrics, per_class_metrics
from tailtag.metrics.ranking import ranking_metrics

BUCKET_ORDER = ("head", "medium", "tail")


def _decide(scores: np.ndarray, thresholds: np.ndarray | float) -> np.ndarray:
    th = np.asarray(thresholds, dtype=np.float64)
    if th.ndim not in (0, 1) or (th.ndim == 1 and th.shape[0] != scores.shape[1]):
        raise TailtagError(
            f"thresholds must be a scalar or have shape ({scores.shape[1]},), got shape {th.shape}; fix: fit the "
            "thresholds on the same labels as the scores"
        )
    return (scores >= th).astype(np.int8)


def summary_metrics(
    targets: np.ndarray, scores: np.ndarray, predictions: np.ndarray
) -> tuple[dict, dict[str, np.ndarray]]:
    """Averaged and ranking metrics plus the per-class arrays for one set of label columns."""
    per_class = per_class_metrics(targets, scores, predictions)
    return {**averaged_metrics(targets, predictions, per_class), **ranking_metrics(targets, scores)}, per_class


def evaluate_multilabel(
    targets: object,
    scores: object,
    thresholds: np.ndarray | float = 0.5,
    *,
    buckets: np.ndarray | None = None,
    names: list[str] | None = None,
    predictions: np.ndarray | None = None,
) -> dict:
    """Every multi-label metric, overall, per class and per bucket.

    Args:
        targets: (N, K) 0/1 array or scipy sparse matrix.
        scores: (N, K) scores.
        thresholds: scalar or (K,) thresholds (score >= threshold predicts); ignored when `predictions` is given
            (e.g. from `TopKThreshold.predict`).
        buckets: (K,) strings "head" / "medium" / "tail" (other names allowed, reported as given).
        names: K label names for the per-class table (default "0".."K-1").
        predictions: (N, K) 0/1 decisions to evaluate instead of thresholding.

    Returns:
        dict: the overall metrics (see `averaged_metrics` and `ranking_metrics`), `per_class` (name -> dict
        of precision, recall, f1, ap, roc_auc, support, n_predicted, with None for undefined values) and
        `buckets` (bucket -> the overall keys plus n_labels).
    """
    t, s = as_targets_scores(targets, scores, where="evaluate_multilabel")
    pred = _decide(s, thresholds) if predictions is None else np.asarray(predictions).astype(np.int8)
    if pred.shape != t.shape:
        raise TailtagError(f"evaluate_multilabel: predictions.shape={pred.shape} does not match {t.shape}")
    names = [str(j) for j in range(t.shape[1])] if names is None else list(names)
    if len(names) != t.shape[1]:
        raise TailtagError(f"evaluate_multilabel: got {len(names)} names for {t.shape[1]} labels")
    overall, per_class = summary_metrics(t, s, pred)
    if overall["n_empty"]:
        warnings.warn(
            f"{overall['n_empty']} of {t.shape[1]} labels have no positive in the evaluation data; their AP and "
            "ROC-AUC are undefined and they are left out of macro averages and mAP",
            stacklevel=2,
        )
    overall["per_class"] = {
        name: {key: _plain(values[j]) for key, values in per_class.items()} for j, name in enumerate(names)
    }
    overall["buckets"] = {} if buckets is None else _per_bucket(t, s, pred, np.asarray(buckets))
    return overall


def _per_bucket(targets: np.ndarray, scores: np.ndarray, predictions: np.ndarray, buckets: np.ndarray) -> dict:
    if buckets.shape != (targets.shape[1],):
        raise TailtagError(
            f"evaluate_multilabel: buckets must have shape ({targets.shape[1]},), got {buckets.shape}; fix: one "
            "bucket name per label, e.g. from tailtag.stats.assign_buckets(train_counts)"
        )
    present = list(dict.fromkeys(buckets.tolist()))
    ordered = [b for b in BUCKET_ORDER if b in present] + [b for b in present if b not in BUCKET_ORDER]
    out = {}
    for bucket in ordered:
        cols = buckets == bucket
        metrics, _ = summary_metrics(targets[:, cols], scores[:, cols], predictions[:, cols])
        out[bucket] = {key: _plain(value) for key, value in metrics.items()}
    return out


def _plain(value: object) -> float | int | None:
    """JSON-ready scalar: NaN becomes None."""
    if isinstance(value, (np.integer, int)):
        return int(value)
    value = float(value)
    return None if np.isnan(value) else value

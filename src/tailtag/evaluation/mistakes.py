"""Error analysis: per-label 2x2 counts, a co-confusion matrix, and each label's worst mistakes.

co_confusion[a, b] is the fraction of images that carry label a on which b was predicted although b is
absent: "predicts sea whenever sunset is present" shows up as a bright cell (a multi-label analogue of the
confusion matrix; cf. the label-pair confusion analysis in Tsoumakas et al., "Mining multi-label data", 2010).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def confusion_counts(targets: np.ndarray, predictions: np.ndarray) -> dict[str, np.ndarray]:
    """Per-label tp, fp, fn, tn (each (K,) int64) of (N, K) 0/1 arrays."""
    t = targets.astype(bool)
    p = predictions.astype(bool)
    tp = (t & p).sum(axis=0, dtype=np.int64)
    fp = (~t & p).sum(axis=0, dtype=np.int64)
    fn = (t & ~p).sum(axis=0, dtype=np.int64)
    return {"tp": tp, "fp": fp, "fn": fn, "tn": len(t) - tp - fp - fn}


def pick_labels(targets: np.ndarray, predictions: np.ndarray, limit: int) -> np.ndarray:
    """Column indices to analyse when K is large: the `limit` labels with the most errors (all if K <= limit)."""
    k = targets.shape[1]
    if k <= limit:
        return np.arange(k)
    errors = (targets.astype(bool) != predictions.astype(bool)).sum(axis=0)
    return np.sort(np.argsort(-errors, kind="stable")[:limit])


def co_confusion(targets: np.ndarray, predictions: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """(C, C) float64 co-confusion among `columns` (rows: present label a; columns: falsely predicted b)."""
    t = sp.csr_matrix(targets[:, columns].astype(np.float64))
    false_pos = sp.csr_matrix(
        (predictions[:, columns].astype(bool) & ~targets[:, columns].astype(bool)).astype(np.float64)
    )
    counts = (t.T @ false_pos).toarray()
    present = np.asarray(t.sum(axis=0)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = counts / present[:, None]
    rates[present == 0] = np.nan
    np.fill_diagonal(rates, np.nan)  # a label cannot be both present and falsely predicted
    return rates


def worst_mistakes(
    targets: np.ndarray, scores: np.ndarray, predictions: np.ndarray, column: int, per_kind: int = 4
) -> dict[str, list[dict]]:
    """The highest-scored false positives and lowest-scored false negatives of one label (row, score)."""
    t, s, p = targets[:, column].astype(bool), scores[:, column], predictions[:, column].astype(bool)
    false_pos = np.flatnonzero(~t & p)
    false_neg = np.flatnonzero(t & ~p)
    false_pos = false_pos[np.argsort(-s[false_pos], kind="stable")[:per_kind]]
    false_neg = false_neg[np.argsort(s[false_neg], kind="stable")[:per_kind]]
    return {
        "false_positives": [{"row": int(i), "score": float(s[i])} for i in false_pos],
        "false_negatives": [{"row": int(i), "score": float(s[i])} for i in false_neg],
    }

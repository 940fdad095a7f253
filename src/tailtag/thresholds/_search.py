"""Exact threshold sweeps on (N, K) scores: every distinct cut of each column is scored at once.

A column is sorted by decreasing score; cutting after position i predicts the i + 1 highest scores. Only cuts
between two different scores are reachable by a threshold (ties are predicted together). The threshold of a
cut is the midpoint between the last predicted and the first unpredicted score, so a new score that falls
between them is split evenly rather than always landing on one side (the usual choice, e.g. Lipton et al.,
"Optimal thresholding of classifiers to maximize F1 measure", ECML-PKDD 2014, discuss F1-optimal cuts).
The per-class F1 and global micro-F1 searches only visit positives' cuts (`_ranks`, `_global_micro`), which
is exact and much faster at thousands of labels; the full sweep stays for precision / recall targets, whose best
cut can end on negatives. Columns are processed in blocks so 8,000 x 7,000 scores never need more than a few hundred MB.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tailtag.metrics.ranks import best_f1_cut, column_ranks

_BLOCK_CELLS = 4_000_000  # about 32 MB per float64 work array


@dataclass
class Sweep:
    """All cuts of a block of B columns, each array (N, B) in cut order (best-scored first).

    `threshold[i]` predicts exactly the first i + 1 rows; `valid[i]` is False where row i + 1 ties row i.
    `n_pos` is (B,). `none_threshold` (B,) predicts nothing (just above the column maximum).
    """

    threshold: np.ndarray
    tp: np.ndarray
    n_pred: np.ndarray
    valid: np.ndarray
    n_pos: np.ndarray
    none_threshold: np.ndarray


def sweeps(targets: np.ndarray, scores: np.ndarray) -> Iterator[tuple[slice, Sweep]]:
    """Yield (column slice, Sweep) over blocks of columns of (N, K) targets and scores."""
    n, k = scores.shape
    block = max(1, _BLOCK_CELLS // max(n, 1))
    for start in range(0, k, block):
        cols = slice(start, min(k, start + block))
        order = np.argsort(-scores[:, cols], axis=0, kind="stable")
        s = np.take_along_axis(scores[:, cols], order, axis=0)
        t = np.take_along_axis(targets[:, cols], order, axis=0).astype(np.int64)
        tp = np.cumsum(t, axis=0)
        n_pred = np.arange(1, n + 1)[:, None] * np.ones((1, s.shape[1]), dtype=np.int64)
        valid = np.ones(s.shape, dtype=bool)
        valid[:-1] = s[:-1] > s[1:]
        threshold = s.copy()
        threshold[:-1] = np.where(valid[:-1], (s[:-1] + s[1:]) / 2, s[:-1])
        # midpoint rounding can land on the lower score when both are adjacent floats: predict with >=, so
        # keep the threshold strictly above the first unpredicted score
        low = threshold[:-1] <= s[1:]
        threshold[:-1][low] = s[:-1][low]
        none = np.nextafter(s[0], np.inf)
        yield cols, Sweep(threshold, tp, n_pred, valid, tp[-1].copy(), none)


def best_f1_per_class(targets: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F1-optimal threshold per column (the same cuts as a full `sweeps` pass, found from the positives only).

    Returns:
        thresholds (K,) float64 and the F1 each reaches on the given data (K,); a column without positives
        gets its predict-nothing threshold and F1 0.
    """
    thresholds = np.nextafter(scores.max(axis=0), np.inf) if scores.shape[0] else np.full(scores.shape[1], np.inf)
    best = np.zeros(scores.shape[1])
    for c in column_ranks(targets, scores):
        thresholds[c.column], best[c.column] = best_f1_cut(c)
    return thresholds, best


def target_rate_per_class(
    targets: np.ndarray, scores: np.ndarray, metric: str, target: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the threshold that meets `metric` ("precision" or "recall") >= `target` best.

    For precision the lowest such threshold (most recall); for recall the highest (most precision).

    Returns:
        thresholds (K,) and reached (K,) bool; where the target cannot be met the threshold is NaN.
    """
    k = scores.shape[1]
    thresholds, reached = np.full(k, np.nan), np.zeros(k, dtype=bool)
    for cols, sw in sweeps(targets, scores):
        if metric == "precision":
            ok = sw.valid & (sw.tp >= target * sw.n_pred)
            i = ok.shape[0] - 1 - np.argmax(ok[::-1], axis=0)  # last (lowest) cut meeting the target
        else:
            ok = sw.valid & (sw.tp >= target * np.maximum(sw.n_pos, 1)) & (sw.n_pos > 0)
            i = np.argmax(ok, axis=0)  # first (highest) cut meeting the target
        j = np.arange(ok.shape[1])
        hit = ok[i, j] & (sw.n_pos > 0)
        thresholds[cols] = np.where(hit, sw.threshold[i, j], np.nan)
        reached[cols] = hit
    return thresholds, reached


def macro_f1_at(targets: np.ndarray, scores: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """(C,) macro-F1 over the labels with positives for each of C global thresholds (predict score >= t)."""
    n_pos = targets.sum(axis=0)
    labelled = np.flatnonzero(n_pos > 0)
    total = np.zeros(len(candidates))
    for k in labelled:
        order = np.argsort(scores[:, k], kind="stable")
        s, t = scores[order, k], targets[order, k]
        # tp_above[i] = positives among rows i.. of the ascending column
        tp_above = np.concatenate([np.cumsum(t[::-1])[::-1], [0]])
        first = np.searchsorted(s, candidates, side="left")
        n_pred = len(s) - first
        total += 2 * tp_above[first] / (n_pred + n_pos[k])
    return total / max(len(labelled), 1)

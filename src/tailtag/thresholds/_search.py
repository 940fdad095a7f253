"""Exact threshold sweeps on (N, K) scores: every distinct cut of each column is scored at once.

A column is sorted by decreasing score; cutting after position i predicts the i + 1 highest scores. Only cuts
between two different scores are reachable by a threshold (ties are predicted together). The threshold of a
cut is the midpoint between the last predicted and the first unpredicted score, so a new score that falls
between them is split evenly rather than always landing on one side (the usual choice, e.g. Lipton et al.,
"Optimal thresholding of classifiers to maximize F1 measure", ECML-PKDD 2014, discuss F1-optimal cuts).
Columns are processed in blocks so 8,000 x 7,000 scores never need more than a few hundred MB.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

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
    """F1-optimal threshold per column.

    Returns:
        thresholds (K,) float64 and the F1 each reaches on the given data (K,); a column without positives
        gets its predict-nothing threshold and F1 0.
    """
    k = scores.shape[1]
    thresholds, best = np.empty(k), np.zeros(k)
    for cols, sw in sweeps(targets, scores):
        f1 = np.where(sw.valid, 2 * sw.tp / (sw.n_pred + sw.n_pos), -1.0)
        i = np.argmax(f1, axis=0)
        j = np.arange(f1.shape[1])
        has_pos = sw.n_pos > 0
        thresholds[cols] = np.where(has_pos, sw.threshold[i, j], sw.none_threshold)
        best[cols] = np.where(has_pos, f1[i, j], 0.0)
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


def best_global_micro(targets: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """The single threshold maximising micro-F1 over all cells, and that F1 (exact sweep)."""
    flat_t, flat_s = targets.reshape(-1, 1), scores.reshape(-1, 1)
    ((_, sw),) = list(sweeps(flat_t, flat_s))
    if sw.n_pos[0] == 0:
        return float(sw.none_threshold[0]), 0.0
    f1 = np.where(sw.valid[:, 0], 2 * sw.tp[:, 0] / (sw.n_pred[:, 0] + sw.n_pos[0]), -1.0)
    i = int(np.argmax(f1))
    return float(sw.threshold[i, 0]), float(f1[i])


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

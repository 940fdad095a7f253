"""Reliability-diagram bins of pooled (image, label) cells, with equal-width score bins.

Every cell of the (N, K) score matrix is one probabilistic prediction of a binary event, so the multi-label
reliability diagram pools them (the "classwise-pooled" view of Kull et al., "Beyond temperature scaling",
NeurIPS 2019). The expected calibration error is the bin-weighted gap between the mean score and the observed
frequency (Naeini, Cooper & Hauskrecht, "Obtaining well calibrated probabilities using Bayesian binning",
AAAI 2015; Guo et al., "On calibration of modern neural networks", ICML 2017). On long-tailed data almost all
cells are negatives with tiny scores, so the low bins dominate the ECE; the diagram shows the counts too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Equal-width bins of the diagram.
N_BINS = 15
# Cells per chunk: bounds the int64 bin-index temporary (8 bytes a cell) on an 8,000 x 7,000 matrix.
_CHUNK_CELLS = 4_000_000


@dataclass(frozen=True)
class ReliabilityBins:
    """Pooled calibration statistics.

    Attributes:
        edges: (B + 1,) bin edges from 0 to 1.
        count: (B,) int64 cells per bin.
        mean_score: (B,) float64 mean score of the cells in each bin (NaN for an empty bin).
        frequency: (B,) float64 fraction of positives among them (NaN for an empty bin).
    """

    edges: np.ndarray
    count: np.ndarray
    mean_score: np.ndarray
    frequency: np.ndarray

    @property
    def ece(self) -> float:
        """Expected calibration error: sum over bins of count / total * |frequency - mean_score| (NaN if empty)."""
        total = int(self.count.sum())
        if total == 0:
            return float("nan")
        filled = self.count > 0
        gap = np.abs(self.frequency[filled] - self.mean_score[filled])
        return float((self.count[filled] / total * gap).sum())


def reliability_bins(targets: np.ndarray, scores: np.ndarray, n_bins: int = N_BINS) -> ReliabilityBins:
    """Bin every (image, label) cell by its score.

    Args:
        targets: (N, K) 0/1.
        scores: (N, K) probabilities in [0, 1]; a score of exactly 1 falls in the last bin.
        n_bins: number of equal-width bins B (>= 1).

    Returns:
        ReliabilityBins with (B,) arrays.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1; got {n_bins}")
    count = np.zeros(n_bins, dtype=np.int64)
    score_sum = np.zeros(n_bins, dtype=np.float64)
    positive_sum = np.zeros(n_bins, dtype=np.float64)
    n_cols = max(1, scores.shape[1]) if scores.ndim == 2 else 1
    step = max(1, _CHUNK_CELLS // n_cols)
    for start in range(0, scores.shape[0], step):
        s = np.asarray(scores[start : start + step], dtype=np.float64).ravel()
        t = np.asarray(targets[start : start + step], dtype=np.float64).ravel()
        index = np.clip((s * n_bins).astype(np.int64), 0, n_bins - 1)
        count += np.bincount(index, minlength=n_bins)
        score_sum += np.bincount(index, weights=s, minlength=n_bins)
        positive_sum += np.bincount(index, weights=t, minlength=n_bins)
    filled = count > 0
    mean_score = np.divide(score_sum, count, out=np.full(n_bins, np.nan), where=filled)
    frequency = np.divide(positive_sum, count, out=np.full(n_bins, np.nan), where=filled)
    return ReliabilityBins(np.linspace(0.0, 1.0, n_bins + 1), count, mean_score, frequency)

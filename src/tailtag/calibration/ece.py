"""Expected calibration error and reliability curves for multi-label probabilities.

ECE (Naeini, Cooper & Hauskrecht, "Obtaining Well Calibrated Probabilities Using Bayesian Binning", AAAI 2015;
Guo et al., ICML 2017): ECE = sum_b |B_b| / n * |acc_b - conf_b|. In multi-label data every (image, label)
cell is one binary prediction: its confidence is p and its "accuracy" is the 0/1 target (not the max-prob
and top-1 correctness of the multi-class definition). `overall` pools all N * K cells; `per_class` bins each
label's N cells on their own; `macro` averages the labels that have positives. "quantile" bins hold equal
numbers of cells (the adaptive binning of Nixon et al., "Measuring Calibration in Deep Learning", CVPR-W
2019), which suits long-tailed scores piled up near 0 better than 15 equal-width bins.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from tailtag.calibration._base import as_targets_probabilities, positive_cells
from tailtag.calibration._binning import BinTotals, bin_totals, pooled_quantiles, quantile_edges, sorted_columns
from tailtag.errors import OptionError, TailtagError

Strategy = Literal["uniform", "quantile"]


@dataclass(frozen=True)
class ECEResult:
    """Expected calibration errors of (N, K) probabilities.

    Attributes:
        overall: ECE over all N * K cells pooled.
        per_class: (K,) float64 ECE of each label's N cells.
        macro: mean of `per_class` over labels with at least one positive (NaN, with a warning, if none has).
        n_bins: bins per histogram.
        strategy: "uniform" or "quantile".
    """

    overall: float
    per_class: np.ndarray
    macro: float
    n_bins: int
    strategy: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes None)."""
        return {
            "overall": self.overall,
            "macro": None if np.isnan(self.macro) else self.macro,
            "per_class": [float(v) for v in self.per_class],
            "n_bins": self.n_bins,
            "strategy": self.strategy,
        }


@dataclass(frozen=True)
class ReliabilityCurve:
    """What a reliability diagram plots, for the non-empty bins only (as scikit-learn's `calibration_curve`).

    Attributes:
        confidence: (M,) mean predicted probability per bin.
        frequency: (M,) observed fraction of positives per bin.
        count: (M,) int64 cells per bin.
        bin_index: (M,) which of the `n_bins` bins each entry is.
        edges: (n_bins + 1,) bin edges.
    """

    confidence: np.ndarray
    frequency: np.ndarray
    count: np.ndarray
    bin_index: np.ndarray
    edges: np.ndarray


def _checked(targets: object, probabilities: object, n_bins: object, strategy: object, where: str):
    if not isinstance(n_bins, (int, np.integer)) or isinstance(n_bins, bool) or n_bins < 1:
        raise OptionError(f"The 'n_bins' parameter of {where} must be an int >= 1. Got {n_bins!r} instead.")
    if strategy not in ("uniform", "quantile"):
        raise OptionError(
            f"The 'strategy' parameter of {where} must be one of ['uniform', 'quantile']. Got {strategy!r} instead."
        )
    t, p = as_targets_probabilities(targets, probabilities, where=where)
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise TailtagError(f"{where}: got targets.shape={t.shape}; fix: pass at least one image and one label")
    return t, p


def _positives(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = positive_cells(t)
    return p[rows, cols], cols


def _pooled_edges(sorted_rows: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    return pooled_quantiles(sorted_rows, n_bins)


def _pool(totals: BinTotals) -> BinTotals:
    """Per-label totals (K, B) summed into (B,) totals over all cells; valid when the labels share the edges."""
    return BinTotals(*(a.sum(axis=0) for a in (totals.count, totals.confidence, totals.positives)))


def expected_calibration_error(
    targets: object, probabilities: object, n_bins: int = 15, strategy: Strategy = "uniform"
) -> ECEResult:
    """Multi-label ECE: pooled over all cells, per label, and macro-averaged over labels with positives.

    Args:
        targets: (N, K) 0/1 array or scipy sparse matrix.
        probabilities: (N, K) float probabilities in [0, 1].
        n_bins: bins per histogram (15 as in Guo et al.).
        strategy: "uniform" (equal-width bins on [0, 1]) or "quantile" (equal-count bins: pooled quantiles for
            `overall`, each label's own quantiles for `per_class`).

    Returns:
        ECEResult.

    Example:
        >>> round(expected_calibration_error([[1, 0], [0, 0]], [[0.9, 0.2], [0.3, 0.1]], n_bins=5).overall, 4)
        0.175
    """
    t, p = _checked(targets, probabilities, n_bins, strategy, "expected_calibration_error")
    n, k = t.shape
    rows, positives = sorted_columns(p), _positives(t, p)
    pooled_edges = _pooled_edges(rows, n_bins, strategy)
    pooled_by_label = bin_totals(rows, positives, pooled_edges)
    pooled = _pool(pooled_by_label)
    overall = float(np.abs(pooled.positives - pooled.confidence).sum() / (n * k))
    # uniform bins are the same for every label; quantile bins are each label's own
    per_label = pooled_by_label if strategy == "uniform" else bin_totals(rows, positives, quantile_edges(rows, n_bins))
    # n_b * |acc_b - conf_b| = |positives_b - confidence_b|, so no division by empty bins
    per_class = np.abs(per_label.positives - per_label.confidence).sum(axis=1) / n
    labelled = np.bincount(positives[1], minlength=k) > 0
    if labelled.any():
        macro = float(per_class[labelled].mean())
    else:
        warnings.warn(
            f"expected_calibration_error: none of the {k} labels has a positive, so the macro ECE is NaN",
            UserWarning,
            stacklevel=2,
        )
        macro = float("nan")
    return ECEResult(overall, per_class, macro, int(n_bins), str(strategy))


def reliability_curve(
    targets: object, probabilities: object, n_bins: int = 15, strategy: Strategy = "uniform"
) -> ReliabilityCurve:
    """Per-bin mean confidence, observed frequency and count, over all (image, label) cells pooled.

    For one label's curve pass that column, `(N,)` or `(N, 1)`. Empty bins are left out, as in
    `sklearn.calibration.calibration_curve`, whose `(prob_true, prob_pred)` equal `(frequency, confidence)`.

    Args:
        targets: (N, K) or (N,) 0/1.
        probabilities: (N, K) or (N,) probabilities in [0, 1].
        n_bins: number of bins.
        strategy: "uniform" (equal width) or "quantile" (equal count).

    Returns:
        ReliabilityCurve.
    """
    if not sp.issparse(targets) and np.ndim(targets) == 1 and np.ndim(probabilities) == 1:
        targets, probabilities = np.reshape(targets, (-1, 1)), np.reshape(probabilities, (-1, 1))
    t, p = _checked(targets, probabilities, n_bins, strategy, "reliability_curve")
    rows = sorted_columns(p)
    edges = _pooled_edges(rows, n_bins, strategy)
    pooled = _pool(bin_totals(rows, _positives(t, p), edges))
    index = np.flatnonzero(pooled.count)
    count = pooled.count[index].astype(np.int64)
    return ReliabilityCurve(
        confidence=pooled.confidence[index] / count,
        frequency=pooled.positives[index] / count,
        count=count,
        bin_index=index,
        edges=np.asarray(edges, dtype=np.float64),
    )

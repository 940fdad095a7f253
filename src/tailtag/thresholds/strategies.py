"""Threshold strategies: one global value, per-class F1-optimal with shrinkage, per-class precision / recall
targets, and top-k with a minimum and maximum number of tags per image.

Per-class F1-optimal thresholds overfit labels with few validation positives (the optimum then sits on one or
two scores). Following the empirical-Bayes idea of shrinking noisy per-group estimates toward the pooled one
(e.g. Efron & Morris 1975; applied to per-label thresholds in Pillai, Fumera & Roli, "Threshold optimisation
for multi-label classifiers", Pattern Recognition 46(7), 2013, who show per-label tuning overfits rare labels),
the fitted value is  t_k = w_k * t_k^F1 + (1 - w_k) * t_global  with  w_k = n_pos_k / (n_pos_k + shrinkage),
and t_k = t_global outright when n_pos_k < min_positives.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

from tailtag.thresholds._base import Thresholds
from tailtag.thresholds._global_micro import best_global_micro
from tailtag.thresholds._search import best_f1_per_class, macro_f1_at, target_rate_per_class
from tailtag.validation import check_choice, check_number

Average = Literal["micro", "macro"]


def fit_global(targets: np.ndarray, scores: np.ndarray, average: Average, n_candidates: int = 256) -> float:
    """One threshold for all labels maximising micro-F1 (exact sweep) or macro-F1 (over score quantiles)."""
    if average == "micro":
        return best_global_micro(targets, scores)[0]
    candidates = np.unique(np.quantile(scores, np.linspace(0, 1, n_candidates)))
    return float(candidates[int(np.argmax(macro_f1_at(targets, scores, candidates)))])


class GlobalThreshold(Thresholds):
    """One threshold shared by every label, chosen to maximise micro- or macro-F1 on the fitting data.

    Args:
        average: "micro" (exact sweep over every distinct score) or "macro" (mean F1 over labels with
            positives, searched over `n_candidates` quantiles of the scores).
        n_candidates: grid size for the macro search.
    """

    strategy = "global"

    def __init__(self, average: Average = "micro", n_candidates: int = 256):
        self.average = average
        self.n_candidates = n_candidates

    def _fit(self, targets: np.ndarray, scores: np.ndarray) -> np.ndarray:
        check_choice(self.average, "average", "GlobalThreshold", choices=("micro", "macro"))
        check_number(self.n_candidates, "n_candidates", "GlobalThreshold", low=2)
        value = fit_global(targets, scores, self.average, int(self.n_candidates))
        self.extra_["global_threshold"] = value
        return np.full(targets.shape[1], value)


class FixedThreshold(Thresholds):
    """One given threshold for every label, nothing fitted (e.g. the common 0.5 of sigmoid taggers).

    Args:
        value: the threshold, in [0, 1] for probabilities.
    """

    strategy = "fixed"

    def __init__(self, value: float = 0.5):
        self.value = value

    def _fit(self, targets: np.ndarray, scores: np.ndarray) -> np.ndarray:
        check_number(self.value, "value", "FixedThreshold", low=0.0, high=1.0)
        return np.full(targets.shape[1], float(self.value))


class PerClassF1Threshold(Thresholds):
    """Per-label F1-optimal thresholds shrunk toward the global one (formula in the module docstring).

    Args:
        shrinkage: pseudo-count k in w = n_pos / (n_pos + k); 0 disables shrinkage.
        min_positives: labels with fewer validation positives use the global threshold outright.
        global_average: how the global fallback is fitted ("micro" or "macro" F1).
    """

    strategy = "per_class_f1"

    def __init__(self, shrinkage: float = 10.0, min_positives: int = 5, global_average: Average = "micro"):
        self.shrinkage = shrinkage
        self.min_positives = min_positives
        self.global_average = global_average

    def _fit(self, targets: np.ndarray, scores: np.ndarray) -> np.ndarray:
        check_number(self.shrinkage, "shrinkage", "PerClassF1Threshold", low=0)
        check_number(self.min_positives, "min_positives", "PerClassF1Threshold", low=0)
        check_choice(self.global_average, "global_average", "PerClassF1Threshold", choices=("micro", "macro"))
        global_t = fit_global(targets, scores, self.global_average)
        best, _ = best_f1_per_class(targets, scores)
        n_pos = targets.sum(axis=0).astype(np.int64)
        weight = n_pos / np.maximum(n_pos + self.shrinkage, 1e-12)
        fallback = n_pos < max(self.min_positives, 1)
        out = np.where(fallback, global_t, weight * best + (1 - weight) * global_t)
        _warn_fallback(fallback, f"fewer than min_positives={self.min_positives} positives", global_t)
        self.extra_.update(global_threshold=global_t, n_positives=n_pos, fallback=fallback, unshrunk=best)
        return out


class _TargetRateThreshold(Thresholds):
    metric: str = ""

    def __init__(self, target: float = 0.9, min_positives: int = 5, global_average: Average = "micro"):
        self.target = target
        self.min_positives = min_positives
        self.global_average = global_average

    def _fit(self, targets: np.ndarray, scores: np.ndarray) -> np.ndarray:
        owner = type(self).__name__
        check_number(self.target, "target", owner, low=0.0, high=1.0)
        check_number(self.min_positives, "min_positives", owner, low=0)
        check_choice(self.global_average, "global_average", owner, choices=("micro", "macro"))
        global_t = fit_global(targets, scores, self.global_average)
        found, reached = target_rate_per_class(targets, scores, self.metric, float(self.target))
        n_pos = targets.sum(axis=0).astype(np.int64)
        fallback = (n_pos < max(self.min_positives, 1)) | ~reached
        _warn_fallback(
            fallback,
            f"fewer than min_positives={self.min_positives} positives or {self.metric} {self.target} unreachable",
            global_t,
        )
        self.extra_.update(global_threshold=global_t, n_positives=n_pos, fallback=fallback, reached=reached)
        return np.where(fallback, global_t, found)


class PrecisionTargetThreshold(_TargetRateThreshold):
    """Per label, the lowest threshold whose precision on the fitting data is >= `target` (most recall).

    Labels where no threshold reaches the target, or with fewer than `min_positives` positives, use the
    global F1-optimal threshold (listed in `extra_["fallback"]`, with a warning giving the count).
    """

    strategy = "precision"
    metric = "precision"


class RecallTargetThreshold(_TargetRateThreshold):
    """Per label, the highest threshold whose recall on the fitting data is >= `target` (most precision).

    Same fallback as `PrecisionTargetThreshold`.
    """

    strategy = "recall"
    metric = "recall"


def _warn_fallback(fallback: np.ndarray, why: str, global_t: float) -> None:
    if fallback.any():
        warnings.warn(
            f"{int(fallback.sum())} of {fallback.size} labels have {why}; they use the global threshold {global_t:.4g}",
            stacklevel=4,
        )

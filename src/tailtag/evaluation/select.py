"""Choosing the decision rule on the validation split by cross-fitting, instead of assuming one.

Per-label F1-optimal thresholds help rare labels on large validation sets and overfit on small ones; a
single 0.5 is hard to beat when the classifier is already well calibrated. "auto" scores a few candidate
rules (calibration + threshold strategy, `tailtag.thresholds.policy.CANDIDATES`) by the macro-F1 of their
out-of-fold decisions on the validation split (`cross_fit.fold_decisions`) and keeps the best; a near tie goes
to the simpler rule, earlier in `CANDIDATES`. This is cross-validated model selection of the decision rule
(as in Fan & Lin 2007 for thresholds); the selection itself adds a small optimism when the same split is
later reported, which `tailtag evaluate` states.
"""

from __future__ import annotations

import numpy as np

from tailtag.evaluation.cross_fit import fold_decisions
from tailtag.labels.table import Task
from tailtag.metrics.per_class import f1_from_counts
from tailtag.thresholds.policy import CANDIDATES

TIE = 0.002  # macro-F1 differences below this are noise on typical validation sets


def cross_fitted_macro_f1(
    targets: np.ndarray, raw: np.ndarray, fit: dict, n_folds: int = 5, task: Task = "multilabel"
) -> float:
    """Macro-F1 (labels with positives) of the out-of-fold decisions of the rule `fit`.

    The same value as `f1_scores` of `cross_fitted`'s decisions, from per-label counts summed over the folds:
    no (N, K) decision matrix (20 MB at 2,000 x 10,000) is held.
    """
    k = targets.shape[1]
    true_positives, n_predicted = np.zeros(k, dtype=np.int64), np.zeros(k, dtype=np.int64)
    for held, decision in fold_decisions(targets, raw, fit, n_folds=n_folds, task=task):
        predicted = decision.predict(raw[held])
        true_positives += np.logical_and(targets[held], predicted).sum(axis=0, dtype=np.int64)
        n_predicted += predicted.sum(axis=0, dtype=np.int64)
        del decision, predicted
    support = targets.sum(axis=0, dtype=np.int64)
    labelled = support > 0
    f1 = f1_from_counts(true_positives, support, n_predicted)
    return float(f1[labelled].mean()) if labelled.any() else 0.0


def select_rule(
    targets: np.ndarray, raw: np.ndarray, n_folds: int = 5, task: Task = "multilabel"
) -> tuple[dict, dict[str, float]]:
    """(the fit_decision arguments of the best candidate, candidate name -> cross-fitted macro-F1)."""
    scores = {name: cross_fitted_macro_f1(targets, raw, fit, n_folds, task) for name, fit in CANDIDATES.items()}
    best = max(scores.values())
    chosen = next(name for name, score in scores.items() if score >= best - TIE)
    return dict(CANDIDATES[chosen]), scores

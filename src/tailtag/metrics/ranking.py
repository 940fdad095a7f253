"""Ranking metrics of multi-label scores: one-error, coverage, ranking loss (lower is better for all three).

Definitions follow Zhang & Zhou, "A review on multi-label learning algorithms", IEEE TKDE 26(8), 2014, Sec. 2.2.
Coverage and ranking loss come from scikit-learn (`coverage_error`, `label_ranking_loss`); one-error is written
here because scikit-learn lacks it.

Policy for images without any positive label: they are left out of one-error (its top label cannot be
relevant) and count 0 in scikit-learn's coverage and ranking loss (its convention); images whose labels are all
positive count 0 in ranking loss. `coverage` is scikit-learn's 1-based value (average depth to reach every
positive); Zhang & Zhou's coverage is this minus 1.
"""

from __future__ import annotations

import numpy as np


def one_error(targets: np.ndarray, scores: np.ndarray) -> float:
    """Fraction of images whose top-scored label is not a positive.

    Args:
        targets: (N, K) 0/1; images with no positive are skipped.
        scores: (N, K) scores; ties at the top count as an error only if every tied label is negative
            (the image gets the benefit of the doubt, as when any tied label could be ranked first).

    Returns:
        float in [0, 1]; NaN when no image has a positive.
    """
    has_pos = targets.any(axis=1)
    if not has_pos.any():
        return float("nan")
    t, s = targets[has_pos], scores[has_pos]
    top = s == s.max(axis=1, keepdims=True)
    return float(np.mean(~(top & (t > 0)).any(axis=1)))


def ranking_metrics(targets: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """one_error, coverage and ranking_loss of (N, K) targets and scores as plain floats (see module policy)."""
    if targets.shape[0] == 0 or targets.shape[1] == 0:
        return {"one_error": float("nan"), "coverage": float("nan"), "ranking_loss": float("nan")}
    if targets.shape[1] == 1:  # scikit-learn refuses one column ("binary format"); the values are trivial
        has_pos = targets[:, 0] > 0
        return {"one_error": one_error(targets, scores), "coverage": float(has_pos.mean()), "ranking_loss": 0.0}
    # imported when called: `import sklearn.metrics` costs a process about 80 MB (pandas, scipy.stats), which
    # training, whose metrics never rank, need not carry (`tailtag.metrics.multilabel`)
    from sklearn.metrics import coverage_error, label_ranking_loss

    return {
        "one_error": one_error(targets, scores),
        "coverage": float(coverage_error(targets, scores)),
        "ranking_loss": float(label_ranking_loss(targets, scores)),
    }

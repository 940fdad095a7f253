"""Sanity baselines scored on the same evaluation data as the model, so "better than nothing" is checked.

- prior: every image gets the training frequency of each label as its probability. Its decisions are the best
  a constant can do for F1: tag every image with every label seen in training (per label, F1 = 2p / (1 + p)
  beats the 0 of never tagging it); under a top-k strategy (and for multi-class runs), the k most frequent
  labels for every image.
- all_negative: no tags at all. Label-wise accuracy rewards it on sparse labels, which is why it is shown.
"""

from __future__ import annotations

import warnings

import numpy as np

from tailtag.metrics import summary_metrics
from tailtag.thresholds import create_thresholds

HEADLINE_KEYS = ("macro_f1", "micro_f1", "mAP", "label_accuracy", "hamming_loss", "subset_accuracy")


def headline(metrics: dict) -> dict[str, float | None]:
    """The six keys every comparison row reports (None for undefined values)."""
    out = {}
    for key in HEADLINE_KEYS:
        value = metrics.get(key)
        out[key] = None if value is None or not np.isfinite(value) else float(value)
    return out


def baseline_metrics(
    targets: np.ndarray,
    train_prior: np.ndarray,
    *,
    strategy: str,
    strategy_params: dict | None = None,
    fit_targets: np.ndarray | None = None,
) -> dict[str, dict]:
    """{"prior": headline, "all_negative": headline} on (N, K) `targets`.

    Args:
        train_prior: (K,) training frequency of each label.
        strategy: the model's threshold strategy ("top_k" is refitted on the prior's constant scores).
        fit_targets: (M, K) targets to fit a top-k prior on (the validation split); default `targets`.
    """
    n, k = targets.shape
    prior = np.clip(np.asarray(train_prior, dtype=np.float64), 0.0, 1.0)
    prior_scores = np.broadcast_to(prior, (n, k)).copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if strategy == "top_k":
            fit_on = targets if fit_targets is None else fit_targets
            thresholds = create_thresholds(strategy, **(strategy_params or {}))
            thresholds.fit(fit_on, np.broadcast_to(prior, fit_on.shape).copy())
            prior_decisions = thresholds.predict(prior_scores)
        else:
            prior_decisions = np.broadcast_to(prior > 0, (n, k)).astype(np.int8)
        zeros = np.zeros((n, k))
        out = {
            "prior": headline(summary_metrics(targets, prior_scores, prior_decisions)[0]),
            "all_negative": headline(summary_metrics(targets, zeros, zeros.astype(np.int8))[0]),
        }
    return out

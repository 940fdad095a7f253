"""Collapse guard: notice predictions that no longer depend on the image.

The classic symptom (e.g. weighted BCE with huge positive weights, a too-high learning rate, or a dead
backbone) is a network whose sigmoid outputs sit at ~0.5, at ~0, or are the same vector for every image.
Metrics such as label-wise accuracy can still look fine, so this is checked after every validation.
"""

from __future__ import annotations

import numpy as np


def collapse_warnings(probabilities: np.ndarray, *, tolerance: float = 1e-3) -> list[str]:
    """Warnings (empty when healthy) for (N, K) validation probabilities in [0, 1].

    Checks, each with its likely causes:
      - all outputs within 0.05 of 0.5: logits stuck near zero;
      - all outputs below 0.01: every label predicted absent (all-negative collapse);
      - outputs identical across images (per-label std below `tolerance`): the model ignores its input.
    """
    probabilities = np.asarray(probabilities)
    if probabilities.size == 0 or probabilities.shape[0] < 2:
        return []
    found = []
    # min / max and column blocks instead of whole-matrix temporaries: at 2,000 x 10,000 each float64 copy
    # of the validation probabilities is 160 MB
    low, high = float(probabilities.min()), float(probabilities.max())
    if low > 0.45 and high < 0.55:
        found.append(
            "predictions collapsed to ~0.5 for every image and label (logits stuck at 0): likely causes are "
            "a learning rate too high or too low, positive/negative weights that cancel out (weighted BCE with "
            "w1 = N/pos and w0 = N/neg makes the constant 0.5 a cheap optimum), or a frozen/dead backbone"
        )
    elif high < 0.01:
        found.append(
            "predictions collapsed to ~0 for every image and label: the all-negative solution; likely causes "
            "are rare labels with no positive weighting (try loss=bce_pos_weight, asl or focal, or a sampler)"
        )
    elif np.all(_column_spread(probabilities) < tolerance):
        found.append(
            f"predictions are identical for every image (per-label std < {tolerance:g}): the model ignores its "
            "input; likely causes are a learning rate too high (diverged), inputs not normalised, or features "
            "that are all the same (check the images and the backbone weights)"
        )
    return found


def _column_spread(probabilities: np.ndarray, block: int = 1024) -> np.ndarray:
    """(K,) float64 standard deviation of each column, computed over blocks of columns."""
    k = probabilities.shape[1]
    return np.concatenate(
        [np.asarray(probabilities[:, j : j + block], dtype=np.float64).std(axis=0) for j in range(0, k, block)]
    )

"""Per-class weights computed from training label counts (numpy only, no torch).

Every function takes `class_counts`, a (K,) array with the number of training images that carry each
label, and (for the binary schemes) `n_samples`, the number of training images N. A label with no
positive (or, for the negative side, no negative) image is legal but degenerate: its count is treated as 1,
with a warning that gives the numbers, rather than producing an infinite weight.

References:
    Cui, Jia, Lin, Song, Belongie. "Class-Balanced Loss Based on Effective Number of Samples". CVPR 2019,
    arXiv:1901.05555 (`effective_number`, `class_balanced_weights`).
    Jia, Huang, Chen, Huang. "Rethinking of Pedestrian Attribute Recognition: A Reliable Evaluation under
    Zero-Shot Pedestrian Identity Setting". 2021, arXiv:2107.03576; the `weight_ratio` recipe of PaddleClas
    `ppcls/loss/multilabelloss.py` (`binary_weights(mode="ratio2weight")`).
    The MIML seed recipe (PaddleClas multi-label scene classification) sets BCE's pos_weight to
    N / (2.1 x positives) (`binary_weights(mode="paddle")`).
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

from tailtag.errors import OptionError
from tailtag.validation import check_choice

PosWeightMode = Literal["neg_pos", "sqrt", "paddle", "ratio2weight"]
POS_WEIGHT_MODES: tuple[str, ...] = ("neg_pos", "sqrt", "paddle", "ratio2weight")
PADDLE_DIVISOR = 2.1  # the seed recipe's constant: pos_weight = N / (2.1 x positives)


def check_counts(class_counts: np.ndarray, n_samples: int | None = None) -> np.ndarray:
    """`class_counts` as a (K,) float64 array, after checking it against `n_samples`.

    Raises:
        OptionError: counts that are not a non-empty 1-D array of finite numbers >= 0, an `n_samples` that is
            not a positive integer, or a count larger than `n_samples`.
    """
    counts = np.asarray(class_counts)
    if counts.ndim != 1 or counts.size == 0 or counts.dtype.kind not in "biuf":
        raise OptionError(
            f"class_counts must be a non-empty 1-D array of numbers (one count per label); "
            f"got shape {counts.shape} and dtype {counts.dtype}"
        )
    counts = counts.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(counts) | (counts < 0))
    if bad.size:
        raise OptionError(f"class_counts must be finite and >= 0; labels {bad[:10].tolist()} have {counts[bad[:10]]}")
    if n_samples is None:
        return counts
    if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer) or n_samples <= 0:
        raise OptionError(f"n_samples must be a positive integer (training images); got {n_samples!r}")
    over = np.flatnonzero(counts > n_samples)
    if over.size:
        raise OptionError(
            f"class_counts exceed n_samples={n_samples} for labels {over[:10].tolist()} "
            f"(counts {counts[over[:10]].tolist()}); count positives over the same training images"
        )
    return counts


def _at_least_one(counts: np.ndarray, what: str) -> np.ndarray:
    """`counts` with zeros raised to 1, warning with the labels concerned."""
    empty = np.flatnonzero(counts < 1)
    if empty.size:
        warnings.warn(
            f"{empty.size} of {counts.size} labels have no {what} training image (labels {empty[:10].tolist()}"
            f"{' ...' if empty.size > 10 else ''}); their weight is computed as if they had 1",
            stacklevel=3,
        )
        counts = np.maximum(counts, 1.0)
    return counts


def binary_weights(
    class_counts: np.ndarray, n_samples: int, mode: PosWeightMode = "neg_pos"
) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative weights (w_pos, w_neg), each (K,) float64, for a per-label sigmoid loss.

    With n_k positives and N - n_k negatives for label k:

    - "neg_pos": w_pos = (N - n_k) / n_k, w_neg = 1. The loss acts as if positives and negatives were
      equally many (the `pos_weight` of `torch.nn.BCEWithLogitsLoss`).
    - "sqrt": w_pos = sqrt((N - n_k) / n_k), w_neg = 1; a softer version for very rare labels.
    - "paddle": w_pos = N / (2.1 n_k), w_neg = 1: the MIML seed recipe (PaddleClas multi-label scene
      classification). On a label with about half positives this is ~1; on rare labels ~N / (2 n_k).
    - "ratio2weight": with r_k = n_k / N, w_pos = exp(1 - r_k) and w_neg = exp(r_k) (PaddleClas
      `weight_ratio`, Jia et al. 2021). Bounded in [1, e], so it never explodes for rare labels.
    """
    counts = check_counts(class_counts, n_samples)
    check_choice(mode, "mode", choices=POS_WEIGHT_MODES)
    if mode == "ratio2weight":
        ratio = counts / n_samples
        return np.exp(1.0 - ratio), np.exp(ratio)
    positives = _at_least_one(counts, "positive")
    if mode == "paddle":
        w_pos = n_samples / (PADDLE_DIVISOR * positives)
        return w_pos, np.ones_like(w_pos)
    negatives = _at_least_one(n_samples - counts, "negative")
    ratio = negatives / positives
    if mode == "neg_pos":
        return ratio, np.ones_like(ratio)
    return np.sqrt(ratio), np.ones_like(ratio)  # mode == "sqrt"


def balanced_binary_weights(
    class_counts: np.ndarray, n_samples: int, normalize: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Per-label (w_pos, w_neg), each (K,): w_pos = N / n_k, w_neg = N / (N - n_k).

    Each side of each label then carries the same total weight N over the training set. With
    `normalize=True` both are halved (scikit-learn's `class_weight="balanced"` for two classes), so the
    average weight over the N training elements of a label is exactly 1 and the loss keeps the scale of
    plain BCE.
    """
    counts = check_counts(class_counts, n_samples)
    positives = _at_least_one(counts, "positive")
    negatives = _at_least_one(n_samples - counts, "negative")
    scale = 0.5 if normalize else 1.0
    return scale * n_samples / positives, scale * n_samples / negatives


def effective_number(class_counts: np.ndarray, beta: float) -> np.ndarray:
    """(K,) effective number of samples E_n = (1 - beta^n) / (1 - beta) (Cui et al. 2019, eq. 2).

    E_n grows like n for small n and saturates at 1 / (1 - beta): with beta = 0.999 a label with 10,000
    images is worth about 1,000 distinct ones. beta = 0 gives 1 for every label with n >= 1.
    """
    counts = check_counts(class_counts)
    if not 0.0 <= beta < 1.0:
        raise OptionError(f"parameter 'beta' must be a number in [0, 1); got {beta!r}")
    return (1.0 - np.power(beta, counts)) / (1.0 - beta)


def class_balanced_weights(class_counts: np.ndarray, beta: float = 0.999) -> np.ndarray:
    """(K,) class-balanced weights w_k = (1 - beta) / (1 - beta^n_k), normalised so that sum_k w_k = K.

    beta = 0 gives all ones (no re-weighting); beta -> 1 tends to inverse frequency. The paper searches
    beta in {0.9, 0.99, 0.999, 0.9999}; 0.999 and 0.9999 work best on long-tailed CIFAR and iNaturalist.
    """
    counts = _at_least_one(check_counts(class_counts), "positive")
    weights = 1.0 / effective_number(counts, beta)
    return weights * (counts.size / weights.sum())


def inverse_frequency_weights(class_counts: np.ndarray, power: float = 1.0) -> np.ndarray:
    """(K,) weights w_k proportional to n_k^-power, normalised so that sum_k w_k = K.

    power = 1 is inverse frequency, 0.5 the softer inverse square root, 0 no weighting.
    """
    counts = _at_least_one(check_counts(class_counts), "positive")
    weights = counts ** (-float(power))
    return weights * (counts.size / weights.sum())


def class_priors(class_counts: np.ndarray) -> np.ndarray:
    """(K,) class priors pi_k = n_k / sum_j n_j (a label with no image counts as 1, with a warning)."""
    counts = _at_least_one(check_counts(class_counts), "positive")
    return counts / counts.sum()


def prior_log_odds(class_counts: np.ndarray, n_samples: int) -> np.ndarray:
    """(K,) log(n_k / (N - n_k)), the logit of each label's training prior p_k = n_k / N.

    A label with no positive, or with no negative, image counts as having 1 (with a warning), so the
    log-odds stay finite. Used to initialise output biases and by the distribution-balanced loss.
    """
    counts = check_counts(class_counts, n_samples)
    positives = _at_least_one(counts, "positive")
    negatives = _at_least_one(n_samples - counts, "negative")
    return np.log(positives / negatives)

"""Validation of the (N, K) target and score arrays that thresholds and metrics take (torch-free leaf module).

Targets may be a dense array or a scipy sparse matrix (the `LabelTable.matrix` CSR); they are densified here
because every consumer needs column-wise sorts. Messages name the argument, the expected shape and what came.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tailtag.errors import TailtagError


def as_targets_scores(targets: object, scores: object, *, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Check and convert a (targets, scores) pair.

    Args:
        targets: (N, K) 0/1 array or scipy sparse matrix.
        scores: (N, K) real scores (probabilities or logits; only their order and the thresholds matter).
        where: the calling function, for the messages.

    Returns:
        targets as (N, K) int8, scores as (N, K) float64.

    Raises:
        TailtagError: wrong dimensions, mismatched shapes, non-binary targets or non-finite scores.
    """
    t = targets.toarray() if sp.issparse(targets) else np.asarray(targets)
    s = np.asarray(scores, dtype=np.float64)
    if t.ndim != 2 or s.ndim != 2:
        raise TailtagError(
            f"{where}: targets and scores must be 2-D (N, K) arrays, got targets.shape={t.shape} and "
            f"scores.shape={s.shape}; fix: pass one row per image and one column per label"
        )
    if t.shape != s.shape:
        raise TailtagError(
            f"{where}: targets.shape={t.shape} does not match scores.shape={s.shape}; fix: score the same images "
            "and labels, in the same order, as the targets"
        )
    # min/max first: np.isin over 8,000 x 6,941 cells costs about a second, the range check milliseconds
    bad = None if t.size == 0 or (t.min() >= 0 and t.max() <= 1 and _integral(t)) else ~np.isin(t, (0, 1))
    if bad is not None and bad.any():
        row, col = np.argwhere(bad)[0]
        raise TailtagError(
            f"{where}: targets must be 0/1, got {t[row, col].item()!r} at row {row}, column {col} "
            f"({int(bad.sum())} bad cells); fix: binarise the targets (multi-hot)"
        )
    if not np.isfinite(s).all():
        row, col = np.argwhere(~np.isfinite(s))[0]
        raise TailtagError(
            f"{where}: scores must be finite, got {s[row, col]} at row {row}, column {col}; fix: check the model "
            "output for NaN/inf (diverged training?)"
        )
    # 0/1 uint8 targets (LabelTable's) are the same bytes as int8: a view, not a copy (20 MB at 2,000 x 10,000)
    return (t.view(np.int8) if t.dtype == np.uint8 else t.astype(np.int8)), s


def as_scores(scores: object, *, n_labels: int | None, where: str) -> np.ndarray:
    """Check (N, K) scores alone (for `predict`); `n_labels` is the K the object was fitted on."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or (n_labels is not None and s.shape[1] != n_labels):
        raise TailtagError(
            f"{where}: scores must have shape (N, {n_labels}), got {s.shape}; fix: score the same labels, "
            "in the same order, as the data the thresholds were fitted on"
        )
    if not np.isfinite(s).all():
        raise TailtagError(f"{where}: scores contain NaN or inf; fix: check the model output")
    return s


def _integral(t: np.ndarray) -> bool:
    """True when every value of `t` (already within [0, 1]) is 0 or 1: always for integer and bool arrays."""
    return t.dtype.kind in "biu" or bool(np.all((t == 0) | (t == 1)))

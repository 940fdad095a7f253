"""One temperature shared by all classes of a softmax classifier (Guo et al., "On Calibration of Modern Neural
Networks", ICML 2017, section 4.2): p' = softmax(log p / T), fitted by minimising the multi-class NLL.

Our runs store probabilities, not logits; log p equals the logits up to a per-row constant, which softmax
ignores, so scaling log p by 1 / T is exactly temperature scaling of the logits. That holds only if log p is
not clipped: a floor like 1e-7 would move every class below it (often most of them with many classes) and
change both the fitted T and the scaled probabilities. So log p is floored only at float64's smallest normal
number, where a probability of exactly 0 (an underflowed softmax) has to be given some finite log.
"""

from __future__ import annotations

import numpy as np

from tailtag.calibration._solvers import safeguarded_newton
from tailtag.errors import TailtagError

_LOG_FLOOR = float(np.finfo(np.float64).tiny)  # 2.2e-308: log = -708.4, finite, below any float32 probability
_ROW_SUM_TOLERANCE = 1e-3  # float32 softmax outputs sum to 1 within ~1e-6; sigmoid outputs are far off


def check_softmax_rows(probabilities: np.ndarray, where: str) -> None:
    """TailtagError unless every row sums to 1 (softmax outputs), naming the first row that does not."""
    sums = probabilities.sum(axis=1)
    bad = np.abs(sums - 1.0) > _ROW_SUM_TOLERANCE
    if bad.any():
        row = int(np.argmax(bad))
        raise TailtagError(
            f"{where}: task='multiclass' needs softmax probabilities whose rows sum to 1, but row {row} sums to "
            f"{sums[row]:.4g} ({int(bad.sum())} such rows); fix: pass softmax outputs, or use task='multilabel' "
            "for independent sigmoid outputs"
        )


def _log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """(N, K) float64 log p, p floored at `_LOG_FLOOR` (module docstring)."""
    return np.log(np.maximum(np.asarray(probabilities, dtype=np.float64), _LOG_FLOOR))


def _softmax(scaled: np.ndarray) -> np.ndarray:
    shifted = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def fit_multiclass_temperature(
    targets: np.ndarray, probabilities: np.ndarray, bounds: tuple[float, float], tol: float, max_iter: int, where: str
) -> float:
    """The T in `bounds` minimising sum_i -log softmax(log p_i / T)[y_i].

    Args:
        targets: (N, K) one-hot int8, exactly one 1 per row.
        probabilities: (N, K) softmax outputs.

    Returns:
        the temperature.
    """
    per_row = targets.sum(axis=1)
    if (per_row != 1).any():
        row = int(np.argmax(per_row != 1))
        raise TailtagError(
            f"{where}: task='multiclass' needs exactly one positive per row, but row {row} has {int(per_row[row])} "
            f"({int((per_row != 1).sum())} such rows); fix: use task='multilabel' for multi-label data"
        )
    check_softmax_rows(probabilities, where)
    log_p = _log_probabilities(probabilities)
    true_log_p = log_p[np.arange(len(log_p)), targets.argmax(axis=1)]

    def grad_hess(beta: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # d/dbeta of logsumexp(beta l) is E_q[l], and its second derivative Var_q[l], with q = softmax(beta l)
        q = _softmax(beta[0] * log_p)
        mean = (q * log_p).sum(axis=1)
        # centred: with log p down to -708, E[l^2] - E[l]^2 would cancel catastrophically
        variance = (q * np.square(log_p - mean[:, None])).sum(axis=1)
        return np.array([(mean - true_log_p).sum()]), np.array([variance.sum()])

    lo, hi = np.array([1.0 / bounds[1]]), np.array([1.0 / bounds[0]])
    beta, _, _ = safeguarded_newton(grad_hess, np.clip([1.0], lo, hi), lo, hi, tol=tol, max_iter=max_iter)
    return float(1.0 / np.clip(beta[0], lo[0], hi[0]))


def apply_multiclass_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """(N, K) float64 softmax(log p / T), log p as in `_log_probabilities`; each row keeps its class order."""
    return _softmax(_log_probabilities(probabilities) / temperature)

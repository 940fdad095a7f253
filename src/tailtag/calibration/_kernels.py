"""Column-wise passes over (N, K) logits that the vectorised solvers need, and the logistic map itself.

At 8,000 x 6,941 a pass touches 55 M cells, so the fitting passes run in float32 over row blocks that stay in
cache, with every block's column sums accumulated in float64 (a float32 sum over 8,000 rows would drift by
~1e-4 relative). Sigmoids come from tanh, which numpy vectorises well: with t = tanh(u / 2),
s = sigmoid(u) = (1 + t) / 2 and s (1 - s) = (1 - t^2) / 4, so one transcendental per cell gives the
gradient and the Hessian. The fitted map is applied in float64.

Precision: float32 resolves s near 0 or 1 only to ~3e-8, which bounds how exactly the optimum is found. On
the 8,000 x 6,941 benchmark, T agrees with a float64 optimiser to 5e-6 (median) and 8e-4 (worst, a label with
2 positives and a nearly flat loss, whose NLL is then 6e-6 above the optimum): far below the statistical
uncertainty of T for such a label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from tailtag.calibration._base import EPS

_BLOCK_CELLS = 1 << 18  # float32 cells per row block: 1 MiB, so a block and its two buffers stay in L2
_BLOCK_ROWS = 256  # numpy sums a column block row by row; 256 float32 terms keep its error near 1e-5 relative


def _block_rows(n_cols: int, cells: int = _BLOCK_CELLS) -> int:
    return max(1, min(_BLOCK_ROWS, cells // max(n_cols, 1)))


def _row_blocks(n_rows: int, n_cols: int, cells: int = _BLOCK_CELLS) -> Iterator[slice]:
    step = _block_rows(n_cols, cells)
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def logits32(probabilities: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
    """(N, M) float32 logits of the probabilities (N, K) clipped to [EPS, 1 - EPS], computed in float64 row
    blocks; `columns` (M,) selects labels (default: all), gathered block by block to avoid an (N, M) copy."""
    n = probabilities.shape[0]
    k = probabilities.shape[1] if columns is None else len(columns)
    out = np.empty((n, k), dtype=np.float32)
    for rows in _row_blocks(n, k, _BLOCK_CELLS // 2):
        block = probabilities[rows] if columns is None else probabilities[rows][:, columns]
        block = np.clip(np.asarray(block, dtype=np.float64), EPS, 1.0 - EPS)
        np.divide(block, 1.0 - block, out=block)
        np.log(block, out=block)
        out[rows] = block
    return out


def logistic_map(probabilities: np.ndarray, slope: np.ndarray, intercept: np.ndarray | None) -> np.ndarray:
    """(N, K) float64 sigmoid(slope_k * logit(p) + intercept_k); slope (K,) > 0 keeps each label's order.

    The logit is exact, log(p) - log1p(-p) in float64 with no clipping (0 and 1 map to -inf and +inf, and
    from there to 0 and 1): clipping to [EPS, 1 - EPS] as the fit does would merge every score below EPS into
    one tie and change AP and ROC-AUC.
    """
    n, k = probabilities.shape
    out = np.empty((n, k), dtype=np.float64)
    neg_slope = -np.asarray(slope, dtype=np.float64)
    neg_intercept = None if intercept is None else -np.asarray(intercept, dtype=np.float64)
    for rows in _row_blocks(n, k, _BLOCK_CELLS // 2):
        p = np.asarray(probabilities[rows], dtype=np.float64)
        with np.errstate(divide="ignore"):
            block = np.log(p)
            block -= np.log1p(-p)
        block *= neg_slope
        if neg_intercept is not None:
            block += neg_intercept
        # exp overflows to inf for very negative scaled logits (p ~ 0 or a steep slope); 1 / (1 + inf) = 0 is
        # the right limit
        with np.errstate(over="ignore"):
            np.exp(block, out=block)
        block += 1.0
        np.reciprocal(block, out=out[rows])
    return out


def temperature_sums(z: np.ndarray, half_beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column sums for u = beta * z: (sum t z, sum (1 - t^2) z^2) with t = tanh(u / 2); (W,) float64 each.

    Args:
        z: (N, W) float32 logits.
        half_beta: (W,) float32, beta / 2 per column.
    """
    n, w = z.shape
    sum_tz, sum_vzz = np.zeros(w), np.zeros(w)
    buf = np.empty((min(n, _block_rows(w)), w), dtype=np.float32)
    for rows in _row_blocks(n, w):
        zb, t = z[rows], buf[: rows.stop - rows.start]
        np.multiply(zb, half_beta, out=t)
        np.tanh(t, out=t)
        sum_tz += np.einsum("ij,ij->j", t, zb)
        np.multiply(t, t, out=t)
        np.subtract(1.0, t, out=t)
        t *= zb
        sum_vzz += np.einsum("ij,ij->j", t, zb)
    return sum_tz, sum_vzz


def platt_sums(z: np.ndarray, half_a: np.ndarray, half_b: np.ndarray) -> tuple[np.ndarray, ...]:
    """Column sums for u = a z + b, with t = tanh(u / 2) and v = 1 - t^2; (W,) float64 each.

    Returns:
        (sum t, sum t z, sum v, sum v z, sum v z^2, sum max(u, 0), sum log1p(|t|)); the last two give the loss
        through softplus(u) = max(u, 0) - log((1 + |t|) / 2), which is accurate for either sign of u.
    """
    n, w = z.shape
    sums = [np.zeros(w) for _ in range(7)]
    shape = (min(n, _block_rows(w)), w)
    buf, aux = np.empty(shape, dtype=np.float32), np.empty(shape, dtype=np.float32)
    for rows in _row_blocks(n, w):
        zb, t, v = z[rows], buf[: rows.stop - rows.start], aux[: rows.stop - rows.start]
        np.multiply(zb, half_a, out=t)
        t += half_b
        np.abs(t, out=v)
        v += t  # 2 max(x, 0) per cell: summing x and |x| separately would cancel for rare labels (x << 0)
        sums[5] += v.sum(axis=0)
        np.tanh(t, out=t)
        sums[0] += t.sum(axis=0)
        sums[1] += np.einsum("ij,ij->j", t, zb)
        np.abs(t, out=v)
        np.log1p(v, out=v)
        sums[6] += v.sum(axis=0)
        np.multiply(t, t, out=v)
        np.subtract(1.0, v, out=v)
        sums[2] += v.sum(axis=0)
        sums[3] += np.einsum("ij,ij->j", v, zb)
        v *= zb
        sums[4] += np.einsum("ij,ij->j", v, zb)
    return tuple(sums)


class LogitColumns:
    """The fitting data's (N, K) float32 logits, compacted to the columns still being solved.

    Solvers drop labels as they converge; once at most half of the stored columns are still wanted, the
    array is copied down to those, so late iterations on a few stubborn labels cost little.
    """

    def __init__(self, z: np.ndarray):
        self.full = z
        self.z = z
        self.columns = np.arange(z.shape[1])

    def sums(
        self, kernel: Callable[..., tuple[np.ndarray, ...]], columns: np.ndarray, *params: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """Run `kernel(z_work, *params_work)` for the (sorted) original `columns`; each param is (len(columns),)."""
        positions = np.searchsorted(self.columns, columns)
        if len(columns) and (positions[-1] >= len(self.columns) or (self.columns[positions] != columns).any()):
            # asked for columns dropped by an earlier compaction (a later solver phase): start from the full array
            self.z, self.columns = self.full, np.arange(self.full.shape[1])
            positions = columns
        if len(columns) <= len(self.columns) // 2:
            self.z = np.ascontiguousarray(self.z[:, positions])
            self.columns = np.array(columns, copy=True)
            positions = np.arange(len(columns))
        width = len(self.columns)
        full = []
        for values in params:
            # columns not asked for still get computed (cheaper than a gather per pass); 0 keeps them finite
            padded = np.zeros(width, dtype=np.float32)
            padded[positions] = values
            full.append(padded)
        return tuple(s[positions] for s in kernel(self.z, *full))

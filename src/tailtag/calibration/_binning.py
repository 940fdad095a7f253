"""Per-label histograms of probabilities, the raw material of ECE and reliability diagrams.

For each label k and bin b: the number of cells, the sum of their probabilities (confidence) and the number
of positives. Bins are right-closed, (e_b, e_b+1], with every value <= e_1 in bin 0 and every value > e_B-1 in
the last bin: the convention of Guo et al. 2017 and of scikit-learn's `calibration_curve`
(`np.searchsorted(edges[1:-1], p)`).

Binning 55 M cells with `np.bincount` costs about a second (an int64 (label, bin) key per cell, then a
weighted count), so each label's probabilities are sorted once instead: a bin is then a contiguous run, found by a
binary search run for all labels at once, and its sum is one `np.add.reduceat` over the sorted rows.
Positives are sparse in multi-label data, so they are binned directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_POSITIVE_CHUNK = 1 << 20  # positives compared against their label's edges per chunk, to bound memory
_TRANSPOSE_ROWS = 256
_DIRECT_QUANTILE_CELLS = 1 << 22  # below this many values np.quantile is fast enough
_SAMPLE_STRIDE = 32


@dataclass(frozen=True)
class BinTotals:
    """Per-label, per-bin totals; every array is (K, B)."""

    count: np.ndarray
    confidence: np.ndarray
    positives: np.ndarray


def sorted_columns(probabilities: np.ndarray) -> np.ndarray:
    """(K, N) float64: each label's N probabilities in ascending order (a copy; rows contiguous)."""
    n = probabilities.shape[0]
    rows = np.empty(probabilities.shape[::-1], dtype=np.float64)
    # transposing 256-row slabs keeps reads and writes in cache: twice as fast as one np.array(p.T, order="C")
    for start in range(0, n, _TRANSPOSE_ROWS):
        rows[:, start : start + _TRANSPOSE_ROWS] = probabilities[start : start + _TRANSPOSE_ROWS].T
    rows.sort(axis=1)
    return rows


def count_at_most(sorted_rows: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(K, E) int64 number of values <= edges[k, e] in each sorted row: a binary search over all rows at once,
    fixing one bit of the answer per pass (every row has the same length, so every search takes the same steps).

    Args:
        sorted_rows: (K, N) ascending rows, N >= 1.
        edges: (K, E) thresholds per row.
    """
    k, n = sorted_rows.shape
    row = np.arange(k)[:, None]
    count = np.zeros(edges.shape, dtype=np.int64)
    step = 1 << int(n).bit_length()
    while step:
        candidate = count + step
        # the first `candidate` values are all <= edge iff the last of them is
        fits = (candidate <= n) & (sorted_rows[row, np.minimum(candidate, n) - 1] <= edges)
        count = np.where(fits, candidate, count)
        step >>= 1
    return count


def quantile_edges(sorted_rows: np.ndarray, n_bins: int) -> np.ndarray:
    """(K, B + 1) per-row quantiles at 0, 1/B, ..., 1, with numpy's default "linear" method (same values as
    `np.quantile(row, np.linspace(0, 1, B + 1))`, taken from the already sorted rows)."""
    n = sorted_rows.shape[1]
    position = np.linspace(0.0, 1.0, n_bins + 1) * (n - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, n - 1)
    gamma = position - below
    return _lerp(sorted_rows[:, below], sorted_rows[:, above], gamma)


def _lerp(a: np.ndarray, b: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    # numpy's _lerp: interpolate from the nearer end, so gamma = 1 gives b exactly
    return np.where(gamma >= 0.5, b - (b - a) * (1.0 - gamma), a + (b - a) * gamma)


def pooled_quantiles(sorted_rows: np.ndarray, n_bins: int) -> np.ndarray:
    """(B + 1,) quantiles at 0, 1/B, ..., 1 of all K * N values pooled, equal to
    `np.quantile(values, np.linspace(0, 1, B + 1))` but found from the sorted rows.

    np.quantile partitions all 55 M values (~2 s); here each needed order statistic is selected from the
    few hundred thousand values that a sorted sample of the rows brackets it to (see `_select_rank`).
    """
    k, n = sorted_rows.shape
    total = k * n
    if total <= _DIRECT_QUANTILE_CELLS:
        return np.quantile(sorted_rows, np.linspace(0.0, 1.0, n_bins + 1))
    position = np.linspace(0.0, 1.0, n_bins + 1) * (total - 1)
    below = np.floor(position).astype(np.int64)
    gamma = position - below
    stride = _SAMPLE_STRIDE
    sample = np.sort(sorted_rows[:, stride - 1 :: stride], axis=None)
    pairs = np.array([_select_rank(sorted_rows, sample, int(r), stride) for r in below])
    return _lerp(pairs[:, 0], pairs[:, 1], gamma)


def _select_rank(sorted_rows: np.ndarray, sample: np.ndarray, rank: int, stride: int) -> tuple[float, float]:
    """The values of 0-based pooled ranks `rank` and `rank + 1` (the latter clipped to the last one).

    `sample` holds every `stride`-th value of each row, sorted. If J sample values are <= v, between
    stride * J and stride * J + K * (stride - 1) values are <= v overall; that brackets the wanted ranks by two
    sample values, and only the values between them (about 2 K stride) are gathered and partitioned.
    """
    k, n = sorted_rows.shape
    last = k * n - 1
    hi_index = min(-(-(min(rank + 1, last) + 1) // stride) - 1, sample.size - 1)
    v_hi = sample[hi_index] if (hi_index + 1) * stride >= min(rank + 1, last) + 1 else np.inf
    most = (rank - k * (stride - 1)) // stride  # sample values allowed <= v_lo so that at most `rank` values are
    v_lo = -np.inf
    if most >= 1:
        first_above = np.searchsorted(sample, sample[min(most, sample.size - 1)], side="left")
        v_lo = sample[first_above - 1] if first_above >= 1 else -np.inf
    bounds = count_at_most(sorted_rows, np.repeat([[v_lo, v_hi]], k, axis=0))
    lengths = bounds[:, 1] - bounds[:, 0]
    starts = bounds[:, 0] + n * np.arange(k)
    # flat indices of every row's run [bounds[:, 0], bounds[:, 1])
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    values = sorted_rows.ravel()[offsets + np.arange(lengths.sum())]
    skipped = int(bounds[:, 0].sum())
    wanted = [rank - skipped, min(rank + 1, last) - skipped]
    part = np.partition(values, wanted)
    return float(part[wanted[0]]), float(part[wanted[1]])


def bin_totals(sorted_rows: np.ndarray, positives: tuple[np.ndarray, np.ndarray], edges: np.ndarray) -> BinTotals:
    """Per-label bin totals.

    Args:
        sorted_rows: (K, N) from `sorted_columns(probabilities)`.
        positives: (values (P,) float64, cols (P,) int64): the probability and label of every positive cell.
        edges: (B + 1,) shared or (K, B + 1) per-label non-decreasing bin edges.

    Returns:
        BinTotals with (K, B) arrays.
    """
    k, n = sorted_rows.shape
    edges = np.broadcast_to(edges, (k, edges.shape[-1]))
    n_bins = edges.shape[1] - 1
    # starts[k, b]: first sorted position of bin b in row k; bin b ends where bin b + 1 starts
    starts = np.zeros((k, n_bins + 1), dtype=np.int64)
    starts[:, 1:n_bins] = count_at_most(sorted_rows, np.ascontiguousarray(edges[:, 1:-1]))
    starts[:, n_bins] = n
    count = np.diff(starts, axis=1)
    flat_starts = (starts[:, :n_bins] + n * np.arange(k)[:, None]).ravel()
    confidence = np.zeros(k * n_bins)
    # reduceat cannot take an index equal to the array length; such bins are empty and trail all others
    inside = flat_starts < k * n
    confidence[inside] = np.add.reduceat(sorted_rows.ravel(), flat_starts[inside])
    confidence = np.where(count > 0, confidence.reshape(k, n_bins), 0.0)
    return BinTotals(count, confidence, _positives_per_bin(*positives, edges))


def _positives_per_bin(values: np.ndarray, cols: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(K, B) number of positive cells per bin: bin = number of inner edges strictly below the value."""
    k, n_bins = edges.shape[0], edges.shape[1] - 1
    inner = edges[:, 1:-1]
    keys = np.empty(values.size, dtype=np.int64)
    for start in range(0, values.size, _POSITIVE_CHUNK):
        part = slice(start, start + _POSITIVE_CHUNK)
        keys[part] = cols[part] * n_bins + (inner[cols[part]] < values[part, None]).sum(axis=1)
    return np.bincount(keys, minlength=k * n_bins).reshape(k, n_bins)

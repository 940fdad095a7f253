"""Label sets (the label powerset), the powerlabel code, and label co-occurrence, on the sparse matrix.

A label set is the set of labels of one image; the label-powerset view treats each distinct set as one class.
Its table (distinct sets and how many images carry each) shows how much of the data set a split or a
powerset method can stratify on. The "powerlabel" integer code follows the `seed` / iterative-stratification
convention: the FIRST label is the MOST significant bit, code = sum_j y_j * 2**(L-1-j), defined for L <= 62 so
that it fits an int64.

References:
    G. Tsoumakas, I. Katakis, I. Vlahavas. "Random k-labelsets for multilabel classification." IEEE TKDE 23(7),
    2011 (label powerset).
    F. Charte, A. J. Rivera, M. J. del Jesus, F. Herrera. "Addressing imbalance in multilabel classification:
    Measures and random resampling algorithms." Neurocomputing 163 (2015) (distinct and single label sets).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from tailtag.labels import LabelTable
from tailtag.stats.imbalance import row_ids

MAX_POWERLABEL_LABELS = 62
# Positions of a set compared before falling back to its content hash when ordering equal-count sets.
_ORDER_POSITIONS = 8
_HASH_SEED = 0x7A11_7A6


def _row_sums_u64(values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """(N,) per-row sums of uint64 entry values, modulo 2**64."""
    running = np.zeros(values.shape[0] + 1, dtype=np.uint64)
    # uint64 wraps modulo 2**64, so the difference of two running sums is the row's sum modulo 2**64.
    np.cumsum(values, dtype=np.uint64, out=running[1:])
    return running[indptr[1:]] - running[indptr[:-1]]


def powerlabel(matrix: sp.csr_matrix) -> np.ndarray:
    """Powerlabel code of each row, first label = most significant bit: sum_j y_j * 2**(L-1-j).

    Args:
        matrix: (N, L) CSR 0/1 matrix with L <= 62 and no duplicate entries (a `LabelTable.matrix`).

    Returns:
        (N,) int64 codes; an image with no label has code 0.
    """
    n_labels = matrix.shape[1]
    if n_labels > MAX_POWERLABEL_LABELS:
        raise ValueError(f"powerlabel needs at most {MAX_POWERLABEL_LABELS} labels to fit int64, got {n_labels}")
    bits = np.left_shift(np.uint64(1), np.arange(n_labels - 1, -1, -1, dtype=np.uint64))
    return _row_sums_u64(bits[matrix.indices], matrix.indptr).astype(np.int64)


def _hash_keys(matrix: sp.csr_matrix) -> np.ndarray:
    """(N,) uint64 key per row: sum of fixed random 64-bit weights of its labels (equal sets, equal keys)."""
    weights = np.random.default_rng(_HASH_SEED).integers(0, 2**64, size=matrix.shape[1], dtype=np.uint64)
    return _row_sums_u64(weights[matrix.indices], matrix.indptr)


def _same_rows(matrix: sp.csr_matrix, rep: np.ndarray) -> bool:
    """True when every row i holds exactly the same columns as row rep[i] (indices must be sorted)."""
    sizes = np.diff(matrix.indptr)
    if not np.array_equal(sizes[rep], sizes):
        return False
    rows = row_ids(matrix)
    offset = np.arange(matrix.indices.shape[0], dtype=np.int64) - matrix.indptr[rows]
    return bool(np.array_equal(matrix.indices[matrix.indptr[rep[rows]] + offset], matrix.indices))


def _group_exact(matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slow exact grouping by row content, used only if two different sets ever share a hash key."""
    first: dict[bytes, int] = {}
    inverse = np.empty(matrix.shape[0], dtype=np.int64)
    for i in range(matrix.shape[0]):
        key = matrix.indices[matrix.indptr[i] : matrix.indptr[i + 1]].tobytes()
        inverse[i] = first.setdefault(key, len(first))
    # Set ids were handed out in order of first appearance, so np.unique's first index is each set's first row.
    _, reps = np.unique(inverse, return_index=True)
    return reps.astype(np.int64), inverse, np.bincount(inverse, minlength=len(first))


def group_rows(matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group identical rows of a CSR 0/1 matrix.

    Args:
        matrix: (N, L) CSR matrix with sorted indices and no duplicates.

    Returns:
        reps: (S,) first row of each distinct set; inverse: (N,) set index of each row; counts: (S,) rows per
        set; keys: (S,) uint64 content key of each set (the powerlabel code when L <= 62). Sets are in key order.
    """
    if matrix.shape[1] <= MAX_POWERLABEL_LABELS:
        row_keys = powerlabel(matrix).astype(np.uint64)  # exact: no collision possible
    else:
        row_keys = _hash_keys(matrix)
    keys, reps, inverse, counts = np.unique(row_keys, return_index=True, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    if matrix.shape[1] > MAX_POWERLABEL_LABELS and not _same_rows(matrix, reps[inverse]):
        reps, inverse, counts = _group_exact(matrix)
        keys = _hash_keys(matrix)[reps]
    return reps, inverse, counts, keys


def _set_order(matrix: sp.csr_matrix, reps: np.ndarray, counts: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Order of sets: most images first, then smaller sets, then by columns, so row order never matters."""
    sizes = np.diff(matrix.indptr)[reps]
    starts = matrix.indptr[reps]
    columns = []
    for position in range(min(_ORDER_POSITIONS, int(sizes.max(initial=0)))):
        has = sizes > position
        column = np.full(reps.shape[0], -1, dtype=np.int64)
        column[has] = matrix.indices[starts[has] + position]
        columns.append(column)
    # np.lexsort sorts by the LAST key first.
    return np.lexsort([keys, *reversed(columns), sizes, -counts])


@dataclass(frozen=True, eq=False)
class LabelsetTable:
    """Distinct label sets of a table, most frequent first.

    Attributes:
        names: (L,) label names.
        sets: (S, L) CSR 0/1 matrix, row k = the k-th distinct label set.
        counts: (S,) int64 images carrying each set, non-increasing.
        inverse: (N,) int64 index into `sets` of each image's label set.
        powerlabels: (S,) int64 powerlabel code of each set (first label = most significant bit), or None when
            L > 62.

    Sets with equal counts are ordered by size, then by their column indices (the first 8 positions, then a
    content hash), which depends only on the sets themselves, never on the order of the images.
    """

    names: list[str]
    sets: sp.csr_matrix
    counts: np.ndarray
    inverse: np.ndarray
    powerlabels: np.ndarray | None

    def __len__(self) -> int:
        return int(self.counts.shape[0])

    def labels(self, k: int) -> list[str]:
        """Label names of set `k`, in column order (an empty list is the no-label set)."""
        columns = self.sets.indices[self.sets.indptr[k] : self.sets.indptr[k + 1]]
        return [self.names[j] for j in np.sort(columns)]

    @property
    def n_single(self) -> int:
        """Number of label sets carried by exactly one image."""
        return int(np.count_nonzero(self.counts == 1))


def labelset_table(table: LabelTable) -> LabelsetTable:
    """The label-powerset table of `table`: each distinct set of labels and its number of images.

    Example:
        >>> from tailtag.labels import from_label_lists
        >>> sets = labelset_table(from_label_lists(list("wxyz"), [["a"], ["a", "b"], ["a"], []]))
        >>> [(sets.labels(k), int(sets.counts[k]), int(sets.powerlabels[k])) for k in range(len(sets))]
        [(['a'], 2, 2), ([], 1, 0), (['a', 'b'], 1, 3)]
    """
    matrix = table.matrix
    if not matrix.has_sorted_indices:
        matrix = matrix.sorted_indices()
    reps, inverse, counts, keys = group_rows(matrix)
    order = _set_order(matrix, reps, counts, keys)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    small = table.n_labels <= MAX_POWERLABEL_LABELS
    return LabelsetTable(
        names=list(table.names),
        sets=matrix[reps[order]],
        counts=counts[order].astype(np.int64),
        inverse=rank[inverse].astype(np.int64),
        powerlabels=keys[order].astype(np.int64) if small else None,
    )


def cooccurrence(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Label co-occurrence counts C = Y^T Y.

    Args:
        matrix: (N, L) CSR 0/1 label matrix.

    Returns:
        (L, L) CSR int64, symmetric; C[i, j] = images with both labels i and j, C[i, i] = positives of i.
    """
    # Widen before multiplying: a uint8 product would wrap at 256 images.
    wide = sp.csr_matrix((matrix.data.astype(np.int64), matrix.indices, matrix.indptr), shape=matrix.shape)
    return (wide.T @ wide).tocsr()


def top_pairs(cooc: sp.csr_matrix, k: int) -> list[tuple[int, int, int]]:
    """The `k` label pairs (i < j) seen together most often, as (i, j, count), most frequent first.

    Ties are broken by i, then j. Pairs that never co-occur are not listed.
    """
    upper = sp.triu(cooc, k=1, format="coo")
    keep = upper.data > 0
    rows, cols, data = upper.row[keep], upper.col[keep], upper.data[keep]
    order = np.lexsort([cols, rows, -data])[: max(k, 0)]
    return [(int(rows[o]), int(cols[o]), int(data[o])) for o in order]

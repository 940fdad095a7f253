"""Label pairs that co-occur on an image, as a sparse (N, P) matrix.

Second-order stratification (Szymański & Kajdanowicz, "A network perspective on stratification of
multi-label data", LIDTA 2017) treats each co-occurring label pair as one more thing to spread evenly
over the splits, and its Label Pair Distribution measure compares pair frequencies across splits.
Both need the pairs of every image without densifying the (N, L) matrix.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def label_pairs(matrix: sp.spmatrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """The label pairs present on each image.

    Rows are enumerated in blocks of equal label count, so the work is vectorised over images and
    costs O(sum over images of n_i^2) with no Python loop over images.

    Args:
        matrix: (N, L) 0/1 sparse multi-hot matrix.

    Returns:
        pair_matrix: (N, P) CSR uint8; entry (i, p) is 1 when image i carries both labels of pair p.
        pairs: (P, 2) int64 label columns (a, b) with a < b of each pair, sorted; only pairs that occur
            on at least one image are listed.
    """
    csr = sp.csr_matrix(matrix)
    if not csr.has_sorted_indices:
        csr = csr.copy()
        csr.sort_indices()
    n_rows, n_labels = csr.shape
    lengths = np.diff(csr.indptr)
    row_parts: list[np.ndarray] = []
    code_parts: list[np.ndarray] = []
    for n in np.unique(lengths[lengths >= 2]).tolist():
        rows = np.flatnonzero(lengths == n)
        cols = csr.indices[csr.indptr[rows][:, None] + np.arange(n)].astype(np.int64)  # (R, n)
        first, second = np.triu_indices(n, 1)
        # a < b because the row's indices are sorted; a * L + b is a unique integer code of the pair
        code_parts.append((cols[:, first] * n_labels + cols[:, second]).ravel())
        row_parts.append(np.repeat(rows, len(first)))
    if not code_parts:
        return sp.csr_matrix((n_rows, 0), dtype=np.uint8), np.zeros((0, 2), dtype=np.int64)
    codes = np.concatenate(code_parts)
    unique_codes, columns = np.unique(codes, return_inverse=True)
    data = np.ones(len(codes), dtype=np.uint8)
    pair_matrix = sp.csr_matrix((data, (np.concatenate(row_parts), columns)), shape=(n_rows, len(unique_codes)))
    pairs = np.stack([unique_codes // n_labels, unique_codes % n_labels], axis=1)
    return pair_matrix, pairs

"""Generated label matrices for the split tests (small, seeded, skewed like real long-tailed data)."""

import numpy as np
import pytest
import scipy.sparse as sp

from tailtag.labels import LabelTable


def power_law_matrix(
    n: int, n_labels: int, *, mean_labels: float = 2.5, alpha: float = 1.2, seed: int = 0, empty: float = 0.0
) -> sp.csr_matrix:
    """(n, n_labels) 0/1 CSR: label j drawn with probability ~ (j+1)^-alpha, 1 + Poisson labels per image."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_labels + 1) ** alpha
    per_image = 1 + rng.poisson(mean_labels - 1, size=n)
    per_image[rng.random(n) < empty] = 0
    rows = np.repeat(np.arange(n), per_image)
    cols = rng.choice(n_labels, size=len(rows), p=weights / weights.sum())
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n_labels))
    matrix.data[:] = 1
    return sp.csr_matrix(matrix, dtype=np.uint8)


def table_of(matrix: sp.spmatrix, **kwargs) -> LabelTable:
    n, n_labels = matrix.shape
    paths = np.array([f"img/{i:05d}.jpg" for i in range(n)], dtype=object)
    return LabelTable(paths=paths, names=[f"l{j}" for j in range(n_labels)], matrix=matrix, **kwargs)


@pytest.fixture
def make_matrix():
    return power_law_matrix


@pytest.fixture
def make_table():
    return table_of

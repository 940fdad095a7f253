import numpy as np
import pytest
import scipy.sparse as sp

from tailtag.labels import LabelTable, from_label_lists


def small_table() -> LabelTable:
    return from_label_lists(["a.jpg", "b.jpg", "c.jpg", "d.jpg"], [["sea"], ["sea", "sun"], [], ["tree"]])


def test_from_label_lists_builds_sorted_vocabulary_and_keeps_negatives():
    table = small_table()
    assert table.names == ["sea", "sun", "tree"]
    assert table.n_images == 4 and table.n_labels == 3
    assert table.dense().tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 0, 1]]
    assert table.label_counts().tolist() == [2, 1, 1]
    assert table.labels_per_image().tolist() == [1, 2, 0, 1]
    assert table.labels_of(1) == ["sea", "sun"]


def test_subset_keeps_order_and_meta():
    table = from_label_lists(["a", "b", "c"], [["x"], ["y"], []], meta={"group": np.array(["g1", "g2", "g1"])})
    sub = table.subset(np.array([2, 0]))
    assert sub.paths.tolist() == ["c", "a"]
    assert sub.meta["group"].tolist() == ["g1", "g1"]
    assert sub.dense().tolist() == [[0, 0], [1, 0]]


def test_matrix_is_sparse_uint8_and_validated():
    table = small_table()
    assert sp.issparse(table.matrix) and table.matrix.dtype == np.uint8
    with pytest.raises(ValueError, match="does not match"):
        LabelTable(paths=["a"], names=["x", "y"], matrix=sp.csr_matrix((2, 2), dtype=np.uint8))
    duplicated = sp.coo_matrix((np.ones(2), ([0, 0], [1, 1])), shape=(1, 2))
    assert LabelTable(paths=["a"], names=["x", "y"], matrix=duplicated).dense().tolist() == [[0, 1]]


def test_large_table_stays_sparse():
    n, k = 1_000_000, 10_000
    rng = np.random.default_rng(0)
    rows = np.repeat(np.arange(n), 3)
    cols = rng.integers(0, k, size=rows.size)
    matrix = sp.csr_matrix((np.ones(rows.size, dtype=np.uint8), (rows, cols)), shape=(n, k))
    table = LabelTable(paths=np.arange(n).astype(str), names=[f"t{j}" for j in range(k)], matrix=matrix)
    assert table.matrix.nnz <= 3 * n
    assert table.label_counts().sum() == table.matrix.nnz
    with pytest.raises(MemoryError):
        table.dense()


def test_resolve_uses_image_root(tmp_path):
    table = small_table().with_root(tmp_path)
    assert table.resolve("a.jpg") == tmp_path / "a.jpg"
    assert table.resolve("/abs/x.jpg").is_absolute()

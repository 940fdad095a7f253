"""Label-powerset table, powerlabel codes and co-occurrence: golden, invariance, the hashed path for L > 62."""

import numpy as np
import pytest
import scipy.sparse as sp

from tailtag.labels import LabelTable, from_label_lists
from tailtag.stats import cooccurrence, labelset_table, powerlabel, top_pairs
from tailtag.stats import labelsets as labelsets_module

ROWS = [["a"], ["a", "b"], ["a"], ["a", "c"], ["b"], ["a", "b", "c"]]


def golden_table() -> LabelTable:
    return from_label_lists([f"{i}.jpg" for i in range(6)], ROWS)


def as_rows(sets) -> list[tuple[list[str], int, int | None]]:
    pl = sets.powerlabels
    return [(sets.labels(k), int(sets.counts[k]), None if pl is None else int(pl[k])) for k in range(len(sets))]


def test_powerlabel_first_label_is_most_significant_bit():
    # L = 3: a -> 4, b -> 2, c -> 1
    assert powerlabel(golden_table().matrix).tolist() == [4, 6, 4, 5, 2, 7]
    assert powerlabel(from_label_lists(["x"], [[]], names=["a"]).matrix).tolist() == [0]


def test_powerlabel_is_exact_up_to_62_labels():
    names = [f"l{j}" for j in range(62)]
    table = from_label_lists(["x", "y", "z"], [["l0"], ["l0", "l61"], names], names=names)
    assert powerlabel(table.matrix).tolist() == [2**61, 2**61 + 1, 2**62 - 1]
    with pytest.raises(ValueError, match="at most 62 labels"):
        powerlabel(sp.csr_matrix((1, 63), dtype=np.uint8))


def test_labelset_table_golden():
    sets = labelset_table(golden_table())
    # most images first; ties by size, then by columns
    assert as_rows(sets) == [
        (["a"], 2, 4),
        (["b"], 1, 2),
        (["a", "b"], 1, 6),
        (["a", "c"], 1, 5),
        (["a", "b", "c"], 1, 7),
    ]
    assert sets.n_single == 4
    assert sets.inverse.tolist() == [0, 2, 0, 3, 1, 4]
    assert sets.sets.shape == (5, 3)


def test_labelset_table_is_invariant_to_row_order():
    table = golden_table()
    perm = np.random.default_rng(7).permutation(table.n_images)
    permuted = labelset_table(table.subset(perm))
    assert as_rows(permuted) == as_rows(labelset_table(table))
    # each image still points at its own set
    original = labelset_table(table)
    assert [permuted.labels(k) for k in permuted.inverse] == [original.labels(k) for k in original.inverse[perm]]


def test_no_label_set_is_its_own_set():
    sets = labelset_table(from_label_lists(list("wxyz"), [[], ["a"], [], []], names=["a", "b"]))
    assert as_rows(sets) == [([], 3, 0), (["a"], 1, 2)]


def wide_table(n_labels: int = 100) -> tuple[LabelTable, list[list[str]]]:
    rng = np.random.default_rng(1)
    names = [f"t{j:03d}" for j in range(n_labels)]
    pool = [sorted(rng.choice(names, size=rng.integers(0, 5), replace=False).tolist()) for _ in range(15)]
    rows = [pool[i] for i in rng.integers(0, len(pool), size=400)]
    return from_label_lists([str(i) for i in range(len(rows))], rows, names=names), rows


def expected_counts(rows: list[list[str]]) -> dict[tuple[str, ...], int]:
    out: dict[tuple[str, ...], int] = {}
    for row in rows:
        out[tuple(row)] = out.get(tuple(row), 0) + 1
    return out


def test_more_than_62_labels_groups_exactly_without_powerlabel():
    table, rows = wide_table()
    sets = labelset_table(table)
    assert sets.powerlabels is None
    assert {tuple(s): c for s, c, _ in as_rows(sets)} == expected_counts(rows)
    assert np.all(np.diff(sets.counts) <= 0)


def test_hash_collisions_fall_back_to_exact_grouping(monkeypatch):
    table, rows = wide_table()
    # Every row gets the same key: the verification must notice and group by content instead.
    monkeypatch.setattr(labelsets_module, "_hash_keys", lambda m: np.zeros(m.shape[0], dtype=np.uint64))
    sets = labelset_table(table)
    assert {tuple(s): c for s, c, _ in as_rows(sets)} == expected_counts(rows)


def test_cooccurrence_golden_and_top_pairs():
    cooc = cooccurrence(golden_table().matrix)
    assert cooc.dtype == np.int64 and sp.issparse(cooc)
    assert cooc.toarray().tolist() == [[5, 2, 2], [2, 3, 1], [2, 1, 2]]
    assert top_pairs(cooc, 2) == [(0, 1, 2), (0, 2, 2)]
    assert top_pairs(cooc, 10) == [(0, 1, 2), (0, 2, 2), (1, 2, 1)]


def test_cooccurrence_counts_past_uint8():
    matrix = sp.csr_matrix(np.ones((300, 2), dtype=np.uint8))
    assert cooccurrence(matrix).toarray().tolist() == [[300, 300], [300, 300]]

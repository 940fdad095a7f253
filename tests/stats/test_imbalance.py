"""Imbalance measures: golden values on a hand-computed 6 x 3 table, invariance, zero-positive labels."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

from tailtag.errors import OptionError
from tailtag.labels import LabelTable, from_label_lists
from tailtag.stats import assign_buckets, imbalance_ratios, imbalance_stats, irlbl, scumble_per_image

# counts a=5, b=3, c=2 -> IRLbl a=1, b=5/3, c=5/2
ROWS = [["a"], ["a", "b"], ["a"], ["a", "c"], ["b"], ["a", "b", "c"]]


def golden_table(**kwargs) -> LabelTable:
    return from_label_lists([f"{i}.jpg" for i in range(6)], ROWS, **kwargs)


def test_counts_frequencies_and_irlbl_golden():
    stats = imbalance_stats(golden_table())
    assert stats.counts.tolist() == [5, 3, 2]
    np.testing.assert_allclose(stats.frequencies, [5 / 6, 3 / 6, 2 / 6])
    np.testing.assert_allclose(stats.irlbl, [1.0, 5 / 3, 5 / 2])


def test_mean_max_cvir_golden():
    stats = imbalance_stats(golden_table())
    # MeanIR = (1 + 5/3 + 5/2) / 3 = 31/18; deviations -13/18, -1/18, 14/18;
    # sigma = sqrt((169 + 1 + 196) / 324 / 2) = sqrt(183) / 18, so CVIR = sqrt(183) / 31.
    assert stats.mean_ir == pytest.approx(31 / 18) == pytest.approx(1.722222)
    assert stats.max_ir == pytest.approx(2.5)
    assert stats.cvir == pytest.approx(math.sqrt(183) / 31) == pytest.approx(0.436379, abs=1e-6)


def test_scumble_golden():
    stats = imbalance_stats(golden_table())
    two_ab = 1 - math.sqrt(5 / 3) / ((1 + 5 / 3) / 2)  # 0.031754
    two_ac = 1 - math.sqrt(5 / 2) / ((1 + 5 / 2) / 2)  # 0.096492
    three = 1 - (25 / 6) ** (1 / 3) / (31 / 18)  # 1 - 1.609149 / 1.722222 = 0.065655
    np.testing.assert_allclose(stats.image_scumble, [0, two_ab, 0, two_ac, 0, three], atol=1e-12)
    assert stats.image_scumble[1] == pytest.approx(0.031754, abs=1e-6)
    assert stats.scumble == pytest.approx((two_ab + two_ac + three) / 6) == pytest.approx(0.032317, abs=1e-6)
    # label SCUMBLE: mean over the images carrying the label (a: rows 0-3 and 5, c: rows 3 and 5)
    np.testing.assert_allclose(
        stats.label_scumble, [(two_ab + two_ac + three) / 5, (two_ab + three) / 3, (two_ac + three) / 2]
    )


def test_cardinality_and_density_golden():
    stats = imbalance_stats(golden_table())
    assert stats.labels_per_image.tolist() == [1, 2, 1, 2, 1, 3]
    assert stats.cardinality == pytest.approx(10 / 6)
    assert stats.density == pytest.approx(10 / 18)
    assert stats.n_unlabelled == 0


def test_row_permutation_changes_nothing():
    table = golden_table()
    before = imbalance_stats(table)
    after = imbalance_stats(table.subset(np.random.default_rng(3).permutation(table.n_images)))
    for name in ("counts", "irlbl", "label_scumble"):
        np.testing.assert_allclose(getattr(after, name), getattr(before, name))
    for name in ("mean_ir", "max_ir", "cvir", "scumble", "scumble_cv", "cardinality", "density"):
        assert getattr(after, name) == pytest.approx(getattr(before, name))


def test_zero_positive_label_is_excluded_and_reported():
    with_empty = imbalance_stats(golden_table(names=["a", "b", "c", "d"]))
    plain = imbalance_stats(golden_table())
    assert with_empty.counts.tolist() == [5, 3, 2, 0]
    assert np.isnan(with_empty.irlbl[3]) and np.isnan(with_empty.label_scumble[3])
    assert with_empty.empty_labels.tolist() == [3]
    for name in ("mean_ir", "max_ir", "cvir", "scumble"):
        assert getattr(with_empty, name) == pytest.approx(getattr(plain, name))
    assert with_empty.density == pytest.approx(10 / 24)  # density divides by every column


def test_degenerate_tables_give_nan_not_errors():
    nothing = imbalance_stats(from_label_lists(["x", "y"], [[], []], names=["a", "b"]))
    assert all(math.isnan(v) for v in (nothing.mean_ir, nothing.max_ir, nothing.cvir))
    assert nothing.scumble == 0.0 and nothing.n_unlabelled == 2 and nothing.cardinality == 0.0
    one = imbalance_stats(from_label_lists(["x", "y"], [["a"], ["a"]], names=["a", "b"]))
    assert (one.mean_ir, one.max_ir, one.cvir) == (1.0, 1.0, 0.0)
    empty = LabelTable(paths=np.array([], dtype=object), names=["a"], matrix=sp.csr_matrix((0, 1)))
    assert math.isnan(imbalance_stats(empty).cardinality)


def test_irlbl_and_ratios_on_arrays():
    np.testing.assert_allclose(irlbl(np.array([10, 0, 5])), [1.0, np.nan, 2.0])
    mean_ir, max_ir, cvir = imbalance_ratios(np.array([1.0, np.nan, 3.0]))
    assert (mean_ir, max_ir) == (2.0, 3.0) and cvir == pytest.approx(math.sqrt(2) / 2)


def test_scumble_is_zero_for_equal_ratios_and_stable_for_many_labels():
    # 3,000 labels on one image: a naive product of IRLbl values would overflow to inf.
    n_labels = 3000
    matrix = sp.csr_matrix(np.ones((1, n_labels), dtype=np.uint8))
    assert scumble_per_image(matrix, np.full(n_labels, 7.0)).tolist() == [0.0]
    ratios = np.geomspace(1, 1e6, n_labels)
    expected = 1 - np.exp(np.log(ratios).mean()) / ratios.mean()
    assert scumble_per_image(matrix, ratios)[0] == pytest.approx(expected)


def test_buckets_and_threshold_errors():
    counts = np.array([500, 101, 100, 20, 19, 0])
    assert assign_buckets(counts).tolist() == ["head", "head", "medium", "medium", "tail", "tail"]
    assert assign_buckets(counts, head_min=20, tail_max=19).tolist() == ["head"] * 4 + ["tail"] * 2
    with pytest.raises(OptionError, match=r"--head-min .* greater than --tail-max .*head_min=10 and tail_max=19"):
        assign_buckets(counts, head_min=10, tail_max=19)
    with pytest.raises(OptionError, match=r"--tail-max .* >= 0, got -1"):
        assign_buckets(counts, head_min=10, tail_max=-1)


def test_large_sparse_table_is_fast_and_stays_sparse():
    rng = np.random.default_rng(0)
    n, n_labels, per_row = 200_000, 5_000, 4
    cols = np.minimum(rng.zipf(1.3, size=n * per_row) - 1, n_labels - 1)
    matrix = sp.csr_matrix(
        (np.ones(n * per_row, np.uint8), (np.repeat(np.arange(n), per_row), cols)), shape=(n, n_labels)
    )
    matrix.data[:] = 1
    table = LabelTable(paths=np.arange(n).astype(str), names=[f"l{j}" for j in range(n_labels)], matrix=matrix)
    stats = imbalance_stats(table)
    assert stats.counts.sum() == table.matrix.nnz
    assert np.nanmin(stats.irlbl) == 1.0 and stats.max_ir >= stats.mean_ir >= 1.0

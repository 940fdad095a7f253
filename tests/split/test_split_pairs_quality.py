"""Label pairs and the split quality measures, checked against hand computation and brute force."""

import subprocess
import sys
from itertools import combinations

import numpy as np
import pytest
import scipy.sparse as sp

from tailtag.split import label_pairs, random_assignment, random_baseline, split_quality, target_sizes


def test_label_pairs_match_brute_force(make_matrix):
    y = make_matrix(300, 12, mean_labels=3.0, seed=9)
    pair_matrix, pairs = label_pairs(y)
    dense = y.toarray()
    expected = sorted({pair for row in dense for pair in combinations(np.flatnonzero(row).tolist(), 2)})
    assert [tuple(p) for p in pairs.tolist()] == expected
    got = pair_matrix.toarray()
    for p, (a, b) in enumerate(expected):
        assert np.array_equal(got[:, p], dense[:, a] & dense[:, b])


def test_label_pairs_of_single_label_rows_are_empty():
    pair_matrix, pairs = label_pairs(sp.csr_matrix(np.eye(4, dtype=np.uint8)))
    assert pair_matrix.shape == (4, 0) and pairs.shape == (0, 2)


def test_quality_by_hand_on_a_small_split():
    # 6 images, 2 labels; subsets {0,1,2,3} and {4,5}
    y = sp.csr_matrix([[1, 0], [1, 1], [0, 1], [0, 0], [1, 0], [0, 0]])
    quality = split_quality(y, np.array([0, 0, 0, 0, 1, 1]), [0.5, 0.5], pairs=True)
    assert quality.sizes.tolist() == [4, 2]
    np.testing.assert_allclose(quality.proportion, [[2 / 4, 2 / 4], [1 / 2, 0 / 2]])
    np.testing.assert_allclose(quality.share, [[2 / 3, 1.0], [1 / 3, 0.0]])
    np.testing.assert_allclose(quality.overall, [3 / 6, 2 / 6])
    # LD: label 0 ratios 2/2, 1/1 vs whole 3/3 -> 0; label 1: 2/2, 0/2 vs 2/4 -> (0.5 + 0.5) / 2
    assert quality.label_distribution == pytest.approx((0 + 0.5) / 2)
    assert quality.examples_distribution == pytest.approx((1 + 1) / 2)  # sizes 4, 2 vs 3, 3
    assert quality.mean_abs_deviation == pytest.approx((0 + 1 / 6 + 0 + 1 / 3) / 4)
    assert quality.max_abs_deviation == pytest.approx(1 / 3)
    assert quality.empty_label_subsets == 1  # label 1 has 2 positives, none in subset 1
    # the only pair (0, 1) is on image 1: ratio 1/3 in subset 0, 0 in subset 1, 1/5 overall
    assert quality.pair_distribution == pytest.approx((abs(1 / 3 - 1 / 5) + 1 / 5) / 2)


def test_ld_leaves_out_terms_without_negatives_instead_of_infinity():
    y = sp.csr_matrix([[1], [1], [1], [0]])
    quality = split_quality(y, np.array([0, 0, 1, 1]), [0.5, 0.5])
    # subset 0 has no negative: its term is left out; subset 1: 1/1 vs 3/1
    assert np.isfinite(quality.label_distribution)
    assert quality.label_distribution == pytest.approx(2.0)


def test_random_assignment_has_the_sizes_and_keeps_groups():
    assignment = random_assignment([5, 3, 2], seed=1)
    assert np.bincount(assignment).tolist() == [5, 3, 2]
    groups = np.repeat(np.arange(20), 5)
    grouped = random_assignment(target_sizes([0.6, 0.4], 100), seed=1, groups=groups)
    assert all(len(set(grouped[groups == g].tolist())) == 1 for g in range(20))
    assert abs(np.bincount(grouped)[0] - 60) <= 5


def test_random_baseline_is_seeded(make_matrix):
    y = make_matrix(200, 10)
    first = random_baseline(y, [0.8, 0.2], seed=3)
    assert first.mean_abs_deviation == random_baseline(y, [0.8, 0.2], seed=3).mean_abs_deviation
    assert first.sizes.tolist() == [160, 40]


def test_importing_split_does_not_import_torch():
    code = "import sys, tailtag.split, tailtag.commands.split; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)

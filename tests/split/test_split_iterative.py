"""Iterative stratification: golden cases, properties, determinism, groups, folds, second order."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from tailtag.errors import OptionError
from tailtag.split import iterative_stratification, random_assignment, split_quality, subset_counts, target_sizes

FRACTIONS = [0.7, 0.15, 0.15]


def test_target_sizes_sum_to_n_by_largest_remainder():
    assert target_sizes([0.7, 0.15, 0.15], 10).tolist() == [7, 2, 1]  # 1.5 and 1.5: the earlier one rounds up
    assert target_sizes([0.5, 0.5], 7).tolist() == [4, 3]
    assert target_sizes([1 / 3] * 3, 100).sum() == 100


def test_golden_two_subsets_of_the_docstring():
    y = sp.csr_matrix([[1, 0], [1, 0], [0, 1], [0, 1], [1, 1], [0, 0]])
    assignment = iterative_stratification(y, [0.5, 0.5], seed=0)
    assert sorted(np.bincount(assignment).tolist()) == [3, 3]
    # each label has an even number of positives besides image 4, so each subset gets half of them
    counts = np.stack([np.asarray(y[assignment == j].sum(axis=0)).ravel() for j in range(2)])
    assert np.abs(counts - counts.sum(axis=0) / 2).max() <= 0.5


def test_a_label_with_k_positives_gets_one_in_each_of_k_equal_subsets():
    # label 0 on images 0..2 only; the other images carry label 1 or nothing
    rows = [[1, 0]] * 3 + [[0, 1]] * 6 + [[0, 0]] * 3
    for seed in range(5):
        assignment = iterative_stratification(sp.csr_matrix(rows), [1 / 3] * 3, seed=seed)
        assert sorted(assignment[:3].tolist()) == [0, 1, 2]
        assert np.bincount(assignment).tolist() == [4, 4, 4]


def test_a_single_positive_goes_to_the_largest_subset():
    y = sp.csr_matrix(np.eye(1, 40, dtype=np.uint8).T)  # one positive, 39 unlabelled images
    for seed in range(5):
        assert iterative_stratification(y, FRACTIONS, seed=seed)[0] == 0


@given(
    dense=st.lists(st.lists(st.integers(0, 1), min_size=4, max_size=4), min_size=1, max_size=40),
    weights=st.lists(st.integers(1, 9), min_size=2, max_size=4),
    seed=st.integers(0, 2**32),
)
@settings(max_examples=60, deadline=None)
def test_every_image_gets_one_subset_and_sizes_are_exact(dense, weights, seed):
    fractions = np.asarray(weights, dtype=float) / sum(weights)
    assignment = iterative_stratification(sp.csr_matrix(np.asarray(dense)), fractions, seed=seed)
    assert assignment.shape == (len(dense),)
    assert assignment.min() >= 0 and assignment.max() < len(fractions)
    assert np.bincount(assignment, minlength=len(fractions)).tolist() == target_sizes(fractions, len(dense)).tolist()


def test_same_seed_same_split_other_seed_other_split(make_matrix):
    y = make_matrix(300, 20, seed=3)
    first = iterative_stratification(y, FRACTIONS, seed=7)
    assert np.array_equal(first, iterative_stratification(y, FRACTIONS, seed=7))
    assert not np.array_equal(first, iterative_stratification(y, FRACTIONS, seed=8))


def test_labels_are_spread_much_more_evenly_than_at_random(make_matrix):
    y = make_matrix(2000, 40, seed=1)
    sizes = target_sizes(FRACTIONS, 2000)
    ours, chance = [], []
    for seed in range(4):
        ours.append(split_quality(y, iterative_stratification(y, FRACTIONS, seed=seed), FRACTIONS))
        chance.append(split_quality(y, random_assignment(sizes, seed=seed), FRACTIONS))
    mean_ours = np.mean([q.mean_abs_deviation for q in ours])
    mean_chance = np.mean([q.mean_abs_deviation for q in chance])
    assert mean_ours < 0.25 * mean_chance
    assert np.mean([q.label_distribution for q in ours]) < 0.25 * np.mean([q.label_distribution for q in chance])
    assert max(q.max_abs_deviation for q in ours) < min(q.max_abs_deviation for q in chance)
    assert sum(q.empty_label_subsets for q in ours) <= sum(q.empty_label_subsets for q in chance)


def test_unlabelled_images_fill_the_sizes(make_matrix):
    y = make_matrix(500, 15, seed=2, empty=0.4)
    assignment = iterative_stratification(y, FRACTIONS, seed=0)
    assert np.bincount(assignment).tolist() == target_sizes(FRACTIONS, 500).tolist()
    # with room to spare, each label's count in each subset is about one image from its share at most
    counts = subset_counts(y, assignment, 3)
    gaps = np.abs(counts - np.outer(FRACTIONS, counts.sum(axis=0)))
    assert gaps.max() <= 2.0 and gaps.mean() <= 0.5


def test_groups_never_straddle_subsets(make_matrix):
    y = make_matrix(600, 12, seed=4)
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(200), rng.integers(1, 6, size=200))[:600]
    assignment = iterative_stratification(y, FRACTIONS, seed=1, groups=groups.astype(str))
    for g in np.unique(groups):
        assert len(set(assignment[groups == g].tolist())) == 1
    sizes = np.bincount(assignment, minlength=3)
    assert np.abs(sizes - target_sizes(FRACTIONS, 600)).max() <= 5  # groups of at most 5 images


def test_k_folds_cover_every_image_once_with_equal_sizes(make_matrix):
    y = make_matrix(503, 25, seed=5)
    assignment = iterative_stratification(y, [0.2] * 5, seed=0)
    assert set(assignment.tolist()) == set(range(5))
    assert np.bincount(assignment).tolist() == [101, 101, 101, 100, 100]


def strong_pairs(n, seed):
    """8 labels in 4 strong pairs (0,1), (2,3), ...; each image one pair, sometimes a label of another."""
    rng = np.random.default_rng(seed)
    pair = rng.choice(4, size=n, p=[0.55, 0.25, 0.13, 0.07])
    dense = np.zeros((n, 8), dtype=np.uint8)
    dense[np.arange(n), 2 * pair] = 1
    keep_second = rng.random(n) < 0.6
    dense[np.arange(n)[keep_second], 2 * pair[keep_second] + 1] = 1
    extra = rng.random(n) < 0.5
    dense[np.arange(n)[extra], rng.integers(0, 8, size=n)[extra]] = 1
    return sp.csr_matrix(dense)


def test_second_order_spreads_label_pairs_better_than_first_order():
    first, second = [], []
    for seed in range(4):
        y = strong_pairs(400, seed)
        first.append(
            split_quality(
                y, iterative_stratification(y, FRACTIONS, seed=seed, order=1), FRACTIONS, pairs=True
            ).pair_distribution
        )
        second.append(
            split_quality(
                y, iterative_stratification(y, FRACTIONS, seed=seed, order=2), FRACTIONS, pairs=True
            ).pair_distribution
        )
    assert np.mean(second) < 0.8 * np.mean(first)


@pytest.mark.parametrize(
    ("fractions", "match"),
    [
        ([0.7, 0.2], "must sum to 1"),
        ([1.0], "at least 2"),
        ([0.5, 0.6, -0.1], "> 0"),
        ([0.5, float("nan"), 0.5], "> 0"),
    ],
)
def test_bad_fractions_are_option_errors(fractions, match):
    with pytest.raises(OptionError, match=match):
        iterative_stratification(sp.csr_matrix((4, 2)), fractions)


def test_bad_order_is_an_option_error():
    with pytest.raises(OptionError, match="order"):
        iterative_stratification(sp.csr_matrix((4, 2)), [0.5, 0.5], order=3)


def test_groups_get_the_closest_sizes_their_granularity_allows(make_matrix):
    # 15 groups of 4 images: 42/9/9 cannot be met; 44/8/8 is the closest (sum of gaps 4)
    y = make_matrix(60, 6, seed=6)
    groups = np.repeat(np.arange(15), 4)
    for seed in range(5):
        assignment = iterative_stratification(y, FRACTIONS, seed=seed, groups=groups)
        assert np.bincount(assignment, minlength=3).tolist() == [44, 8, 8]


# ------------------------------------------------ the greedy step alone (Sechidis et al. 2011, Algorithm 1)
def test_choose_takes_the_subset_that_wants_the_item_most_then_the_most_room():
    """Golden cases of the paper's choice: max desired count of the label, then max desired images, then a coin."""
    import random

    from tailtag.split.iterative import _choose

    coin = random.Random(0)
    assert _choose([2.0, 0.5, 1.0], [1, 9, 9], coin) == 0  # wants it most, whatever the room
    assert _choose([-1.0, -3.0], [0, 5], coin) == 0  # over-full on the label: still the least over
    assert _choose([1.0, 1.0, 0.0], [3, 4, 10], coin) == 1  # tie on the label: most room among the tied
    assert {_choose([1.0, 1.0], [2, 2], random.Random(s)) for s in range(20)} == {0, 1}  # full tie: a coin


def _greedy_only(monkeypatch, matrix, fractions, seed):
    """The assignment of the greedy pass, with the size repair and the swap refinement after it switched off."""
    import tailtag.split.iterative as iterative

    monkeypatch.setattr(iterative, "repair_sizes", lambda *args: None)
    monkeypatch.setattr(iterative, "improve_by_swaps", lambda *args: None)
    return iterative_stratification(matrix, fractions, seed=seed)


@pytest.mark.parametrize("seed", range(5))
def test_greedy_pass_alone_spreads_each_label_exactly(monkeypatch, seed):
    """Images with one label each, every label count a multiple of k: placing each positive where the label is
    wanted most gives every subset exactly its share of every label before any refinement runs."""
    rng = np.random.default_rng(seed)
    counts = 3 * rng.integers(1, 6, size=7)  # 7 labels, 3..15 positives each, multiples of 3
    labels = rng.permutation(np.repeat(np.arange(7), counts))
    matrix = sp.csr_matrix((np.ones(labels.size, np.int64), (np.arange(labels.size), labels)), shape=(labels.size, 7))
    assigned = _greedy_only(monkeypatch, matrix, [1 / 3, 1 / 3, 1 / 3], seed)
    per_subset = np.stack([np.bincount(labels[assigned == j], minlength=7) for j in range(3)])
    assert (per_subset == counts // 3).all(), per_subset


def test_greedy_pass_alone_golden_two_thirds(monkeypatch):
    """6 positives of one label and fractions (2/3, 1/3): the greedy pass alone gives 4 and 2."""
    matrix = sp.csr_matrix(np.ones((6, 1), dtype=np.int64))
    for seed in range(5):
        assigned = _greedy_only(monkeypatch, matrix, [2 / 3, 1 / 3], seed)
        assert np.bincount(assigned, minlength=2).tolist() == [4, 2]

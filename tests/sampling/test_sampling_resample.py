"""Shuffle, label-powerset ROS, class-aware, repeat-factor and weighted sampling."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from tailtag.errors import OptionError
from tailtag.sampling import (
    ClassAwareSampler,
    PowersetROS,
    RepeatFactorSampler,
    ShuffleSampler,
    WeightedSampler,
    label_combinations,
)
from tailtag.sampling.resample import cap_for_epoch


def from_rows(rows: list[list[int]], n_labels: int) -> sp.csr_matrix:
    dense = np.zeros((len(rows), n_labels), dtype=np.uint8)
    for i, cols in enumerate(rows):
        dense[i, cols] = 1
    return sp.csr_matrix(dense)


def long_tail(n: int = 300, seed: int = 0) -> sp.csr_matrix:
    """(n, 6) long-tailed matrix: label frequencies 0.5 .. 0.02, column 5 empty, some rows unlabeled."""
    rng = np.random.default_rng(seed)
    dense = rng.random((n, 6)) < np.array([0.5, 0.3, 0.15, 0.06, 0.02, 0.0])
    dense[:3, 4] = True
    return sp.csr_matrix(dense.astype(np.uint8))


def single_label(sizes: list[int]) -> sp.csr_matrix:
    return from_rows([[c] for c, k in enumerate(sizes) for _ in range(k)], len(sizes))


# [a], [a], [a], [b], [a, b], []: four label combinations of sizes 3, 1, 1, 1
TINY = from_rows([[0], [0], [0], [1], [0, 1], []], 2)


def test_shuffle_draws_every_image_once():
    s = ShuffleSampler(TINY, seed=1)
    assert sorted(s.sample(4).tolist()) == list(range(6))
    assert s.expected_multiplicity().tolist() == [1.0] * 6


def test_label_combinations_golden():
    ids, combos = label_combinations(TINY)
    assert ids.tolist() == [0, 0, 0, 1, 2, 3]
    assert combos == [(0,), (1,), (0, 1), ()]


def test_powerset_ros_raises_every_combination_to_the_largest_exactly():
    s = PowersetROS(TINY, seed=0)
    assert s.combination_sizes_.tolist() == [3, 1, 1, 1] and s.target_size_ == 3
    for epoch in range(20):
        indices = s.sample(epoch)
        assert np.bincount(s.combination_ids_[indices]).tolist() == [3, 3, 3, 3]
        assert set(indices.tolist()) == set(range(6))  # originals are kept, duplicates are added
    np.testing.assert_allclose(s.expected_multiplicity(), [1, 1, 1, 3, 3, 3])


def test_powerset_ros_on_a_long_tail_equalises_all_combinations():
    s = PowersetROS(long_tail(), seed=2)
    counts = np.bincount(s.combination_ids_[s.sample()], minlength=len(s.combinations_))
    assert len(s.combinations_) > 5 and set(counts.tolist()) == {int(s.combination_sizes_.max())}
    assert () in s.combinations_  # unlabeled images are their own combination


def test_powerset_ros_target_size_caps_without_undersampling():
    s = PowersetROS(TINY, seed=0, target_size=2)
    assert np.bincount(s.combination_ids_[s.sample()]).tolist() == [3, 2, 2, 2]


def test_powerset_ros_refuses_an_epoch_blown_up_by_many_rare_combinations_and_suggests_a_cap():
    # 1,000 images share one label set; 300 more each have a label set of their own (label 0 with label j).
    rows = [[0]] * 1000 + [[0, j] for j in range(1, 301)]
    matrix = from_rows(rows, 301)
    with pytest.raises(
        OptionError, match=r"(?s)301 label combinations .* epoch of 301,000 draws, 232x .*target_size: 9\b"
    ):
        PowersetROS(matrix, seed=0)
    capped = PowersetROS(matrix, seed=0, target_size=9)  # the suggested cap: epoch <= 3x the 1,300 images
    assert len(capped.sample(0)) == 1000 + 300 * 9 <= 3 * 1300
    assert len(PowersetROS(matrix, seed=0, target_size=10).sample(0)) > 3 * 1300


def test_cap_for_epoch_is_the_largest_target_within_the_budget():
    sizes = np.array([50, 5, 1, 1])
    assert (
        cap_for_epoch(sizes, 57) == 1
        and cap_for_epoch(sizes, 59) == 2
        and cap_for_epoch(sizes, 61) == 3
        and cap_for_epoch(sizes, 10_000) == 50
    )


def test_powerset_ros_without_redraw_keeps_the_multiset_and_reshuffles():
    s = PowersetROS(TINY, seed=0, redraw=False)
    a, b = s.sample(0), s.sample(1)
    assert sorted(a.tolist()) == sorted(b.tolist()) and not np.array_equal(a, b)


def test_powerset_ros_warns_when_the_epoch_explodes():
    matrix = from_rows([[0]] * 100 + [[1, j] for j in range(2, 22)], 22)  # 1 big and 20 singleton combinations
    with pytest.warns(
        UserWarning, match=r"21 label combinations raised to 100 images each make an epoch of 2100 draws, 18x"
    ):
        PowersetROS(matrix)


def test_class_aware_cycles_classes_and_images_exactly():
    s = ClassAwareSampler(single_label([100, 20, 5]), seed=3, num_samples=3000)
    indices = s.sample()
    assert np.bincount(s.classes_).tolist() == [1000, 1000, 1000]
    np.testing.assert_array_equal(s.matrix[indices].indices, s.classes_)  # each draw carries its class
    # per-class lists are walked in shuffled passes: every image of a class comes up equally often
    assert set(np.bincount(indices, minlength=125)[:100].tolist()) == {10}
    assert set(np.bincount(indices, minlength=125)[100:120].tolist()) == {50}
    assert set(np.bincount(indices, minlength=125)[120:].tolist()) == {200}


def test_class_aware_multilabel_draws_classes_uniformly_and_keeps_negatives_as_a_class():
    with pytest.warns(UserWarning, match=r"1 of 6 label columns have no positive image .*columns 5"):
        s = ClassAwareSampler(long_tail(), seed=0, num_samples=1000)
    assert s.class_columns_.tolist() == [0, 1, 2, 3, 4, -1]
    indices = s.sample()
    assert set(np.bincount(s.classes_ + 1).tolist()) <= {166, 167}  # 1000 draws over 6 classes
    labeled = s.classes_ >= 0
    assert np.all(s.matrix[indices[labeled], s.classes_[labeled]].A1 == 1)
    assert np.all(np.diff(s.matrix.indptr)[indices[~labeled]] == 0)


def test_class_aware_can_skip_unlabeled_images():
    matrix = long_tail()[:, :5]
    unlabeled = np.flatnonzero(np.diff(matrix.indptr) == 0)
    with pytest.warns(UserWarning, match=rf"{len(unlabeled)} images with no label are never drawn"):
        s = ClassAwareSampler(matrix, negatives="skip", num_samples=2000)
    assert not set(s.sample().tolist()) & set(unlabeled.tolist())
    with pytest.raises(OptionError, match="no image has a label"):
        ClassAwareSampler(sp.csr_matrix((4, 2), dtype=np.uint8), negatives="skip")


def test_repeat_factor_golden_integer_factors():
    # 96 images of A (f=0.75), 16 of B (f=0.125), 16 unlabeled; t=0.5: r_A = 1, r_B = sqrt(4) = 2
    matrix = from_rows([[0]] * 96 + [[1]] * 16 + [[]] * 16, 2)
    s = RepeatFactorSampler(matrix, threshold=0.5)
    assert s.label_factors_.tolist() == [1.0, 2.0]
    for epoch in range(3):
        counts = np.bincount(s.sample(epoch), minlength=128)
        assert len(s.indices_) == 144 and set(counts[96:112].tolist()) == {2}
        assert set(counts[:96].tolist()) == {1} and set(counts[112:].tolist()) == {1}


def test_repeat_factor_default_threshold_and_stochastic_rounding():
    matrix = long_tail()
    s = RepeatFactorSampler(matrix, seed=1)
    freq = np.bincount(matrix.indices, minlength=6) / 300
    assert s.threshold_ == pytest.approx(freq[freq > 0].mean())
    np.testing.assert_allclose(s.label_factors_[:5], np.maximum(1, np.sqrt(s.threshold_ / freq[:5])))
    expected = s.factors_.sum()
    lengths = np.array([len(s.sample(e)) for e in range(300)])
    assert np.all(lengths >= np.floor(s.factors_).sum()) and np.all(lengths <= np.ceil(s.factors_).sum())
    assert abs(lengths.mean() - expected) < 4 * lengths.std() / np.sqrt(300) + 1e-9
    rare = matrix[:, 4].toarray().ravel() == 1
    assert s.factors_[rare].min() > 2 and np.all(s.factors_[np.diff(matrix.indptr) == 0] == 1)


def test_weighted_given_weights_match_the_draw_distribution():
    s = WeightedSampler(TINY[:4], seed=0, weights=[1, 2, 3, 4], num_samples=40_000)
    freq = np.bincount(s.sample(), minlength=4) / 40_000
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.3, 0.4], atol=0.01)
    np.testing.assert_allclose(s.expected_multiplicity(), [4000, 8000, 12000, 16000])


@pytest.mark.parametrize(
    ("mode", "reduce", "weights"),
    [
        ("inverse_freq", "mean", [1 / 4, 1 / 4, 1 / 4, 1 / 2, 3 / 8, 1]),
        ("inverse_freq", "max", [1 / 4, 1 / 4, 1 / 4, 1 / 2, 1 / 2, 1]),
        ("sqrt_inverse_freq", "mean", [1 / 2, 1 / 2, 1 / 2, 2**-0.5, (1 / 2 + 2**-0.5) / 2, 1]),
    ],
)
def test_weighted_label_weights_golden(mode, reduce, weights):
    # label counts a=4, b=2; the one unlabeled image is a group of 1
    s = WeightedSampler(TINY, mode=mode, reduce=reduce)
    np.testing.assert_allclose(s.probabilities_, np.array(weights) / np.sum(weights))


def test_weighted_without_replacement_draws_distinct_images():
    s = WeightedSampler(long_tail(), seed=0, num_samples=100, replacement=False)
    assert len(set(s.sample().tolist())) == 100
    with pytest.raises(OptionError, match="'num_samples' parameter of weighted must be <= 3 .* Got 4"):
        WeightedSampler(TINY[:4], weights=[1, 0, 2, 3], num_samples=4, replacement=False)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weights": [1, 2, 3]}, r"'weights' parameter of weighted must have shape \(6,\). Got \(3,\)"),
        ({"weights": [1, -1, 1, np.nan, 1, 1]}, "must be finite and >= 0. Got 2 bad entries, first -1.0 at row 1"),
        ({"weights": [0] * 6}, "must have a positive sum"),
        ({"weights": [1] * 6, "mode": "inverse_freq"}, "give either 'weights' or 'mode', not both"),
    ],
)
def test_weighted_rejects_bad_weights(kwargs, match):
    with pytest.raises(OptionError, match=match):
        WeightedSampler(TINY, **kwargs)


def test_no_warning_on_clean_data():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for cls in (ShuffleSampler, PowersetROS, ClassAwareSampler, RepeatFactorSampler, WeightedSampler):
            cls(TINY, seed=0).sample()

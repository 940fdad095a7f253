"""ML-ROS and ML-RUS (Charte et al. 2015): measures, golden runs of the listings, and their edge cases."""

import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from tailtag.sampling import MLROS, MLRUS, mean_imbalance_ratio
from tailtag.sampling import irlbl as imbalance_ratios  # the per-label IRLbl (renamed: one meaning per name)
from tailtag.sampling.mlresample import ir_summary


def from_rows(rows: list[list[int]], n_labels: int) -> sp.csr_matrix:
    dense = np.zeros((len(rows), n_labels), dtype=np.uint8)
    for i, cols in enumerate(rows):
        dense[i, cols] = 1
    return sp.csr_matrix(dense)


def counts_of(matrix: sp.csr_matrix, indices: np.ndarray) -> list[int]:
    return np.bincount(matrix[indices].indices, minlength=matrix.shape[1]).tolist()


# label 0 on 900 images, labels 1..4 on 20 each, 20 unlabeled: IRLbl [1, 45, 45, 45, 45], MeanIR 36.2
ROS_DATA = from_rows([[0]] * 900 + [[k] for k in range(1, 5) for _ in range(20)] + [[]] * 20, 5)
# labels 0, 1, 2 on 80, 15, 5 images: IRLbl [1, 5.33, 16], MeanIR 7.44; majority labels 0 and 1
RUS_DATA = from_rows([[0]] * 80 + [[1]] * 15 + [[2]] * 5, 3)


def test_imbalance_measures_golden():
    ratios = imbalance_ratios(np.array([10, 5, 2, 0]))
    np.testing.assert_allclose(ratios[:3], [1, 2, 5])
    assert math.isnan(ratios[3]) and mean_imbalance_ratio(np.array([10, 5, 2, 0])) == pytest.approx(8 / 3)
    assert mean_imbalance_ratio(np.array([3, 3])) == 1.0 and math.isnan(mean_imbalance_ratio(np.array([0, 0])))


def test_ml_ros_clones_minority_bags_round_robin_up_to_exactly_p_percent():
    s = MLROS(ROS_DATA, seed=0, percentage=1)
    assert s.mean_ir_ == pytest.approx(36.2) and s.minority_labels_.tolist() == [1, 2, 3, 4] and s.budget_ == 10
    for epoch in range(5):
        indices = s.sample(epoch)
        # passes over bags 1..4 (in random order) clone one each: 4 + 4 + 2 = 10 clones
        counts = counts_of(ROS_DATA, indices)
        assert len(indices) == 1010 and counts[0] == 900 and sorted(counts[1:]) == [22, 22, 23, 23]
        assert np.all(np.bincount(indices, minlength=1000)[:900] == 1)  # majority images are never cloned
    assert ir_summary(ROS_DATA[s.indices_])[1] < s.mean_ir_


def test_ml_ros_stops_when_every_minority_label_reaches_mean_ir():
    s = MLROS(ROS_DATA, seed=0, percentage=25)
    with pytest.warns(
        UserWarning, match=r"ml_ros: cloned 20 of the 250 images asked .* reached MeanIR \(MeanIR = 36.2\)"
    ):
        indices = s.sample()
    # a bag leaves once 900 / count <= 36.2, i.e. after 5 clones (count 25)
    assert len(indices) == 1020 and counts_of(ROS_DATA, indices) == [900, 25, 25, 25, 25]


def test_ml_rus_deletes_from_majority_bags_until_they_stop_being_majority():
    s = MLRUS(RUS_DATA, seed=0, percentage=20)
    assert s.majority_labels_.tolist() == [0, 1] and s.budget_ == 20
    for epoch in range(5):
        indices = s.sample(epoch)
        # bag 1 leaves after its 5th deletion (75 / 10 >= 7.44); bag 0 (IRLbl 1) takes the other 10
        assert len(indices) == 80 and counts_of(RUS_DATA, indices) == [65, 10, 5]
        assert len(set(indices.tolist())) == 80 and set(range(95, 100)) <= set(indices.tolist())


def test_ml_rus_never_deletes_images_carrying_a_minority_label():
    # label 0 (majority) co-occurs with minority label 2 on images 80..89
    matrix = from_rows([[0]] * 80 + [[0, 2]] * 10 + [[1]] * 15, 3)
    s = MLRUS(matrix, seed=0, percentage=20)
    assert s.minority_labels_.tolist() == [1, 2] and s.majority_labels_.tolist() == [0]
    for epoch in range(10):
        indices = s.sample(epoch)
        assert len(indices) == 105 - 21 and set(range(80, 105)) <= set(indices.tolist())
    bare = MLRUS(matrix, seed=0, percentage=20, protect_minority=False)
    lost = [len(set(range(80, 90)) - set(bare.sample(e).tolist())) for e in range(10)]
    assert sum(lost) > 0  # the listing as printed does delete them


def test_ml_rus_warns_when_the_budget_cannot_be_spent():
    s = MLRUS(RUS_DATA, seed=0, percentage=100)
    with pytest.warns(UserWarning, match="ml_rus: deleted 84 of the 100 images asked"):
        indices = s.sample()
    # bag 1 stops at 10 images; bag 0 alone is label 0, which stays the largest (IRLbl 1) until its last image
    assert counts_of(RUS_DATA, indices) == [1, 10, 5]


def test_balanced_data_warns_and_gives_a_plain_shuffle():
    matrix = from_rows([[0], [1], [2]] * 10, 3)
    with pytest.warns(UserWarning, match="ml_ros: no minority label .* plain shuffle of the 30 images"):
        s = MLROS(matrix, seed=0)
    assert sorted(s.sample().tolist()) == list(range(30))
    with pytest.warns(UserWarning, match="ml_rus: no majority label"):
        MLRUS(matrix)


def test_empty_label_columns_are_ignored_with_a_warning():
    matrix = sp.hstack([RUS_DATA, sp.csr_matrix((100, 1), dtype=np.uint8)]).tocsr()
    with pytest.warns(UserWarning, match=r"ml_rus: 1 of 4 label columns have no positive image .*columns 3"):
        s = MLRUS(matrix, seed=0, percentage=20)
    assert math.isnan(s.irlbl_[3]) and s.mean_ir_ == pytest.approx((1 + 80 / 15 + 16) / 3)


def test_without_redraw_the_resample_is_fixed_across_epochs():
    s = MLRUS(RUS_DATA, seed=0, percentage=20, redraw=False)
    a, b = s.sample(0), s.sample(1)
    assert sorted(a.tolist()) == sorted(b.tolist()) and not np.array_equal(a, b)
    redrawn = MLRUS(RUS_DATA, seed=0, percentage=20)
    assert sorted(redrawn.sample(0).tolist()) != sorted(redrawn.sample(1).tolist())


def test_expected_label_counts_raise_minority_labels():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        after = MLROS(ROS_DATA, seed=0, percentage=1).expected_label_counts()
    # the last, partial pass picks 2 of the 4 bags at random: 22.5 each on average (8 Monte-Carlo epochs)
    assert after[0] == 900 and after[1:].sum() == 90 and np.all((after[1:] >= 22) & (after[1:] <= 23))

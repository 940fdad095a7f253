"""`split_table`: names, folds, groups, option errors and the warnings that carry numbers."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from tailtag.errors import LabelFileError, OptionError
from tailtag.split import parse_fractions, split_table


def test_default_is_train_val_test_70_15_15(make_matrix, make_table):
    split = split_table(make_table(make_matrix(400, 10)))
    assert split.names == ("train", "val", "test")
    assert split.sizes.tolist() == [280, 60, 60]
    indices = split.indices()
    assert sorted(np.concatenate(list(indices.values())).tolist()) == list(range(400))


def test_two_fractions_give_train_and_val(make_matrix, make_table):
    split = split_table(make_table(make_matrix(100, 5)), fractions=(0.8, 0.2))
    assert split.names == ("train", "val") and split.sizes.tolist() == [80, 20]


def test_folds_are_named_and_cover(make_matrix, make_table):
    split = split_table(make_table(make_matrix(97, 8)), folds=4, seed=2)
    assert split.names == ("fold_1", "fold_2", "fold_3", "fold_4")
    assert split.sizes.tolist() == [25, 24, 24, 24]
    assert np.allclose(split.fractions, 0.25)


def test_group_column_keeps_groups_together(make_matrix, make_table):
    groups = np.array([f"patient{i // 4}" for i in range(200)], dtype=object)
    table = make_table(make_matrix(200, 6, seed=1), meta={"patient": groups})
    split = split_table(table, group_column="patient", seed=3)
    for g in np.unique(groups):
        assert len(set(split.assignment[groups == g].tolist())) == 1
    assert split.group_column == "patient"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"fractions": (0.7, 0.2)}, OptionError, r"--fractions: the fractions must sum to 1, got 0.7,0.2 \(sum 0.9\)"),
        ({"fractions": (0.5, 0.3, 0.1, 0.1)}, OptionError, "--fractions: expected 2 .* or 3 .* got 4"),
        ({"fractions": (1.0,)}, OptionError, "--fractions: expected 2"),
        ({"fractions": (0.9, 0.2, -0.1)}, OptionError, "every fraction must be a number > 0"),
        ({"fractions": (0.5, 0.5), "folds": 3}, OptionError, "cannot be used together"),
        ({"folds": 1}, OptionError, "--folds: expected an integer >= 2, got 1"),
        ({"folds": 0}, OptionError, "--folds"),
        ({"folds": 50}, OptionError, "--folds 50: 50 subsets need at least 50 images, the table has 20"),
        ({"fractions": (0.98, 0.01, 0.01)}, OptionError, "val, test would get 0 of 20 images"),
        ({"group_column": "site"}, OptionError, "--group-column: .* has no column 'site'"),
        ({"seed": -1}, OptionError, "--seed"),
        ({"order": 3}, OptionError, "--order"),
    ],
)
def test_option_errors_name_the_flag(make_matrix, make_table, kwargs, error, match):
    with pytest.raises(error, match=match):
        split_table(make_table(make_matrix(20, 4), source="labels.csv"), **kwargs)


def test_parse_fractions():
    assert parse_fractions("0.7,0.15,0.15") == (0.7, 0.15, 0.15)
    with pytest.raises(OptionError, match="--fractions: expected comma-separated numbers .* got '70%,30%'"):
        parse_fractions("70%,30%")


def test_empty_group_values_are_a_label_file_error(make_matrix, make_table):
    groups = np.array(["a", "", None, "b"] * 5, dtype=object)
    table = make_table(make_matrix(20, 3), meta={"g": groups}, source="labels.csv")
    with pytest.raises(LabelFileError, match=r"labels.csv: group column 'g' is empty for 10 images \(first: img/00001"):
        split_table(table, group_column="g")


def test_empty_table_is_an_error(make_table):
    with pytest.raises(LabelFileError, match="no images"):
        split_table(make_table(sp.csr_matrix((0, 3), dtype=np.uint8)))


def test_rare_labels_warn_with_their_counts(make_table):
    dense = np.zeros((30, 3), dtype=np.uint8)
    dense[:20, 0] = 1
    dense[0, 1] = 1  # l1: one positive
    dense[:2, 2] = 1  # l2: two positives
    with pytest.warns(
        UserWarning, match=r"2 of 3 labels are on fewer images than the 3 subsets .* 'l1' \(1\), 'l2' \(2\)"
    ):
        split_table(make_table(sp.csr_matrix(dense)))


def test_no_warning_when_every_label_can_be_everywhere(make_matrix, make_table):
    dense = np.zeros((30, 2), dtype=np.uint8)
    dense[::2, 0] = 1
    dense[1::2, 1] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        split_table(make_table(sp.csr_matrix(dense)))


def test_a_group_that_breaks_the_fractions_warns_with_numbers(make_matrix, make_table):
    groups = np.array(["big"] * 80 + [f"g{i}" for i in range(20)], dtype=object)
    table = make_table(make_matrix(100, 4, seed=2), meta={"site": groups})
    with pytest.warns(
        UserWarning,
        match=r"the 'site' groups are too large for the fractions asked: got train 80 "
        r"\(0.800\), .* asked train 70, val 15, test 15; largest groups: 'big' \(80 images\)",
    ):
        split = split_table(table, group_column="site")
    assert len(set(split.assignment[:80].tolist())) == 1


def test_small_groups_split_without_warning(make_matrix, make_table):
    groups = np.array([f"g{i // 3}" for i in range(300)], dtype=object)
    table = make_table(make_matrix(300, 4, seed=2), meta={"site": groups})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        split = split_table(table, group_column="site")
    assert np.abs(split.sizes - [210, 45, 45]).max() <= 3


def test_rare_labels_count_groups_when_grouped(make_table):
    dense = np.zeros((12, 2), dtype=np.uint8)
    dense[:, 0] = 1
    dense[:3, 1] = 1  # three positive images, but all of one group
    groups = np.array(["a", "a", "a", "b", "c", "d"] * 2, dtype=object)
    groups[6:] = ["e", "f", "g", "h", "i", "j"]
    table = make_table(sp.csr_matrix(dense), meta={"g": groups})
    with pytest.warns(UserWarning, match=r"1 of 2 labels are on fewer groups than the 3 subsets .* 'l1' \(1\)"):
        split_table(table, group_column="g")


def test_labels_without_positives_warn_separately(make_table):
    dense = np.zeros((9, 2), dtype=np.uint8)
    dense[:, 0] = 1
    with pytest.warns(UserWarning, match=r"1 of 2 labels have no positive image at all: 'l1'"):
        split_table(make_table(sp.csr_matrix(dense)))

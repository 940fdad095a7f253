"""Long-tailed subsets: profile formulas, exact single-label counts, multi-label invariants, leakage, errors."""

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from tailtag.errors import OptionError
from tailtag.labels import LabelTable
from tailtag.labels.readers import read_labels
from tailtag.split.longtail import (
    greedy_fill,
    make_longtail,
    profile_fractions,
    ratio_fractions,
    resolve_order,
    target_counts,
)

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def quiet_longtail(table, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_longtail(table, **kwargs)


def assert_disjoint(result):
    for a, b in ((result.train, result.test), (result.train, result.val), (result.val, result.test)):
        assert np.intersect1d(a, b).size == 0


@pytest.fixture(scope="module")
def demo_table(tmp_path_factory):
    from tailtag.demo import make_demo_dataset

    labels = make_demo_dataset(tmp_path_factory.mktemp("demo"), n_images=600, size=32, seed=3)
    return read_labels(labels)


@pytest.fixture
def single_label_table(tmp_path):
    """Tags CSV, 10 classes with 60 + 5 j images each (shuffled), read through the real reader."""
    rng = np.random.default_rng(0)
    classes = [f"c{j}" for j in range(10) for _ in range(60 + 5 * j)]
    rng.shuffle(classes)
    path = tmp_path / "tags.csv"
    path.write_text("img_path,tags\n" + "".join(f"im{i:04d}.jpg,{c}\n" for i, c in enumerate(classes)))
    return read_labels(path)


# --- profiles -------------------------------------------------------------------------------------------


def test_exponential_profile_is_cui_formula():
    np.testing.assert_allclose(profile_fractions(5, "exp", 16.0), [1, 1 / 2, 1 / 4, 1 / 8, 1 / 16])
    k = np.arange(8)
    np.testing.assert_allclose(profile_fractions(8, "exp", 50.0), 50.0 ** (-k / 7))


def test_pareto_profile_endpoints_shape_and_limit():
    fractions = profile_fractions(10, "pareto", 100.0, pareto_alpha=6.0)
    assert fractions[0] == pytest.approx(1.0) and fractions[-1] == pytest.approx(1 / 100)
    assert np.all(np.diff(fractions) < 0)
    c = 100.0 ** (1 / 7) - 1
    np.testing.assert_allclose(fractions, (1 + c * np.arange(10) / 9) ** -7.0)
    # Pareto is convex in the rank: it drops faster than the exponential at the head
    assert np.all(fractions[1:-1] < profile_fractions(10, "exp", 100.0)[1:-1])
    # heavy-shape limit is the exponential profile
    np.testing.assert_allclose(profile_fractions(10, "pareto", 100.0, 1e6), profile_fractions(10, "exp", 100.0), 1e-4)


def test_target_counts_floor_min_count_and_auto_head():
    fractions = profile_fractions(4, "exp", 8.0)
    targets, n_max = target_counts(fractions, np.array([100, 100, 100, 100]), head_count=40, min_count=6)
    assert n_max == 40 and targets.tolist() == [40, 20, 10, 6]
    # auto: the largest head whose targets all fit; the third rank (1/4) binds at 30 -> 120
    targets, n_max = target_counts(fractions, np.array([500, 500, 30, 500]))
    assert n_max == 120 and targets.tolist() == [120, 60, 30, 15]


def test_ratio_fractions_and_errors():
    np.testing.assert_allclose(ratio_fractions([19, 17, 1], 3), [1, 17 / 19, 1 / 19])
    with pytest.raises(OptionError, match=r"--ratios: expected one ratio per label \(4\); got 3[\s\S]*fix: give 4"):
        ratio_fractions([3, 2, 1], 4)
    with pytest.raises(OptionError, match="--ratios: every ratio must be a positive number"):
        ratio_fractions([3, 0, 1], 3)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"imbalance_factor": 0.5}, r"--imbalance-factor: must be >= 1.*got 0.5[\s\S]*fix"),
        ({"pareto_alpha": 0.0, "profile": "pareto"}, r"--pareto-alpha: must be > 0"),
        ({"profile": "zipf"}, r"--profile: expected one of exp, pareto; got 'zipf'"),
    ],
)
def test_profile_errors_name_the_flag(kwargs, pattern):
    with pytest.raises(OptionError, match=pattern):
        profile_fractions(5, **kwargs)


def test_resolve_order_frequency_given_and_names():
    names, counts = ["a", "b", "c"], np.array([5, 9, 1])
    assert resolve_order(names, counts, "frequency", np.random.default_rng(0)).tolist() == [1, 0, 2]
    assert resolve_order(names, counts, "given", np.random.default_rng(0)).tolist() == [0, 1, 2]
    assert resolve_order(names, counts, "c,a,b", np.random.default_rng(0)).tolist() == [2, 0, 1]
    assert sorted(resolve_order(names, counts, "random", np.random.default_rng(0)).tolist()) == [0, 1, 2]
    with pytest.raises(OptionError, match=r"--order.*unknown: \['x'\], missing: \['b'\][\s\S]*fix: labels are a, b, c"):
        resolve_order(names, counts, "c,a,x", np.random.default_rng(0))


# --- single-label: exact counts ---------------------------------------------------------------------------


def test_single_label_exact_counts_with_ratios(single_label_table):
    ratios = [19, 17, 15, 13, 11, 9, 7, 5, 3, 1]
    result = make_longtail(single_label_table, test_per_class=10, val_per_class=5, ratios=ratios, seed=1)
    assert result.test_counts.tolist() == [10] * 10 and result.val_counts.tolist() == [5] * 10
    # given order with ratios: column j gets ratio j; the head (c0: 60 - 15 = 45 left) binds n_max at 45
    assert result.head_count == 45
    expected = np.floor(45 * np.array(ratios) / 19 + 1e-9).astype(int)
    assert result.targets.tolist() == expected.tolist()
    assert result.train_counts.tolist() == expected.tolist()
    assert result.achieved_imbalance_factor() == pytest.approx(expected[0] / expected[-1])
    assert_disjoint(result)
    assert len(result.train) == expected.sum() and not result.warnings


def test_single_label_exponential_frequency_order(single_label_table):
    result = make_longtail(single_label_table, test_per_class=10, imbalance_factor=20, head_count=50, seed=0)
    assert result.order.tolist() == list(range(9, -1, -1))  # c9 has the most images
    ranks = np.empty(10, dtype=int)
    ranks[result.order] = np.arange(10)
    expected = np.maximum(np.floor(50 * 20.0 ** (-ranks / 9) + 1e-9), 1).astype(int)
    assert result.train_counts.tolist() == expected.tolist()
    # floor(50 / 20) = 2 at the tail, as in Cui et al.'s int(n_max * f): small heads overshoot the factor
    assert result.achieved_imbalance_factor() == pytest.approx(25.0)


# --- multi-label ----------------------------------------------------------------------------------------


def test_demo_multilabel_invariants_and_reproducibility(demo_table):
    a = quiet_longtail(demo_table, test_per_class=4, val_per_class=2, imbalance_factor=20, seed=7)
    b = quiet_longtail(demo_table, test_per_class=4, val_per_class=2, imbalance_factor=20, seed=7)
    c = quiet_longtail(demo_table, test_per_class=4, val_per_class=2, imbalance_factor=20, seed=8)
    assert_disjoint(a)
    for name in ("train", "val", "test", "targets", "order"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.train, c.train)
    assert np.all(a.test_counts >= 4) and np.all(a.val_counts >= 2)
    # co-occurrence lets frequent labels overshoot in the test set, but not without bound
    assert np.median(a.test_counts) <= 2 * 4
    # every label reaches its target unless the pool ran out (the tail-first fill never stops early)
    assert np.all(a.train_counts >= np.minimum(a.targets, a.available))
    achieved = a.achieved_imbalance_factor()
    assert achieved is not None and 0.5 * 20 <= achieved <= 2 * 20


@pytest.mark.parametrize("seed", range(4))
def test_random_sparse_tables_properties(make_matrix, make_table, seed):
    matrix = make_matrix(800, 12, mean_labels=2.0, alpha=1.0, seed=seed, empty=0.05)
    table = make_table(matrix)
    result = quiet_longtail(table, test_per_class=5, imbalance_factor=10, min_count=2, seed=seed)
    assert_disjoint(result)
    assert set(result.train.tolist()) <= set(np.flatnonzero(table.labels_per_image() > 0).tolist())
    assert np.all(result.test_counts >= 5)
    assert np.all(result.targets >= 2)
    assert np.all(result.train_counts >= np.minimum(result.targets, result.available))
    assert result.train_counts[result.order[0]] == result.train_counts.max()


@pytest.mark.parametrize("seed", range(10))
def test_greedy_fill_avoids_full_labels_and_prefers_uncovered(seed):
    # for 'b', image 2 (b only) beats image 1 (a+b) once 'a' is full, whatever the seed's tie-breaking
    matrix = sp.csr_matrix(np.array([[1, 0], [1, 1], [0, 1]], dtype=np.uint8))
    rows = greedy_fill(matrix, np.array([1, 1]), np.array([0, 1]), np.ones(3, bool), np.random.default_rng(seed))
    assert np.asarray(matrix[rows].sum(axis=0)).ravel().tolist() == [1, 1]
    # test sets: the one image covering all three labels wins over the single-label ones
    matrix = sp.csr_matrix(np.array([[1, 0, 0], [1, 1, 1], [0, 1, 0], [0, 0, 1]], dtype=np.uint8))
    rng = np.random.default_rng(seed)
    rows = greedy_fill(matrix, np.ones(3, int), np.arange(3), np.ones(4, bool), rng, prefer_uncovered=True)
    assert rows.tolist() == [1]


def test_group_column_keeps_groups_out_of_training(make_matrix, make_table):
    matrix = make_matrix(400, 6, mean_labels=1.5, seed=2)
    groups = np.array([f"g{i // 4}" for i in range(400)], dtype=object)
    table = make_table(matrix, meta={"site": groups})
    result = quiet_longtail(table, test_per_class=5, imbalance_factor=5, group_column="site", seed=0)
    held = set(groups[result.test].tolist())
    assert not held & set(groups[result.train].tolist())
    assert result.excluded_by_group > 0
    with pytest.raises(OptionError, match=r"--group-column camera: not a column kept[\s\S]*fix"):
        make_longtail(table, test_per_class=5, group_column="camera")


def test_overshoot_and_shortfall_warn_with_numbers():
    # 'b' only ever appears with 'a'; after the test set, 20 'a'-only images are left, so 'a' = 30 needs 10 'a+b'
    # images (3 for b's own target, 7 more: the fill takes the 20 'a'-only images first)
    dense = np.zeros((60, 2), dtype=np.uint8)
    dense[:, 0] = 1
    dense[:40, 1] = 1
    table = LabelTable(np.array([f"{i}.jpg" for i in range(60)], dtype=object), ["a", "b"], sp.csr_matrix(dense))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = make_longtail(table, test_per_class=2, imbalance_factor=10, head_count=30, seed=0)
    assert [str(w.message) for w in caught] == result.warnings and len(result.warnings) == 2
    assert result.train_counts.tolist() == [30, 10] and result.targets.tolist() == [30, 3]
    assert "exceed their target through co-occurring labels (got/target): b 10/3" in result.warnings[0]
    assert "achieved imbalance factor 3.0 is below the 10 asked" in result.warnings[1]


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"test_per_class": 60}, r"--test-per-class 60 \+ --val-per-class 0: 1 labels .*c0 \(60\)[\s\S]*fix: .* 59"),
        ({"test_per_class": 30, "val_per_class": 30}, r"--val-per-class 30: .* labels have no more than 60"),
        ({"test_per_class": -1}, r"--test-per-class: must be an integer >= 0; got -1"),
        ({"test_per_class": 5, "imbalance_factor": 0.9}, r"--imbalance-factor: must be >= 1"),
        ({"test_per_class": 5, "ratios": [3, 2, 1]}, r"--ratios: expected one ratio per label \(10\); got 3"),
        ({"test_per_class": 5, "head_count": 0}, r"--head-count: must be >= 1"),
        ({"test_per_class": 5, "min_count": 0}, r"--min-count: must be >= 1"),
    ],
)
def test_impossible_requests_raise_with_flag_and_fix(single_label_table, kwargs, pattern):
    with pytest.raises(OptionError, match=pattern):
        make_longtail(single_label_table, **kwargs)


def test_label_tooling_does_not_import_torch():
    code = "import sys, tailtag.split.longtail; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.dataset
@pytest.mark.skipif(not (DATA / "miml" / "labels.csv").is_file(), reason="MIML data set not present")
def test_miml_imbalance_factor_50():
    table = read_labels(DATA / "miml" / "labels.csv")
    result = quiet_longtail(table, test_per_class=50, val_per_class=20, imbalance_factor=50, seed=0)
    assert_disjoint(result)
    assert np.all(result.test_counts >= 50) and np.all(result.test_counts <= 60)
    assert np.all(result.val_counts >= 20)
    assert np.all(result.train_counts >= result.targets)
    assert np.all(result.train_counts <= np.ceil(1.1 * result.targets) + 1)
    assert result.achieved_imbalance_factor() >= 50
    assert result.targets[result.order[0]] >= 300

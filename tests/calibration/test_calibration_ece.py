import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.calibration import calibration_curve

from tailtag.calibration import (
    PlattScaling,
    TemperatureScaling,
    _binning,
    expected_calibration_error,
    reliability_curve,
)
from tailtag.errors import OptionError, TailtagError


def reference_ece(targets, p, edges):
    """Straightforward loop over bins of one flat sample: sum_b |B_b| / n * |acc_b - conf_b|, bins (e_b, e_b+1]."""
    targets, p = np.ravel(targets), np.ravel(p)
    total = 0.0
    for b in range(len(edges) - 1):
        upper = p <= edges[b + 1] if b < len(edges) - 2 else np.ones(p.size, dtype=bool)
        lower = p > edges[b] if b > 0 else np.ones(p.size, dtype=bool)
        members = lower & upper
        if members.any():
            total += members.sum() / p.size * abs(targets[members].mean() - p[members].mean())
    return total


def random_case(seed, n=500, k=6, power=2.0):
    rng = np.random.default_rng(seed)
    p = rng.random((n, k)) ** power  # piled up near 0, as long-tailed scores are
    targets = (rng.random((n, k)) < np.sqrt(p)).astype(np.int8)  # under-confident: ECE well above 0
    return targets, p


def test_golden_two_by_two():
    result = expected_calibration_error([[1, 0], [0, 0]], [[0.9, 0.2], [0.3, 0.1]], n_bins=5)
    # bins of width 0.2, right-closed: {0.2, 0.1} -> |0 - 0.3|, {0.3} -> |0 - 0.3|, {0.9} -> |1 - 0.9|
    assert result.overall == pytest.approx((0.3 + 0.3 + 0.1) / 4)
    np.testing.assert_allclose(result.per_class, [(0.1 + 0.3) / 2, 0.3 / 2])
    assert result.macro == pytest.approx(0.2)  # label 1 has no positive: left out of the macro mean


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_reference_loop(seed, strategy):
    targets, p = random_case(seed)
    result = expected_calibration_error(targets, p, n_bins=10, strategy=strategy)
    qs = np.linspace(0, 1, 11)
    edges = qs if strategy == "uniform" else np.quantile(p, qs)
    assert result.overall == pytest.approx(reference_ece(targets, p, edges), abs=1e-12)
    for j in range(p.shape[1]):
        edges = qs if strategy == "uniform" else np.quantile(p[:, j], qs)
        assert result.per_class[j] == pytest.approx(reference_ece(targets[:, j], p[:, j], edges), abs=1e-12)
    assert result.macro == pytest.approx(result.per_class.mean())


def test_edges_and_ties_follow_right_closed_bins():
    p = np.array([[0.0], [0.2], [0.2], [0.4], [1.0], [0.6]])
    targets = np.array([[0], [1], [0], [1], [1], [0]])
    edges = np.linspace(0, 1, 6)
    assert expected_calibration_error(targets, p, n_bins=5).overall == pytest.approx(reference_ece(targets, p, edges))
    curve = reliability_curve(targets, p, n_bins=5)
    assert curve.bin_index.tolist() == [0, 1, 2, 4] and curve.count.tolist() == [3, 1, 1, 1]


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_reliability_matches_sklearn(strategy):
    # 2100 cells: (2100 - 1) * b / 12 is never an integer, so no edge sits exactly on a value (sklearn takes
    # np.percentile(p, 100 * q), which can differ from np.quantile(p, q) by an ulp)
    targets, p = random_case(3, n=300, k=7, power=3.0)
    curve = reliability_curve(targets, p, n_bins=12, strategy=strategy)
    prob_true, prob_pred = calibration_curve(targets.ravel(), p.ravel(), n_bins=12, strategy=strategy)
    np.testing.assert_allclose(curve.frequency, prob_true, rtol=1e-12)
    np.testing.assert_allclose(curve.confidence, prob_pred, rtol=1e-12)
    assert curve.count.sum() == p.size and len(curve.edges) == 13


def test_reliability_drops_empty_bins_like_sklearn():
    rng = np.random.default_rng(4)
    p = np.concatenate([rng.uniform(0.0, 0.1, 200), rng.uniform(0.8, 0.9, 50)])
    targets = (rng.random(250) < p).astype(int)
    curve = reliability_curve(targets, p, n_bins=10)  # 1-D: one label's curve
    prob_true, prob_pred = calibration_curve(targets, p, n_bins=10)
    assert curve.bin_index.tolist() == [0, 8]
    np.testing.assert_allclose(curve.frequency, prob_true)
    np.testing.assert_allclose(curve.confidence, prob_pred)


def test_pooled_quantile_selection_equals_np_quantile(monkeypatch):
    monkeypatch.setattr(_binning, "_DIRECT_QUANTILE_CELLS", 0)
    rng = np.random.default_rng(5)
    for stride, p in (
        (4, rng.random((97, 13))),
        (3, np.round(rng.random((60, 9)) * 5) / 5),  # heavy ties
        (50, rng.random((40, 6)) ** 4),  # stride above the row length: the sample is empty
    ):
        monkeypatch.setattr(_binning, "_SAMPLE_STRIDE", stride)
        got = _binning.pooled_quantiles(_binning.sorted_columns(p), 15)
        np.testing.assert_array_equal(got, np.quantile(p, np.linspace(0, 1, 16)))


def test_count_at_most_is_searchsorted_right():
    rng = np.random.default_rng(6)
    rows = np.sort(np.round(rng.random((5, 33)), 1), axis=1)
    edges = rng.random((5, 4))
    expected = np.array([np.searchsorted(r, e, side="right") for r, e in zip(rows, edges, strict=True)])
    np.testing.assert_array_equal(_binning.count_at_most(rows, edges), expected)


@pytest.mark.parametrize("method", [TemperatureScaling, PlattScaling])
def test_ece_drops_after_calibration_on_held_out_data(method):
    rng = np.random.default_rng(7)
    z = rng.normal(size=(6000, 5)) * 1.5 - 1.0
    targets = (rng.random(z.shape) < 1 / (1 + np.exp(-z))).astype(np.int8)
    p = 1 / (1 + np.exp(-3.0 * z))  # over-confident
    fitted = method().fit(targets[:3000], p[:3000])
    before = expected_calibration_error(targets[3000:], p[3000:])
    after = expected_calibration_error(targets[3000:], fitted.transform(p[3000:]))
    assert after.overall < 0.5 * before.overall and after.macro < 0.5 * before.macro
    assert (after.per_class < before.per_class).all()


def test_calibrated_sample_has_small_ece_and_sparse_targets_agree():
    rng = np.random.default_rng(8)
    p = rng.random((20000, 3))
    targets = (rng.random(p.shape) < p).astype(np.int8)
    dense = expected_calibration_error(targets, p)
    assert dense.overall < 0.01 and dense.per_class.max() < 0.02
    sparse = expected_calibration_error(sp.csr_matrix(targets), p)
    assert sparse.overall == dense.overall
    np.testing.assert_array_equal(sparse.per_class, dense.per_class)


def test_macro_without_positives_warns_and_to_dict():
    with pytest.warns(UserWarning, match="none of the 2 labels has a positive, so the macro ECE is NaN"):
        result = expected_calibration_error(np.zeros((3, 2)), np.full((3, 2), 0.25), n_bins=4)
    assert result.overall == pytest.approx(0.25) and np.isnan(result.macro)
    data = result.to_dict()
    assert data["macro"] is None and data["per_class"] == [0.25, 0.25] and data["strategy"] == "uniform"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_bins": 0}, OptionError, "The 'n_bins' parameter of expected_calibration_error must be an int >= 1"),
        ({"n_bins": 2.5}, OptionError, "'n_bins'.*Got 2.5 instead"),
        ({"strategy": "equal"}, OptionError, r"'strategy'.*\['uniform', 'quantile'\]. Got 'equal'"),
        ({"probabilities": np.full((2, 2), 1.5)}, TailtagError, r"must lie in \[0, 1\], got 1.5.*not logits"),
        ({"probabilities": np.zeros((2, 3))}, TailtagError, r"targets.shape=\(2, 2\) does not match"),
        ({"targets": np.zeros((0, 2)), "probabilities": np.zeros((0, 2))}, TailtagError, "at least one image"),
    ],
)
def test_errors(kwargs, error, match):
    args = {"targets": np.eye(2), "probabilities": np.full((2, 2), 0.5), **kwargs}
    with pytest.raises(error, match=match):
        expected_calibration_error(**args)

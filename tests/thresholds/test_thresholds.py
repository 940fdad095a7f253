import json
import warnings

import numpy as np
import pytest
from sklearn.metrics import f1_score

from tailtag.errors import LabelFileError, OptionError, TailtagError
from tailtag.thresholds import (
    STRATEGIES,
    GlobalThreshold,
    PerClassF1Threshold,
    PrecisionTargetThreshold,
    RecallTargetThreshold,
    TopKThreshold,
    create_thresholds,
    load_thresholds,
    save_thresholds,
    thresholds_from_dict,
)


def skewed_case(seed, n=600, k=12):
    """Each label has its own score scale, so the best cut differs per label and 0.5 suits few of them."""
    rng = np.random.default_rng(seed)
    prevalence = np.linspace(0.04, 0.4, k)
    targets = (rng.random((n, k)) < prevalence).astype(int)
    logits = rng.normal(size=(n, k)) + 2.0 * targets
    shift = np.linspace(-3.0, 1.5, k)  # under-confident rare labels, over-confident frequent ones
    return targets, 1 / (1 + np.exp(-(logits + shift)))


def test_per_class_golden():
    targets = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
    scores = np.array([[0.9, 0.2], [0.6, 0.1], [0.4, 0.8], [0.1, 0.7]])
    t = PerClassF1Threshold(shrinkage=0, min_positives=1).fit(targets, scores)
    np.testing.assert_allclose(t.thresholds_, [0.5, 0.75])  # midpoints of the perfect cuts
    np.testing.assert_array_equal(t.predict(scores), targets)


def test_global_micro_is_exact_optimum():
    targets, scores = skewed_case(0)
    t = GlobalThreshold().fit(targets, scores)
    best = f1_score(targets, t.predict(scores), average="micro")
    for cut in np.quantile(scores, np.linspace(0.01, 0.99, 99)):
        assert f1_score(targets, (scores >= cut).astype(int), average="micro") <= best + 1e-12


def test_global_macro_beats_grid():
    targets, scores = skewed_case(1)
    t = GlobalThreshold(average="macro").fit(targets, scores)
    best = f1_score(targets, t.predict(scores), average="macro")
    assert best >= max(f1_score(targets, (scores >= c).astype(int), average="macro") for c in (0.3, 0.5, 0.7))


def test_fallback_below_min_positives():
    targets, scores = skewed_case(2)
    targets[:, 0] = 0
    targets[:3, 0] = 1
    with pytest.warns(UserWarning, match=r"1 of 12 labels have fewer than min_positives=5 positives"):
        t = PerClassF1Threshold(min_positives=5).fit(targets, scores)
    assert t.thresholds_[0] == t.extra_["global_threshold"]
    assert t.extra_["fallback"].tolist() == [True] + [False] * 11


def test_shrinkage_is_monotone():
    targets, scores = skewed_case(3)
    distances = []
    for k in (0, 1, 5, 20, 100, 1e6):
        t = PerClassF1Threshold(shrinkage=k, min_positives=1).fit(targets, scores)
        distances.append(np.abs(t.thresholds_ - t.extra_["global_threshold"]))
    for closer, farther in zip(distances[1:], distances[:-1], strict=True):
        assert (closer <= farther + 1e-12).all()
    np.testing.assert_allclose(distances[-1], 0, atol=1e-3)
    # at fixed k, the weight n / (n + k) grows with positives
    n = np.array([1, 4, 40])
    assert np.all(np.diff(n / (n + 10.0)) > 0)


def test_per_class_beats_half_on_held_out():
    gains = []
    for seed in range(5):
        t_fit, s_fit = skewed_case(10 + seed)
        t_test, s_test = skewed_case(100 + seed)
        fitted = PerClassF1Threshold().fit(t_fit, s_fit)
        tuned = f1_score(t_test, fitted.predict(s_test), average="macro", zero_division=0)
        half = f1_score(t_test, (s_test >= 0.5).astype(int), average="macro", zero_division=0)
        gains.append(tuned - half)
    assert min(gains) > 0 and np.mean(gains) > 0.05


def test_precision_and_recall_targets():
    targets, scores = skewed_case(4, n=2000)
    p = PrecisionTargetThreshold(target=0.8).fit(targets, scores)
    r = RecallTargetThreshold(target=0.9).fit(targets, scores)
    pp, rp = p.predict(scores), r.predict(scores)
    for j in np.flatnonzero(~p.extra_["fallback"]):
        tp = (pp[:, j] & targets[:, j]).sum()
        assert tp / pp[:, j].sum() >= 0.8
        lower = p.thresholds_[j] - 1e-3  # one step more recall breaks the target or adds nothing
        assert (scores[:, j] >= lower).sum() == pp[:, j].sum() or _precision(targets[:, j], scores[:, j], lower) < 0.8
    for j in np.flatnonzero(~r.extra_["fallback"]):
        assert (rp[:, j] & targets[:, j]).sum() / targets[:, j].sum() >= 0.9


def _precision(t, s, cut):
    pred = s >= cut
    return (pred & (t > 0)).sum() / max(pred.sum(), 1)


def test_unreachable_precision_falls_back():
    targets = np.array([[1], [0], [1], [0], [1], [0]] * 2)
    scores = np.zeros((12, 1)) + 0.5  # one tie: precision 0.5 everywhere
    with pytest.warns(UserWarning, match="unreachable"):
        t = PrecisionTargetThreshold(target=0.9, min_positives=1).fit(targets, scores)
    assert t.extra_["reached"].tolist() == [False]


def test_top_k_bounds():
    scores = np.array([[0.9, 0.8, 0.7, 0.1], [0.2, 0.1, 0.05, 0.0], [0.6, 0.55, 0.5, 0.45]])
    targets = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]])
    t = TopKThreshold(min_tags=1, max_tags=2).fit(targets, scores)
    pred = t.predict(scores)
    assert pred.sum(axis=1).min() >= 1 and pred.sum(axis=1).max() <= 2
    exact = TopKThreshold(min_tags=2, max_tags=2).fit(targets, scores).predict(scores)
    np.testing.assert_array_equal(exact, [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0]])


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_json_round_trip(tmp_path, name):
    targets, scores = skewed_case(5)
    names = [f"label{j}" for j in range(12)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = create_thresholds(name).fit(targets, scores, names=names)
    path = save_thresholds(fitted, tmp_path / "thresholds.json")
    data = json.loads(path.read_text())
    assert data["version"] == 1 and data["strategy"] == name and data["names"] == names
    loaded = load_thresholds(path)
    assert type(loaded) is type(fitted) and loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.thresholds_, fitted.thresholds_)
    np.testing.assert_array_equal(loaded.predict(scores), fitted.predict(scores))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: create_thresholds("median"), "unknown threshold strategy 'median'; valid strategies: fixed, global"),
        (lambda: create_thresholds("global", avg="micro"), "threshold strategy 'global'.*avg"),
        (lambda: GlobalThreshold(average="mean").fit(np.eye(2), np.eye(2)), "'average' parameter.*Got 'mean'"),
        (lambda: PerClassF1Threshold(shrinkage=-1).fit(np.eye(2), np.eye(2)), "'shrinkage' parameter.*Got -1"),
        (lambda: TopKThreshold(min_tags=3, max_tags=2).fit(np.eye(2), np.eye(2)), "min_tags=3, max_tags=2"),
        (lambda: RecallTargetThreshold(target=1.5).fit(np.eye(2), np.eye(2)), r"'target'.*\[0.0, 1.0\]"),
    ],
)
def test_option_errors(make, match):
    with pytest.raises(OptionError, match=match):
        make()


def test_artifact_errors(tmp_path):
    fitted = GlobalThreshold().fit(np.eye(3), np.eye(3))
    with pytest.raises(TailtagError, match="key 'version' must be 1, got 2"):
        thresholds_from_dict({**fitted.to_dict(), "version": 2})
    with pytest.raises(TailtagError, match="key 'names' has 2 entries but 'thresholds' has 3"):
        thresholds_from_dict({**fitted.to_dict(), "names": ["a", "b"]})
    bad = tmp_path / "thresholds.json"
    bad.write_text("{\n  oops")
    with pytest.raises(LabelFileError, match=r"thresholds.json:2: not valid JSON"):
        load_thresholds(bad)
    with pytest.raises(TailtagError, match=r"scores must have shape \(N, 3\), got \(2, 4\)"):
        fitted.predict(np.zeros((2, 4)))
    with pytest.raises(TailtagError, match="not fitted yet"):
        GlobalThreshold().predict(np.zeros((2, 3)))


def test_fixed_threshold_fits_nothing():
    targets = np.array([[1, 0], [0, 1], [1, 1]])
    scores = np.array([[0.9, 0.2], [0.4, 0.6], [0.55, 0.45]])
    fitted = create_thresholds("fixed", value=0.5).fit(targets, scores)
    assert fitted.thresholds_.tolist() == [0.5, 0.5]
    assert fitted.predict(scores).tolist() == [[1, 0], [0, 1], [1, 0]]
    with pytest.raises(OptionError, match="'value'"):
        create_thresholds("fixed", value=1.5).fit(targets, scores)

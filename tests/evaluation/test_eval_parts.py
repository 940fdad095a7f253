"""The evaluation's building blocks on small generated data: error analysis, baselines, warnings, folds."""

from __future__ import annotations

import numpy as np
import pytest

from tailtag.evaluation.baselines import HEADLINE_KEYS, baseline_metrics
from tailtag.evaluation.checks import accuracy_warning, baseline_warnings, data_warnings
from tailtag.evaluation.cross_fit import fold_ids
from tailtag.evaluation.mistakes import co_confusion, confusion_counts, pick_labels, worst_mistakes


@pytest.fixture
def small():
    rng = np.random.default_rng(0)
    targets = (rng.random((200, 6)) < np.array([0.5, 0.3, 0.2, 0.1, 0.05, 0.02])).astype(np.uint8)
    scores = np.clip(targets * 0.5 + rng.random(targets.shape) * 0.6, 0, 1)
    return targets, scores, (scores >= 0.5).astype(np.uint8)


def test_confusion_counts_match_a_loop(small):
    targets, _, predictions = small
    counts = confusion_counts(targets, predictions)
    for j in range(targets.shape[1]):
        t, p = targets[:, j], predictions[:, j]
        assert counts["tp"][j] == sum(1 for a, b in zip(t, p, strict=True) if a and b)
        assert counts["fp"][j] == sum(1 for a, b in zip(t, p, strict=True) if not a and b)
        assert counts["fn"][j] == sum(1 for a, b in zip(t, p, strict=True) if a and not b)
        assert counts["tp"][j] + counts["fp"][j] + counts["fn"][j] + counts["tn"][j] == len(t)


def test_co_confusion_is_the_rate_of_false_b_given_a(small):
    targets, _, predictions = small
    columns = np.arange(targets.shape[1])
    rates = co_confusion(targets, predictions, columns)
    for a in range(6):
        for b in range(6):
            present = targets[:, a] == 1
            if a == b or not present.any():
                assert np.isnan(rates[a, b])
                continue
            expected = np.mean((predictions[present, b] == 1) & (targets[present, b] == 0))
            assert rates[a, b] == pytest.approx(expected)


def test_co_confusion_flags_a_systematic_confusion():
    targets = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
    predictions = np.array([[1, 1], [1, 1], [0, 1], [0, 0]])  # predicts label 1 whenever label 0 is present
    rates = co_confusion(targets, predictions, np.arange(2))
    assert rates[0, 1] == 1.0 and rates[1, 0] == 0.0


def test_pick_labels_keeps_the_most_wrong_columns(small):
    targets, _, predictions = small
    assert list(pick_labels(targets, predictions, 10)) == list(range(6))
    errors = (targets != predictions).sum(axis=0)
    picked = pick_labels(targets, predictions, 2)
    assert sorted(errors[picked]) == sorted(np.sort(errors)[-2:])


def test_worst_mistakes_are_ranked_by_score(small):
    targets, scores, predictions = small
    worst = worst_mistakes(targets, scores, predictions, 0, per_kind=3)
    fp = [item["score"] for item in worst["false_positives"]]
    fn = [item["score"] for item in worst["false_negatives"]]
    assert fp == sorted(fp, reverse=True) and fn == sorted(fn)
    for item in worst["false_positives"]:
        assert targets[item["row"], 0] == 0 and predictions[item["row"], 0] == 1
    for item in worst["false_negatives"]:
        assert targets[item["row"], 0] == 1 and predictions[item["row"], 0] == 0


def test_prior_baseline_with_per_class_thresholds_tags_everything(small):
    targets, _, _ = small
    prior = targets.mean(axis=0)
    result = baseline_metrics(targets, prior, strategy="per_class_f1")
    assert set(result) == {"prior", "all_negative"} and set(result["prior"]) == set(HEADLINE_KEYS)
    p = targets.mean(axis=0)
    assert result["prior"]["macro_f1"] == pytest.approx(np.mean(2 * p / (1 + p)))  # F1 of "always yes"
    assert result["prior"]["mAP"] == pytest.approx(p.mean())  # constant scores: AP = prevalence
    assert result["all_negative"]["macro_f1"] == 0.0
    assert result["all_negative"]["label_accuracy"] == pytest.approx(1 - targets.mean())


def test_top1_prior_baseline_predicts_the_most_frequent_label(small):
    targets, _, _ = small
    result = baseline_metrics(
        targets, targets.mean(axis=0), strategy="top_k", strategy_params={"min_tags": 1, "max_tags": 1}
    )
    expected_micro_precision = targets[:, 0].mean()  # always label 0
    tp = targets[:, 0].sum()
    micro = 2 * tp / (targets.sum() + len(targets))
    assert result["prior"]["micro_f1"] == pytest.approx(micro)
    assert expected_micro_precision > 0


def test_warnings_name_the_problem():
    model = {"macro_f1": 0.2, "mAP": 0.9, "label_accuracy": 0.95}
    baselines = {"prior": {"macro_f1": 0.3, "mAP": 0.1}, "all_negative": {"macro_f1": 0.0, "mAP": 0.1}}
    found = baseline_warnings(model, baselines)
    assert len(found) == 1 and "prior baseline on macro_f1" in found[0]
    assert "inflated by true negatives" in accuracy_warning(model)[0]
    assert accuracy_warning({"macro_f1": 0.8, "label_accuracy": 0.95}) == []
    found = data_warnings(["a", "b", "c"], np.array([0, 3, 50]), n_skipped=2)
    assert "no positive" in found[0] and "(a)" in found[0]
    assert "fewer than 5" in found[1] and "(b)" in found[1]
    assert "2 image(s)" in found[2]


def test_folds_are_balanced_and_seeded():
    folds = fold_ids(103, 5, seed=1)
    assert np.bincount(folds).tolist() in ([21, 21, 21, 20, 20],)
    assert np.array_equal(folds, fold_ids(103, 5, seed=1))
    assert not np.array_equal(folds, fold_ids(103, 5, seed=2))


def _calibrated_case(n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(-1.0, 2.0, size=(n, 5))
    probabilities = 1 / (1 + np.exp(-logits))
    targets = (rng.random((n, 5)) < probabilities).astype(np.uint8)
    return targets, probabilities


def test_auto_rule_picks_the_best_cross_fitted_candidate():
    from tailtag.evaluation.select import CANDIDATES, TIE, select_rule

    targets, probabilities = _calibrated_case()
    chosen, scores = select_rule(targets, probabilities)
    assert set(scores) == set(CANDIDATES)
    name = next(key for key, fit in CANDIDATES.items() if fit == chosen)
    assert scores[name] >= max(scores.values()) - TIE
    # Even calibrated scores are F1-optimal below 0.5 (at F1*/2: Lipton, Elkan & Naryanaswamy, ECML 2014)
    assert scores["temperature + global"] > scores["0.5"]
    shrunk = probabilities * 0.2  # every score below 0.5: the fixed rule predicts nothing
    chosen, scores = select_rule(targets, shrunk)
    assert scores["0.5"] == 0.0
    assert chosen["strategy"] != "fixed" or chosen["calibration"] == "temperature"
    assert max(scores.values()) > 0.3


def test_cross_fitting_without_probabilities_gives_the_same_decisions():
    from tailtag.evaluation.cross_fit import cross_fitted
    from tailtag.evaluation.select import CANDIDATES

    targets, probabilities = _calibrated_case()
    fit = CANDIDATES["temperature + per_class_f1"]
    with_p, decisions = cross_fitted(targets, probabilities.astype(np.float32), fit)
    none, only = cross_fitted(targets, probabilities.astype(np.float32), fit, with_probabilities=False)
    assert none is None and with_p.shape == targets.shape
    np.testing.assert_array_equal(only, decisions)


def test_cross_fitted_macro_f1_from_fold_counts_equals_f1_of_the_decisions():
    from tailtag.evaluation.cross_fit import cross_fitted
    from tailtag.evaluation.select import CANDIDATES, cross_fitted_macro_f1
    from tailtag.metrics.per_class import f1_scores

    targets, probabilities = _calibrated_case()
    targets[:, 4] = 0  # a label without positives is left out of the mean
    raw = probabilities.astype(np.float32)
    for fit in CANDIDATES.values():
        _, decisions = cross_fitted(targets, raw, fit, with_probabilities=False)
        expected = float(f1_scores(targets, decisions)[:4].mean())
        assert cross_fitted_macro_f1(targets, raw, fit) == expected

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, hamming_loss

from tailtag.metrics import multilabel_metrics


def random_case(seed: int = 0, n: int = 200, k: int = 6):
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, k)) < np.linspace(0.02, 0.5, k)).astype(int)
    scores = np.clip(targets * 0.4 + rng.random((n, k)) * 0.6, 0, 1)
    return targets, scores


def test_matches_scikit_learn():
    targets, scores = random_case()
    predictions = (scores >= 0.5).astype(int)
    m = multilabel_metrics(targets, scores, 0.5)
    assert m["macro_f1"] == pytest.approx(f1_score(targets, predictions, average="macro", zero_division=0), abs=1e-12)
    assert m["micro_f1"] == pytest.approx(f1_score(targets, predictions, average="micro", zero_division=0), abs=1e-12)
    assert m["hamming_loss"] == pytest.approx(hamming_loss(targets, predictions), abs=1e-12)
    expected_ap = np.mean([average_precision_score(targets[:, k], scores[:, k]) for k in range(targets.shape[1])])
    assert m["mAP"] == pytest.approx(expected_ap, abs=1e-12)
    assert m["label_accuracy"] == pytest.approx(1 - m["hamming_loss"])


def test_label_without_positives_is_excluded_from_macro_and_map():
    targets, scores = random_case(1)
    targets[:, 0] = 0
    m = multilabel_metrics(targets, scores, 0.5)
    assert m["per_class"]["ap"][0] is None
    predictions = (scores >= 0.5).astype(int)
    expected = f1_score(targets[:, 1:], predictions[:, 1:], average="macro", zero_division=0)
    assert m["macro_f1"] == pytest.approx(expected, abs=1e-12)


def test_all_negative_predictor_has_high_label_accuracy_but_zero_f1():
    targets, _ = random_case(2)
    m = multilabel_metrics(targets, np.zeros(targets.shape), 0.5)
    assert m["macro_f1"] == 0.0 and m["label_accuracy"] > 0.7


def test_per_class_thresholds():
    targets = np.array([[1, 0], [0, 1], [1, 1]])
    scores = np.array([[0.3, 0.2], [0.1, 0.9], [0.35, 0.6]])
    m = multilabel_metrics(targets, scores, np.array([0.25, 0.5]))
    assert m["subset_accuracy"] == 1.0

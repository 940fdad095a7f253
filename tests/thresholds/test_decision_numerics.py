"""The decision rule's numbers: multi-class runs keep softmax rows (one shared temperature), and calibrated
probabilities keep distinct top scores distinct at low temperatures."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, softmax

from tailtag.errors import OptionError
from tailtag.thresholds.decision import fit_decision

ARGMAX = {"strategy": "top_k", "strategy_params": {"min_tags": 1, "max_tags": 1}}


def multiclass_case(seed: int = 0, n: int = 3000, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(one-hot targets (n, k) uint8, float32 softmax rows (n, k)) of an over-confident classifier with classes of
    very different frequency, so per-class temperatures would differ widely."""
    rng = np.random.default_rng(seed)
    prior = np.linspace(1.0, 0.05, k)
    labels = rng.choice(k, size=n, p=prior / prior.sum())
    logits = rng.normal(0, 1.5, (n, k)) + 2.0 * np.eye(k)[labels] + np.log(prior)
    return np.eye(k, dtype=np.uint8)[labels], softmax(3.0 * logits, axis=1).astype(np.float32)


def test_multiclass_temperature_is_one_temperature_and_keeps_rows():
    targets, raw = multiclass_case()
    decision = fit_decision(targets, raw, calibration="temperature", task="multiclass", quiet=True, **ARGMAX)
    temperatures = decision.calibrator.temperature_
    assert np.unique(temperatures).size == 1 and 2.0 < temperatures[0] < 4.0
    calibrated = decision.probabilities(raw)
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(calibrated.argmax(axis=1), raw.argmax(axis=1))
    np.testing.assert_array_equal(decision.predict(raw).argmax(axis=1), raw.argmax(axis=1))


def test_multiclass_refuses_per_class_platt():
    targets, raw = multiclass_case(n=200)
    with pytest.raises(
        OptionError, match=r"(?s)calibration 'platt' fits each class on its own.*--calibration temperature"
    ):
        fit_decision(targets, raw, calibration="platt", task="multiclass", **ARGMAX)
    with pytest.raises(OptionError, match=r"'task' parameter of fit_decision.*Got 'multi' instead"):
        fit_decision(targets, raw, calibration="none", task="multi", **ARGMAX)


def test_low_temperature_keeps_distinct_top_scores_distinct():
    # a separated label fits the lowest temperature, 0.05; its top raw scores 0.55-0.85 then have calibrated
    # logits 4-35: float32 would round all of them to exactly 1.0, float64 keeps them apart and in order
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.3).astype(np.uint8)
    z = np.where(y == 1, rng.uniform(0.2, 1.7, 400), rng.uniform(-8, -2, 400))
    raw = expit(z).astype(np.float32)[:, None]
    decision = fit_decision(y[:, None], raw, calibration="temperature", strategy="global", quiet=True)
    assert decision.calibrator.temperature_.tolist() == [0.05]
    calibrated = decision.probabilities(raw)[:, 0]
    order = np.argsort(raw[:, 0], kind="stable")
    top = order[-int(y.sum()) :]
    assert (np.diff(calibrated[top]) > 0).all()
    assert np.unique(calibrated).size == np.unique(raw).size

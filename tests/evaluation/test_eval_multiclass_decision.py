"""A multi-class run's decision rule is fitted as multi-class everywhere it is fitted: the run's own fit, the
cross-fitted folds of `evaluate` and the "auto" rule selection (one shared temperature, rows summing to 1)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.special import softmax

from tailtag.evaluation import run_eval
from tailtag.evaluation.cross_fit import cross_fitted
from tailtag.evaluation.select import select_rule
from tailtag.inference import RunModel
from tailtag.thresholds.decision import load_decision

ARGMAX = {"strategy": "top_k", "strategy_params": {"min_tags": 1, "max_tags": 1}}


def multiclass_case(seed: int = 0, n: int = 600, k: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    prior = np.linspace(1.0, 0.1, k)
    labels = rng.choice(k, size=n, p=prior / prior.sum())
    logits = rng.normal(0, 1.5, (n, k)) + 2.0 * np.eye(k)[labels] + np.log(prior)
    return np.eye(k, dtype=np.uint8)[labels], softmax(3.0 * logits, axis=1).astype(np.float32)


def _check_rows(probabilities: np.ndarray, raw: np.ndarray) -> None:
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(probabilities.argmax(axis=1), raw.argmax(axis=1))


def test_cross_fitted_folds_fit_one_temperature():
    targets, raw = multiclass_case()
    probabilities, decisions = cross_fitted(targets, raw, {**ARGMAX, "calibration": "temperature"}, task="multiclass")
    _check_rows(probabilities, raw)
    np.testing.assert_array_equal(decisions.argmax(axis=1), raw.argmax(axis=1))


def test_auto_selection_on_a_multiclass_task_keeps_rows():
    targets, raw = multiclass_case()
    chosen, _ = select_rule(targets, raw, task="multiclass")
    probabilities, _ = cross_fitted(targets, raw, chosen, task="multiclass")
    _check_rows(probabilities, raw)


def _fake_run(tmp_path, monkeypatch, targets, raw) -> RunModel:
    """A RunModel whose validation split scores to (targets, raw) without images or weights."""
    names = [f"class_{j}" for j in range(targets.shape[1])]
    files = SimpleNamespace(task="multiclass", path=tmp_path, names=names, training_table=lambda: None)
    monkeypatch.setattr(run_eval, "_split_rows", lambda files, table, split: np.arange(len(targets)))
    paths = [f"{i}.jpg" for i in range(len(targets))]
    monkeypatch.setattr(run_eval, "_score_rows", lambda *args, **kwargs: (targets, raw, paths, []))
    # a stand-in backbone: a run that reads images (backbone None means one trained on features from a file)
    return RunModel(run=files, backbone=SimpleNamespace(), head=None, probabilities=None)


def test_fit_run_decision_passes_the_runs_task(tmp_path, monkeypatch):
    targets, raw = multiclass_case()
    model = _fake_run(tmp_path, monkeypatch, targets, raw)
    run_eval.fit_run_decision(model, table=object(), calibration="temperature", progress=False)
    saved = json.loads((tmp_path / "calibration.json").read_text())
    assert saved["params"]["task"] == "multiclass" and len(set(saved["temperature"])) == 1
    _check_rows(load_decision(tmp_path).probabilities(raw), raw)


def test_evaluate_cross_fits_with_the_runs_task(tmp_path, monkeypatch):
    targets, raw = multiclass_case()
    model = _fake_run(tmp_path, monkeypatch, targets, raw)
    decision = run_eval.fit_run_decision(model, table=object(), calibration="temperature", progress=False)
    monkeypatch.setattr(run_eval, "load_model", lambda run: model)
    monkeypatch.setattr(run_eval, "load_decision", lambda path: decision)
    seen = {}

    def spy(*args, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop after the cross-fit call")

    monkeypatch.setattr(run_eval, "cross_fitted", spy)
    with pytest.raises(RuntimeError, match="stop after the cross-fit call"):
        run_eval.evaluate_run(tmp_path, split="val", progress=False)
    assert seen["task"] == "multiclass"

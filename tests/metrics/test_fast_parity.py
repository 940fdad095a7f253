"""Parity of the vectorised AP / ROC-AUC / F1 counts and the positives-only threshold searches with
scikit-learn and with the full sweep, on data with heavy ties, empty and all-positive labels."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_recall_fscore_support, roc_auc_score

from tailtag.metrics.per_class import averaged_metrics, per_class_metrics
from tailtag.thresholds._global_micro import best_global_micro
from tailtag.thresholds._search import best_f1_per_class, sweeps


def tied_case(seed, n=300, k=9, levels=None):
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, k)) < np.linspace(0.01, 0.6, k)).astype(np.int8)
    targets[:, 0] = 0  # empty label
    targets[:, 1] = 1  # all-positive label
    scores = rng.random((n, k)) + 0.6 * targets
    if levels:
        scores = np.round(scores * levels) / levels  # many ties, including ties between positives and negatives
    return targets, scores


def sweep_reference(targets, scores):
    """F1-optimal cuts from the full arg-sort sweep (the previous implementation)."""
    k = scores.shape[1]
    thresholds, best = np.empty(k), np.zeros(k)
    for cols, sw in sweeps(targets, scores):
        f1 = np.where(sw.valid, 2 * sw.tp / (sw.n_pred + sw.n_pos), -1.0)
        i, j = np.argmax(f1, axis=0), np.arange(f1.shape[1])
        thresholds[cols] = np.where(sw.n_pos > 0, sw.threshold[i, j], sw.none_threshold)
        best[cols] = np.where(sw.n_pos > 0, f1[i, j], 0.0)
    return thresholds, best


@pytest.mark.parametrize("levels", [None, 20, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ap_auc_match_sklearn(seed, levels):
    targets, scores = tied_case(seed, levels=levels)
    pc = per_class_metrics(targets, scores, (scores >= 0.5).astype(np.int8))
    for j in range(targets.shape[1]):
        if targets[:, j].any():
            assert abs(pc["ap"][j] - average_precision_score(targets[:, j], scores[:, j])) < 1e-9
        else:
            assert np.isnan(pc["ap"][j])
        if 0 < targets[:, j].sum() < len(targets):
            assert abs(pc["roc_auc"][j] - roc_auc_score(targets[:, j], scores[:, j])) < 1e-9
        else:
            assert np.isnan(pc["roc_auc"][j])


@pytest.mark.parametrize("seed", [0, 3])
def test_f1_counts_match_sklearn(seed):
    targets, scores = tied_case(seed, levels=10)
    predictions = (scores >= 0.7).astype(np.int8)
    predictions[:4] = 0  # rows with neither target nor prediction on some labels
    pc = per_class_metrics(targets, scores, predictions)
    p, r, f, _ = precision_recall_fscore_support(targets, predictions, average=None, zero_division=0)
    np.testing.assert_allclose(pc["precision"], p, atol=1e-12)
    np.testing.assert_allclose(pc["recall"], r, atol=1e-12)
    np.testing.assert_allclose(pc["f1"], f, atol=1e-12)
    avg = averaged_metrics(targets, predictions, pc)
    for name in ("micro", "weighted", "samples"):
        expected = f1_score(targets, predictions, average=name, zero_division=0)
        assert abs(avg[f"{name}_f1"] - expected) < 1e-12, name


def test_samples_f1_zero_division_on_empty_rows():
    targets = np.array([[0, 0], [1, 0]], dtype=np.int8)
    predictions = np.array([[0, 0], [1, 1]], dtype=np.int8)
    pc = per_class_metrics(targets, predictions.astype(float), predictions)
    assert averaged_metrics(targets, predictions, pc)["samples_f1"] == pytest.approx((0 + 2 / 3) / 2)


@pytest.mark.parametrize("levels", [None, 7, 2])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_per_class_f1_equals_full_sweep(seed, levels):
    targets, scores = tied_case(seed, levels=levels)
    got_t, got_f1 = best_f1_per_class(targets, scores)
    ref_t, ref_f1 = sweep_reference(targets, scores)
    np.testing.assert_array_equal(got_t, ref_t)
    np.testing.assert_array_equal(got_f1, ref_f1)


@pytest.mark.parametrize("levels", [None, 50, 4, 1])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_global_micro_equals_full_sweep(seed, levels, monkeypatch):
    targets, scores = tied_case(seed, n=200, k=6, levels=levels)
    ref_t, ref_f1 = sweep_reference(targets.reshape(-1, 1), scores.reshape(-1, 1))
    for n_bins in (1 << 16, 8, 1):  # coarse bins force the refinement path to do the work
        monkeypatch.setattr("tailtag.thresholds._global_micro._N_BINS", n_bins)
        assert best_global_micro(targets, scores) == (ref_t[0], ref_f1[0])


def test_global_micro_without_positives():
    scores = np.array([[0.2, 0.9], [0.4, 0.1]])
    threshold, f1 = best_global_micro(np.zeros((2, 2), dtype=np.int8), scores)
    assert f1 == 0.0 and threshold > 0.9 and (scores >= threshold).sum() == 0

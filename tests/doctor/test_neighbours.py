"""The neighbour vote (deep k-NN), its combination with the models, and the ranking's per-label scale."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import average_precision_score

from tailtag.doctor.issues import find_issues, recalibrated
from tailtag.doctor.neighbours import combine_probabilities, nearest_neighbours, neighbour_probabilities


def test_nearest_neighbours_golden_and_blocked():
    x = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [-1, 0]], dtype=np.float32)
    expected = [[1, 3], [0, 3], [3, 1], [2, 1], [2, 3]]
    assert nearest_neighbours(x, 2).tolist() == expected  # never itself, most similar first
    assert nearest_neighbours(x, 2, block=1).tolist() == expected  # blocks change nothing
    with pytest.raises(ValueError, match="k must be in"):
        nearest_neighbours(x, 5)


def test_neighbour_share_is_smoothed_and_views_are_averaged():
    x = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    labels = np.array([[1, 0], [1, 0], [0, 1], [1, 1]])
    q = neighbour_probabilities(np.stack([x, x]), labels, k=1)  # (V=2, N, D): same views, same answer
    # image 0's neighbour is 1 (tags a), image 2's is 3 (tags a, b): (count + 1/2) / (k + 1)
    np.testing.assert_allclose(q, [[0.75, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75]])
    np.testing.assert_allclose(neighbour_probabilities(x, sp.csr_matrix(labels), k=1), q)


def test_neighbour_vote_ranks_planted_noise_far_above_chance(noisy_data):
    for seed in (0, 1):
        features, noisy, injected = noisy_data(seed)
        issues = find_issues(sp.csr_matrix(noisy), neighbour_probabilities(features, noisy, k=15))
        ap = average_precision_score(injected.ravel(), issues.pair_scores.ravel())
        assert ap >= 0.6 and ap >= 10 * injected.mean()  # measured 0.77 / 0.82 at ~5% noise
        assert injected[issues.rows, issues.cols].mean() >= 0.6
    again = neighbour_probabilities(*noisy_data(0)[:2], k=15)
    np.testing.assert_array_equal(again, neighbour_probabilities(*noisy_data(0)[:2], k=15))  # deterministic


def test_combine_probabilities():
    p = np.array([[0.9, 0.2], [0.5, 0.01]])
    q = np.array([[0.1, 0.2], [0.5, 0.99]])
    np.testing.assert_allclose(combine_probabilities(p, q, weight=0.0), p)
    np.testing.assert_allclose(combine_probabilities(p, q), [[0.5, 0.2], [0.5, 0.5]])  # logits cancel or agree
    with pytest.raises(ValueError, match="differ in shape"):
        combine_probabilities(p, q[:1])


def test_recalibration_puts_every_label_on_one_scale():
    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.3).astype(np.int64)
    logit = rng.normal(size=200) + 3 * y
    r = recalibrated(y, 1 / (1 + np.exp(-logit)))
    boundary = 0.5 * (logit[y == 1].mean() + logit[y == 0].mean())
    assert r[np.argmin(np.abs(logit - boundary))] == pytest.approx(0.5, abs=0.02)
    shifted = recalibrated(y, 1 / (1 + np.exp(-(2.5 * logit - 4))))  # a label with its own offset and spread
    np.testing.assert_allclose(shifted, r, atol=1e-6)


def test_ranking_ignores_one_labels_logit_offset(noisy_data):
    features, noisy, _ = noisy_data(0)
    rng = np.random.default_rng(1)
    logits = rng.normal(size=noisy.shape) + 4 * (noisy - 0.5)
    p = 1 / (1 + np.exp(-logits))
    logits[:, 2] = 1.5 * logits[:, 2] - 2  # label 2's model is more confident and biased towards "absent"
    q = 1 / (1 + np.exp(-logits))
    a, b = find_issues(sp.csr_matrix(noisy), p), find_issues(sp.csr_matrix(noisy), q)
    np.testing.assert_allclose(a.pair_scores, b.pair_scores, atol=1e-5)

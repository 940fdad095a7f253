"""Class weights from label counts: golden values, properties, degenerate counts and error messages."""

import math

import numpy as np
import pytest

from tailtag.errors import OptionError
from tailtag.losses import weights as W


def test_binary_weights_neg_pos_and_sqrt_golden():
    counts, n = np.array([10, 50, 1]), 100
    w_pos, w_neg = W.binary_weights(counts, n, "neg_pos")
    np.testing.assert_allclose(w_pos, [9.0, 1.0, 99.0])
    np.testing.assert_allclose(w_neg, [1.0, 1.0, 1.0])
    w_pos, _ = W.binary_weights(counts, n, "sqrt")
    np.testing.assert_allclose(w_pos, [3.0, 1.0, math.sqrt(99.0)])


def test_binary_weights_paddle_seed_recipe_golden():
    w_pos, w_neg = W.binary_weights(np.array([10, 50, 100]), 100, "paddle")
    np.testing.assert_allclose(w_pos, [100 / 21, 100 / 105, 100 / 210])
    np.testing.assert_allclose(w_neg, [1.0, 1.0, 1.0])


def test_binary_weights_ratio2weight_golden():
    w_pos, w_neg = W.binary_weights(np.array([10, 50, 100]), 100, "ratio2weight")
    np.testing.assert_allclose(w_pos, [math.exp(0.9), math.exp(0.5), 1.0])
    np.testing.assert_allclose(w_neg, [math.exp(0.1), math.exp(0.5), math.e])


def test_balanced_binary_weights_golden_and_normalised_mean_is_one():
    counts, n = np.array([10, 50, 75]), 100
    w_pos, w_neg = W.balanced_binary_weights(counts, n)
    np.testing.assert_allclose(w_pos, [10.0, 2.0, 100 / 75])
    np.testing.assert_allclose(w_neg, [100 / 90, 2.0, 4.0])
    half_pos, half_neg = W.balanced_binary_weights(counts, n, normalize=True)
    np.testing.assert_allclose(half_pos, w_pos / 2)
    # Each label's weights average to 1 over its N training elements.
    np.testing.assert_allclose((counts * half_pos + (n - counts) * half_neg) / n, 1.0)


def test_effective_number_golden():
    np.testing.assert_allclose(W.effective_number(np.array([1, 2, 3]), 0.9), [1.0, 1.9, 2.71])
    np.testing.assert_allclose(W.effective_number(np.array([1, 7, 1000]), 0.0), 1.0)
    # Saturates at 1 / (1 - beta).
    assert W.effective_number(np.array([10**6]), 0.99)[0] == pytest.approx(100.0)


def test_class_balanced_weights_properties():
    counts = np.array([1000, 100, 10, 1])
    weights = W.class_balanced_weights(counts, 0.999)
    assert weights.sum() == pytest.approx(4.0)
    assert np.all(np.diff(weights) > 0), "rarer labels weigh more"
    np.testing.assert_allclose(W.class_balanced_weights(counts, 0.0), 1.0)
    # beta -> 1 tends to inverse frequency.
    np.testing.assert_allclose(
        W.class_balanced_weights(counts, 1 - 1e-9), W.inverse_frequency_weights(counts), rtol=1e-3
    )


def test_class_balanced_weights_hand_value():
    beta = 0.9
    raw = [(1 - beta) / (1 - beta**n) for n in (1, 3)]
    expected = [2 * w / sum(raw) for w in raw]
    np.testing.assert_allclose(W.class_balanced_weights(np.array([1, 3]), beta), expected)


def test_inverse_frequency_weights_power():
    np.testing.assert_allclose(W.inverse_frequency_weights(np.array([1, 4])), [1.6, 0.4])
    np.testing.assert_allclose(W.inverse_frequency_weights(np.array([1, 4]), power=0.5), [4 / 3, 2 / 3])
    np.testing.assert_allclose(W.inverse_frequency_weights(np.array([1, 4]), power=0.0), [1.0, 1.0])


def test_priors_and_log_odds():
    np.testing.assert_allclose(W.class_priors(np.array([1, 3])), [0.25, 0.75])
    np.testing.assert_allclose(W.prior_log_odds(np.array([10, 50]), 100), [math.log(10 / 90), 0.0])


def test_label_without_positives_warns_with_numbers_and_stays_finite():
    with pytest.warns(UserWarning, match=r"1 of 3 labels have no positive training image \(labels \[1\]\)"):
        w_pos, _ = W.binary_weights(np.array([5, 0, 2]), 10)
    assert np.isfinite(w_pos).all() and w_pos[1] == 10.0  # 10 negatives / 1


def test_label_on_every_image_warns_about_negatives():
    with pytest.warns(UserWarning, match="no negative training image"):
        _, w_neg = W.balanced_binary_weights(np.array([10, 3]), 10)
    assert np.isfinite(w_neg).all()


@pytest.mark.parametrize(
    ("counts", "n", "match"),
    [
        (np.array([3, 20]), 10, r"exceed n_samples=10 for labels \[1\]"),
        (np.array([3, -1]), 10, r"finite and >= 0; labels \[1\]"),
        (np.array([[1, 2]]), 10, r"1-D array .* got shape \(1, 2\)"),
        (np.array([]), 10, "non-empty"),
        (np.array([1, 2]), 0, "n_samples must be a positive integer"),
        (np.array([1, 2]), 2.5, "n_samples must be a positive integer"),
    ],
)
def test_bad_counts_raise_option_error(counts, n, match):
    with pytest.raises(OptionError, match=match):
        W.binary_weights(counts, n)


def test_bad_beta_and_mode():
    with pytest.raises(OptionError, match=r"'beta' must be a number in \[0, 1\); got 1.0"):
        W.effective_number(np.array([1, 2]), 1.0)
    with pytest.raises(OptionError, match="'mode' must be one of 'neg_pos', 'sqrt', 'paddle', 'ratio2weight'"):
        W.binary_weights(np.array([1, 2]), 5, "inverse")  # type: ignore[arg-type]

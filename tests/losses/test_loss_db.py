"""Distribution-balanced loss: re-balancing weights, NTR bias, hand value, reduction to BCE."""

import math

import numpy as np
import pytest
import torch

from tailtag.errors import OptionError
from tailtag.losses import create_loss
from tailtag.losses.distribution_balanced import DistributionBalancedLoss, rebalance_weights
from tailtag.losses.multilabel import binary_cross_entropy

X = [[1.0, -2.0, 0.5], [-0.5, 3.0, 0.0]]
Y = [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
COUNTS = [10, 50, 1]
N = 100


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def hand_db(alpha=0.1, beta=10.0, mu=0.2, lam=2.0, kappa=0.05, gamma=2.0, balance=2.0) -> float:
    inv = [1 / n for n in COUNTS]
    bias = [kappa / lam * math.log(n / (N - n)) for n in COUNTS]
    total = 0.0
    for row_x, row_y in zip(X, Y, strict=True):
        repeat = sum(i for i, y in zip(inv, row_y, strict=True) if y)
        for k, (x, y) in enumerate(zip(row_x, row_y, strict=True)):
            r_hat = alpha + sig(beta * (inv[k] / repeat - mu))
            z = x + bias[k]
            if y:
                element, one_minus_pt = softplus(-z), sig(-z)
            else:
                element, one_minus_pt = softplus(lam * z) / lam, sig(lam * z)
            total += r_hat * balance * one_minus_pt**gamma * element
    return total / 6


def test_hand_value_with_the_authors_defaults():
    loss = create_loss("dbloss", class_counts=np.array(COUNTS), n_samples=N)
    assert loss(torch.tensor(X), torch.tensor(Y)).item() == pytest.approx(hand_db(), rel=1e-6)


def test_hand_value_with_other_parameters():
    params = {"alpha": 0.2, "beta": 5.0, "mu": 0.3, "neg_scale": 5.0, "kappa": 0.1, "gamma": 1.0, "balance": 1.0}
    loss = create_loss("dbloss", class_counts=np.array(COUNTS), n_samples=N, **params)
    expected = hand_db(alpha=0.2, beta=5.0, mu=0.3, lam=5.0, kappa=0.1, gamma=1.0, balance=1.0)
    assert loss(torch.tensor(X), torch.tensor(Y)).item() == pytest.approx(expected, rel=1e-6)


def test_rebalance_weights_golden():
    inv = torch.tensor([0.1, 0.02, 1.0])
    targets = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    weights = rebalance_weights(targets, inv, alpha=0.1, beta=10.0, mu=0.2)
    ratio = torch.tensor([[1.0, 0.2, 10.0], [0.1 / 0.12, 0.02 / 0.12, 1 / 0.12], [1.0, 1.0, 1.0]])
    torch.testing.assert_close(weights, 0.1 + torch.sigmoid(10.0 * (ratio - 0.2)))
    # A single-label image is not re-weighted beyond the smoothing: r = 1 on its own label.
    assert weights[0, 0].item() == pytest.approx(0.1 + sig(8.0))


def test_prior_bias_lowers_rare_labels():
    loss = DistributionBalancedLoss(np.array([1, 50, 90]), 100, kappa=0.05, neg_scale=2.0)
    expected = [0.025 * math.log(1 / 99), 0.0, 0.025 * math.log(9)]
    np.testing.assert_allclose(loss.bias.numpy(), expected, rtol=1e-6)
    assert set(loss.state_dict()) == {"inv_freq", "bias"}


def test_without_rebalancing_ntr_and_focal_it_is_bce():
    loss = create_loss(
        "dbloss", class_counts=np.array(COUNTS), n_samples=N, rebalance=False, focal=False, neg_scale=1.0, kappa=0.0
    )
    x, y = torch.tensor(X), torch.tensor(Y)
    torch.testing.assert_close(loss(x, y), binary_cross_entropy(x, y))


def test_reductions_and_extreme_logits():
    x = torch.tensor([[100.0, -100.0, 100.0], [-100.0, 100.0, 0.0]], requires_grad=True)
    y = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # second image has no positive label
    elements = create_loss("dbloss", class_counts=np.array(COUNTS), n_samples=N, reduction="none")(x, y)
    assert elements.shape == (2, 3) and torch.isfinite(elements).all()
    total = create_loss("dbloss", class_counts=np.array(COUNTS), n_samples=N, reduction="sum")(x, y)
    torch.testing.assert_close(total, elements.sum())
    total.backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"neg_scale": 0.5}, r"'neg_scale' must be a number >= 1.0; got 0.5"),
        ({"kappa": -0.1}, "'kappa' must be a number >= 0.0"),
        ({"balance": 0}, r"'balance' must be a number > 0.0"),
        ({"focal": 1}, "'focal' must be true or false"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(OptionError, match=match):
        create_loss("dbloss", class_counts=np.array(COUNTS), n_samples=N, **params)

"""Softmax losses: hand values on a 2x3 example, reductions to cross-entropy, torch parity, count checks."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tailtag.errors import OptionError
from tailtag.losses import create_loss

X = [[1.0, -2.0, 0.5], [-0.5, 3.0, 0.0]]
Y = [0, 2]
COUNTS = np.array([60, 30, 10])
N = 100


def logits() -> torch.Tensor:
    return torch.tensor(X)


def targets() -> torch.Tensor:
    return torch.tensor(Y)


def log_softmax(row: list[float], bias=(0.0, 0.0, 0.0)) -> list[float]:
    shifted = [v + b for v, b in zip(row, bias, strict=True)]
    log_z = math.log(sum(math.exp(v) for v in shifted))
    return [v - log_z for v in shifted]


def hand_ce(weight=(1, 1, 1), bias=(0.0, 0.0, 0.0), gamma=0.0) -> float:
    total = 0.0
    for row, y in zip(X, Y, strict=True):
        log_p = log_softmax(row, bias)[y]
        total += -weight[y] * (1 - math.exp(log_p)) ** gamma * log_p
    return total / 2


def make(name: str, **params) -> torch.nn.Module:
    return create_loss(name, class_counts=COUNTS, n_samples=N, **params)


def test_ce_hand_value_and_torch_parity():
    value = make("ce")(logits(), targets())
    assert value.item() == pytest.approx(hand_ce(), rel=1e-6)
    torch.testing.assert_close(value, F.cross_entropy(logits(), targets()))
    smoothed = make("ce", label_smoothing=0.1)(logits(), targets())
    torch.testing.assert_close(smoothed, F.cross_entropy(logits(), targets(), label_smoothing=0.1))


def test_weighted_ce_hand_value_and_torch_sum_parity():
    raw = [1 / 60, 1 / 30, 1 / 10]
    weight = [3 * w / sum(raw) for w in raw]
    assert make("weighted_ce")(logits(), targets()).item() == pytest.approx(hand_ce(weight), rel=1e-6)
    # "mean" averages over the batch; torch divides by the sum of the weights instead, "sum" agrees.
    torch.testing.assert_close(
        make("weighted_ce", reduction="sum")(logits(), targets()),
        F.cross_entropy(logits(), targets(), weight=torch.tensor(weight), reduction="sum"),
    )


def test_focal_ce_hand_value_and_gamma_zero_is_ce():
    assert make("focal_ce", gamma=2.0)(logits(), targets()).item() == pytest.approx(hand_ce(gamma=2.0), rel=1e-6)
    torch.testing.assert_close(make("focal_ce", gamma=0.0)(logits(), targets()), make("ce")(logits(), targets()))


def test_class_balanced_hand_value_and_beta_zero_is_unweighted():
    beta = 0.99
    raw = [(1 - beta) / (1 - beta**n) for n in COUNTS]
    weight = [3 * w / sum(raw) for w in raw]
    assert make("cb_ce", beta=beta)(logits(), targets()).item() == pytest.approx(hand_ce(weight), rel=1e-6)
    expected = hand_ce(weight, gamma=1.0)
    assert make("cb_focal_ce", beta=beta, gamma=1.0)(logits(), targets()).item() == pytest.approx(expected, rel=1e-6)
    torch.testing.assert_close(make("cb_ce", beta=0.0)(logits(), targets()), make("ce")(logits(), targets()))
    torch.testing.assert_close(
        make("cb_focal_ce", beta=0.0)(logits(), targets()), make("focal_ce")(logits(), targets())
    )


def test_balanced_softmax_hand_value():
    # -log( n_y e^{x_y} / sum_j n_j e^{x_j} )
    total = 0.0
    for row, y in zip(X, Y, strict=True):
        total += -math.log(
            COUNTS[y] * math.exp(row[y]) / sum(n * math.exp(v) for n, v in zip(COUNTS, row, strict=True))
        )
    assert make("balanced_softmax")(logits(), targets()).item() == pytest.approx(total / 2, rel=1e-6)


def test_balanced_softmax_with_uniform_counts_is_ce():
    loss = create_loss("balanced_softmax", class_counts=np.array([5, 5, 5]), n_samples=15)
    torch.testing.assert_close(loss(logits(), targets()), F.cross_entropy(logits(), targets()))


def test_logit_adjust_hand_value_and_known_cases():
    tau = 2.0
    bias = [tau * math.log(n / N) for n in COUNTS]
    assert make("logit_adjust", tau=tau)(logits(), targets()).item() == pytest.approx(hand_ce(bias=bias), rel=1e-6)
    torch.testing.assert_close(make("logit_adjust", tau=0.0)(logits(), targets()), make("ce")(logits(), targets()))
    torch.testing.assert_close(
        make("logit_adjust", tau=1.0)(logits(), targets()), make("balanced_softmax")(logits(), targets())
    )


@pytest.mark.parametrize("name", ["ce", "weighted_ce", "focal_ce", "cb_ce", "cb_focal_ce", "balanced_softmax"])
def test_reductions_and_extreme_logits(name):
    x = torch.tensor([[100.0, -100.0, 0.0], [-100.0, 100.0, -100.0]], requires_grad=True)
    y = torch.tensor([0, 2])
    elements = make(name, reduction="none")(x, y)
    assert elements.shape == (2,) and torch.isfinite(elements).all()
    torch.testing.assert_close(make(name, reduction="mean")(x, y), elements.mean())
    total = make(name, reduction="sum")(x, y)
    torch.testing.assert_close(total, elements.sum())
    total.backward()
    assert torch.isfinite(x.grad).all()


def test_focal_ce_fractional_gamma_has_finite_gradient_when_certain():
    x = torch.tensor([[200.0, -200.0, 0.0]], requires_grad=True)
    loss = make("focal_ce", gamma=0.5)(x, torch.tensor([0]))
    loss.backward()
    assert torch.isfinite(x.grad).all()


def test_multilabel_counts_are_rejected_with_a_fix():
    with pytest.raises(OptionError, match=r"(?s)class_counts sum to 130 over n_samples=100 .* use a multi-label loss"):
        create_loss("ce", class_counts=np.array([60, 40, 30]), n_samples=100)


def test_targets_must_be_class_indices():
    with pytest.raises(ValueError, match="integer class indices"):
        make("ce")(logits(), torch.tensor([0.0, 2.0]))
    with pytest.raises(ValueError, match=r"class indices \(B,\)"):
        make("ce")(logits(), torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))

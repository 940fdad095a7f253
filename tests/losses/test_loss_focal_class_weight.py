"""`focal` with `class_weight`: hand values on the 2x3 example, reduction to the plain loss, bad values."""

import math

import numpy as np
import pytest
import torch

from tailtag.errors import OptionError
from tailtag.losses import create_loss

X = torch.tensor([[1.0, -2.0, 0.5], [-0.5, 3.0, 0.0]])
Y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
COUNTS = np.array([10, 40, 1])
N = 100


def hand_focal(weight, alpha=0.25, gamma=2.0) -> float:
    total = 0.0
    for row_x, row_y in zip(X.tolist(), Y.tolist(), strict=True):
        for k, (x, y) in enumerate(zip(row_x, row_y, strict=True)):
            p = 1.0 / (1.0 + math.exp(-x))
            p_t = p if y else 1 - p
            a_t = alpha if y else 1 - alpha
            total += -weight[k] * a_t * (1 - p_t) ** gamma * math.log(p_t)
    return total / 6


@pytest.mark.parametrize(
    ("mode", "raw"),
    [("inverse_freq", [1 / 10, 1 / 40, 1 / 1]), ("sqrt_inverse_freq", [10**-0.5, 40**-0.5, 1.0])],
)
def test_focal_class_weight_hand_value(mode, raw):
    weight = np.array(raw) * 3 / sum(raw)  # normalised to sum K = 3
    loss = create_loss("focal", class_counts=COUNTS, n_samples=N, class_weight=mode)
    assert loss(X, Y).item() == pytest.approx(hand_focal(weight), rel=1e-6)
    np.testing.assert_allclose(loss.weight.numpy(), weight, rtol=1e-6)
    assert loss.weight.sum().item() == pytest.approx(3.0)


def test_focal_class_weight_none_is_the_paper_loss_and_equal_counts_change_nothing():
    plain = create_loss("focal", class_counts=COUNTS, n_samples=N)
    assert plain.weight is None
    assert plain(X, Y).item() == pytest.approx(hand_focal([1, 1, 1]), rel=1e-6)
    equal = create_loss("focal", class_counts=np.array([7, 7, 7]), n_samples=N, class_weight="inverse_freq")
    torch.testing.assert_close(equal(X, Y), plain(X, Y))


def test_focal_class_weight_rare_label_dominates_the_per_class_loss():
    loss = create_loss("focal", class_counts=COUNTS, n_samples=N, class_weight="inverse_freq", reduction="none")
    per_class = loss(torch.zeros(1, 3), torch.ones(1, 3))[0]  # identical logits: only the weight differs
    assert per_class[2] > per_class[0] > per_class[1]


def test_focal_class_weight_bad_value_names_the_parameter_and_choices():
    with pytest.raises(OptionError, match=r"class_weight.*'none', 'inverse_freq', 'sqrt_inverse_freq'.*'balanced'"):
        create_loss("focal", class_counts=COUNTS, n_samples=N, class_weight="balanced")


def test_focal_class_weight_label_without_positive_warns_with_numbers():
    with pytest.warns(UserWarning, match=r"1 of 3 labels have no positive training image"):
        loss = create_loss("focal", class_counts=np.array([10, 40, 0]), n_samples=N, class_weight="inverse_freq")
    assert torch.isfinite(loss.weight).all()

"""Two-way loss against a direct transcription of the formula, degenerate batches and invariances."""

import math

import numpy as np
import pytest
import torch

from tailtag.errors import OptionError
from tailtag.losses import create_loss
from tailtag.losses.two_way import TwoWayLoss, two_way_loss

X = [[1.0, -2.0, 0.5], [-0.5, 3.0, 0.0]]
Y = [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]


def term(positives: list[float], negatives: list[float], tp: float, tn: float) -> float:
    if not negatives:
        return 0.0  # softplus(-inf)
    smooth_neg = tn * math.log(sum(math.exp(v / tn) for v in negatives))
    smooth_pos = tp * math.log(sum(math.exp(-v / tp) for v in positives))
    return math.log1p(math.exp(smooth_neg + smooth_pos))


def hand_two_way(xs: list[list[float]], ys: list[list[float]], tp: float, tn: float, mean: bool = True) -> float:
    columns = list(zip(*xs, strict=True)), list(zip(*ys, strict=True))
    sides = []
    for rows_x, rows_y in ((xs, ys), columns):
        terms = [
            term(
                [v for v, y in zip(row_x, row_y, strict=True) if y],
                [v for v, y in zip(row_x, row_y, strict=True) if not y],
                tp,
                tn,
            )
            for row_x, row_y in zip(rows_x, rows_y, strict=True)
            if any(row_y)
        ]
        sides.append(sum(terms) / len(terms) if mean else sum(terms))
    return sum(sides)


@pytest.mark.parametrize(("tp", "tn"), [(4.0, 1.0), (1.0, 1.0), (2.0, 0.5)])
def test_matches_the_formula_on_2x3(tp, tn):
    value = two_way_loss(torch.tensor(X), torch.tensor(Y), tp=tp, tn=tn)
    assert value.item() == pytest.approx(hand_two_way(X, Y, tp, tn), rel=1e-6)


def test_matches_the_formula_with_degenerate_rows_and_columns():
    # Label 0 is positive on every image (no negative), label 3 on none; image 2 has no positive besides label 0.
    xs = [[2.0, -1.0, 0.3, -3.0], [0.5, 1.5, -0.2, 0.7], [-1.0, 0.1, 0.9, -0.4]]
    ys = [[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
    for reduction, mean in (("mean", True), ("sum", False)):
        value = two_way_loss(torch.tensor(xs), torch.tensor(ys), reduction=reduction)
        assert value.item() == pytest.approx(hand_two_way(xs, ys, 4.0, 1.0, mean=mean), rel=1e-6)


def test_gradient_finite_when_a_label_has_no_negative_and_for_extreme_logits():
    x = torch.tensor([[100.0, -100.0, 100.0], [-100.0, 100.0, 0.0]], requires_grad=True)
    y = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    loss = TwoWayLoss()(x, y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()


def test_batch_without_positives_gives_zero_with_a_zero_gradient():
    x = torch.randn(4, 3, requires_grad=True)
    loss = two_way_loss(x, torch.zeros(4, 3))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(x.grad, torch.zeros(4, 3))


def test_invariant_to_permuting_images_and_labels():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(6, 5, generator=generator)
    y = (torch.rand(6, 5, generator=generator) < 0.4).float()
    rows, cols = torch.randperm(6, generator=generator), torch.randperm(5, generator=generator)
    torch.testing.assert_close(two_way_loss(x, y), two_way_loss(x[rows][:, cols], y[rows][:, cols]))


def test_registry_defaults_and_no_per_element_reduction():
    loss = create_loss("two_way", class_counts=np.array([3, 1, 2]), n_samples=4)
    assert (loss.tp, loss.tn, loss.n_outputs) == (4.0, 1.0, 3)
    with pytest.raises(OptionError, match="'reduction' of loss two_way must be 'mean' or 'sum'"):
        create_loss("two_way", class_counts=np.array([3, 1, 2]), n_samples=4, reduction="none")
    with pytest.raises(OptionError, match=r"'tp' must be a number > 0.0; got 0"):
        create_loss("two_way", class_counts=np.array([3, 1, 2]), n_samples=4, tp=0)

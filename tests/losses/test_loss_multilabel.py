"""Sigmoid losses: hand-computed values on a 2x3 example, reductions to known cases, torch/torchvision parity."""

import math

import numpy as np
import pytest
import torch
import torchvision

from tailtag.losses import create_loss
from tailtag.losses.multilabel import SigmoidFocalLoss, binary_cross_entropy, sigmoid_focal_loss

X = [[1.0, -2.0, 0.5], [-0.5, 3.0, 0.0]]
Y = [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
COUNTS = np.array([10, 50, 1])
N = 100


def logits() -> torch.Tensor:
    return torch.tensor(X)


def targets() -> torch.Tensor:
    return torch.tensor(Y)


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def hand_bce(w_pos=(1, 1, 1), w_neg=(1, 1, 1)) -> float:
    total = 0.0
    for row_x, row_y in zip(X, Y, strict=True):
        for k, (x, y) in enumerate(zip(row_x, row_y, strict=True)):
            total += -(w_pos[k] * y * math.log(sig(x)) + w_neg[k] * (1 - y) * math.log(1 - sig(x)))
    return total / 6


def hand_focal(alpha, gamma, weight=(1, 1, 1)) -> float:
    total = 0.0
    for row_x, row_y in zip(X, Y, strict=True):
        for k, (x, y) in enumerate(zip(row_x, row_y, strict=True)):
            p_t = sig(x) if y else 1 - sig(x)
            a_t = 1.0 if alpha is None else (alpha if y else 1 - alpha)
            total += -weight[k] * a_t * (1 - p_t) ** gamma * math.log(p_t)
    return total / 6


def test_bce_hand_value_and_torch_parity():
    loss = create_loss("bce", class_counts=COUNTS, n_samples=N)
    value = loss(logits(), targets())
    assert value.item() == pytest.approx(hand_bce(), rel=1e-6)
    torch.testing.assert_close(value, torch.nn.functional.binary_cross_entropy_with_logits(logits(), targets()))


def test_bce_pos_weight_matches_torch_pos_weight():
    loss = create_loss("bce_pos_weight", class_counts=COUNTS, n_samples=N)
    expected = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([90 / 10, 50 / 50, 99 / 1]))
    torch.testing.assert_close(loss(logits(), targets()), expected(logits(), targets()))
    assert loss(logits(), targets()).item() == pytest.approx(hand_bce(w_pos=(9, 1, 99)), rel=1e-6)


def test_bce_pos_weight_sqrt_paddle_and_cap():
    sqrt = create_loss("bce_pos_weight", class_counts=COUNTS, n_samples=N, mode="sqrt")
    assert sqrt(logits(), targets()).item() == pytest.approx(hand_bce(w_pos=(3, 1, math.sqrt(99))), rel=1e-6)
    ratio2weight = create_loss("bce_pos_weight", class_counts=COUNTS, n_samples=N, mode="ratio2weight")
    ratios = (0.1, 0.5, 0.01)
    expected = hand_bce(w_pos=[math.exp(1 - r) for r in ratios], w_neg=[math.exp(r) for r in ratios])
    assert ratio2weight(logits(), targets()).item() == pytest.approx(expected, rel=1e-6)
    paddle = create_loss("bce_pos_weight", class_counts=COUNTS, n_samples=N, mode="paddle")
    expected = hand_bce(w_pos=[N / (2.1 * c) for c in COUNTS])
    assert paddle(logits(), targets()).item() == pytest.approx(expected, rel=1e-6)
    capped = create_loss("bce_pos_weight", class_counts=COUNTS, n_samples=N, max_weight=5)
    assert capped(logits(), targets()).item() == pytest.approx(hand_bce(w_pos=(5, 1, 5)), rel=1e-6)


def test_bce_weighted_hand_value_and_normalize():
    w_pos = [N / c for c in COUNTS]
    w_neg = [N / (N - c) for c in COUNTS]
    loss = create_loss("bce_weighted", class_counts=COUNTS, n_samples=N)
    assert loss(logits(), targets()).item() == pytest.approx(hand_bce(w_pos, w_neg), rel=1e-6)
    half = create_loss("bce_weighted", class_counts=COUNTS, n_samples=N, normalize=True)
    assert half(logits(), targets()).item() == pytest.approx(hand_bce(w_pos, w_neg) / 2, rel=1e-6)


@pytest.mark.parametrize(("alpha", "gamma"), [(0.25, 2.0), (None, 2.0), (0.5, 0.5), (0.25, 0.0)])
def test_focal_hand_value_and_torchvision_parity(alpha, gamma):
    loss = create_loss("focal", class_counts=COUNTS, n_samples=N, alpha=alpha, gamma=gamma)
    value = loss(logits(), targets())
    assert value.item() == pytest.approx(hand_focal(alpha, gamma), rel=1e-6)
    reference = torchvision.ops.sigmoid_focal_loss(
        logits(), targets(), alpha=-1 if alpha is None else alpha, gamma=gamma, reduction="mean"
    )
    torch.testing.assert_close(value, reference)


def test_focal_on_random_data_matches_torchvision_for_each_reduction():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(16, 7, generator=generator) * 3
    y = (torch.rand(16, 7, generator=generator) < 0.3).float()
    for reduction in ("mean", "sum", "none"):
        ours = SigmoidFocalLoss(0.25, 2.0, reduction=reduction)(x, y)
        theirs = torchvision.ops.sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0, reduction=reduction)
        torch.testing.assert_close(ours, theirs)


def test_focal_gamma_zero_without_alpha_is_bce():
    focal = create_loss("focal", class_counts=COUNTS, n_samples=N, alpha=None, gamma=0.0)
    bce = create_loss("bce", class_counts=COUNTS, n_samples=N)
    torch.testing.assert_close(focal(logits(), targets()), bce(logits(), targets()))


def test_class_balanced_beta_zero_is_unweighted():
    for cb, plain, extra in (("cb_bce", "bce", {}), ("cb_focal", "focal", {"alpha": None})):
        weighted = create_loss(cb, class_counts=COUNTS, n_samples=N, beta=0.0)
        unweighted = create_loss(plain, class_counts=COUNTS, n_samples=N, **extra)
        torch.testing.assert_close(weighted(logits(), targets()), unweighted(logits(), targets()))


def test_cb_bce_and_cb_focal_hand_values():
    beta = 0.99
    raw = [(1 - beta) / (1 - beta**n) for n in COUNTS]
    weight = [3 * w / sum(raw) for w in raw]
    cb_bce = create_loss("cb_bce", class_counts=COUNTS, n_samples=N, beta=beta)
    assert cb_bce(logits(), targets()).item() == pytest.approx(hand_bce(weight, weight), rel=1e-6)
    cb_focal = create_loss("cb_focal", class_counts=COUNTS, n_samples=N, beta=beta, gamma=1.0)
    assert cb_focal(logits(), targets()).item() == pytest.approx(hand_focal(None, 1.0, weight), rel=1e-6)


@pytest.mark.parametrize("name", ["bce", "bce_pos_weight", "bce_weighted", "focal", "cb_bce", "cb_focal"])
def test_reductions(name):
    loss = create_loss(name, class_counts=COUNTS, n_samples=N, reduction="none")
    elements = loss(logits(), targets())
    assert elements.shape == (2, 3)
    for reduction, expected in (("sum", elements.sum()), ("mean", elements.mean())):
        reduced = create_loss(name, class_counts=COUNTS, n_samples=N, reduction=reduction)(logits(), targets())
        torch.testing.assert_close(reduced, expected)


def test_extreme_logits_give_finite_values_and_gradients_for_fractional_gamma():
    x = torch.tensor([[100.0, -100.0, 100.0], [-100.0, 100.0, 0.0]], requires_grad=True)
    y = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    loss = sigmoid_focal_loss(x, y, alpha=0.25, gamma=0.5, reduction="sum")
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    # Confident right answers cost ~0; the confident false positive costs (1 - alpha) * 100; logit 0 on a
    # positive costs alpha * 0.5^gamma * log 2.
    assert loss.item() == pytest.approx(0.75 * 100 + 0.25 * 0.5**0.5 * math.log(2), rel=1e-5)


def test_bce_half_precision_input_is_computed_in_float32():
    x = torch.tensor(X, dtype=torch.bfloat16)
    value = binary_cross_entropy(x, targets())
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, binary_cross_entropy(x.float(), targets()))


def test_weights_are_buffers_saved_and_moved():
    loss = create_loss("bce_weighted", class_counts=COUNTS, n_samples=N)
    assert set(loss.state_dict()) == {"pos_weight", "neg_weight"}
    assert loss.double().pos_weight.dtype == torch.float64


def _bce_by_autograd(x, y, pos_weight, neg_weight, reduction):
    """The formula of `binary_cross_entropy`, differentiated by autograd (what the reduced path replaces)."""
    pos, neg = -torch.nn.functional.logsigmoid(x), -torch.nn.functional.logsigmoid(-x)
    if pos_weight is not None:
        pos = pos * pos_weight
    if neg_weight is not None:
        neg = neg * neg_weight
    elements = y * pos + (1.0 - y) * neg
    return elements.mean() if reduction == "mean" else elements.sum()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(7, 5), (64, 300), (3, 1)])
def test_reduced_bce_gradient_is_autograds_bit_for_bit(reduction, weighted, shape):
    # The mean/sum path computes its own gradient with fewer (B, K) tensors; it must be the formula's exactly,
    # or every trained figure would move. Extreme logits, soft targets and a scaled upstream gradient (a slice
    # of a step) included.
    generator = torch.Generator().manual_seed(sum(shape))
    x0 = torch.randn(shape, generator=generator) * 8.0
    x0[0, 0], x0[-1, -1] = 120.0, -120.0
    y = (torch.rand(shape, generator=generator) < 0.3).float()
    y[0, -1] = 0.25
    k = shape[1]
    pos_weight = torch.rand(k, generator=generator) * 3 if weighted else None
    neg_weight = torch.rand(k, generator=generator) if weighted else None
    results = []
    for fn in (_bce_by_autograd, None):
        x = x0.clone().requires_grad_(True)
        if fn is None:
            loss = binary_cross_entropy(x, y, pos_weight=pos_weight, neg_weight=neg_weight, reduction=reduction)
        else:
            loss = fn(x, y, pos_weight, neg_weight, reduction)
        (loss * 0.37).backward()
        results.append((loss.detach(), x.grad))
    (loss_ref, grad_ref), (loss_new, grad_new) = results
    assert torch.equal(loss_new, loss_ref)
    assert torch.equal(grad_new, grad_ref)


def test_reduced_bce_accepts_a_batch_that_needs_no_gradient():
    with torch.no_grad():
        value = binary_cross_entropy(logits(), targets())
    assert value.item() == pytest.approx(binary_cross_entropy(logits(), targets(), reduction="none").mean().item())

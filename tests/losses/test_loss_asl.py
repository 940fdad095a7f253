"""Asymmetric loss: hand value, reduction to BCE, margin behaviour, fp16/bf16 safety, parameter errors."""

import math

import numpy as np
import pytest
import torch

from tailtag.errors import OptionError
from tailtag.losses import create_loss
from tailtag.losses.asymmetric import AsymmetricLoss, asymmetric_loss
from tailtag.losses.multilabel import binary_cross_entropy

X = [[1.0, -2.0, 0.5], [-0.5, 3.0, 0.0]]
Y = [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def hand_asl(gamma_pos: float, gamma_neg: float, clip: float) -> float:
    total = 0.0
    for row_x, row_y in zip(X, Y, strict=True):
        for x, y in zip(row_x, row_y, strict=True):
            p = sig(x)
            if y:
                total += -((1 - p) ** gamma_pos) * math.log(p)
            else:
                p_m = max(p - clip, 0.0)
                total += -(p_m**gamma_neg) * math.log(1 - p_m)
    return total / 6


@pytest.mark.parametrize(("gamma_pos", "gamma_neg", "clip"), [(0.0, 4.0, 0.05), (1.0, 4.0, 0.05), (0.0, 2.0, 0.0)])
def test_hand_value(gamma_pos, gamma_neg, clip):
    loss = AsymmetricLoss(gamma_pos, gamma_neg, clip)
    assert loss(torch.tensor(X), torch.tensor(Y)).item() == pytest.approx(
        hand_asl(gamma_pos, gamma_neg, clip), rel=1e-6
    )


def test_registry_defaults_are_the_papers():
    loss = create_loss("asl", class_counts=np.array([3, 1, 2]), n_samples=4)
    assert (loss.gamma_pos, loss.gamma_neg, loss.clip) == (0.0, 4.0, 0.05)
    assert loss(torch.tensor(X), torch.tensor(Y)).item() == pytest.approx(hand_asl(0.0, 4.0, 0.05), rel=1e-6)


def test_no_focusing_and_no_clip_is_bce():
    x, y = torch.tensor(X), torch.tensor(Y)
    torch.testing.assert_close(AsymmetricLoss(0.0, 0.0, 0.0)(x, y), binary_cross_entropy(x, y))
    # Without the eps floor the identity holds for extreme logits too.
    x = torch.tensor([[40.0, -40.0, 80.0], [-80.0, 5.0, -5.0]])
    y = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]])
    torch.testing.assert_close(AsymmetricLoss(0.0, 0.0, 0.0, eps=0.0)(x, y), binary_cross_entropy(x, y))


def test_margin_discards_easy_negatives():
    # p = sigmoid(-4) = 0.018 < clip 0.05: the negative costs exactly nothing and gets no gradient.
    x = torch.tensor([[-4.0]], requires_grad=True)
    loss = asymmetric_loss(x, torch.zeros(1, 1), gamma_neg=4.0, clip=0.05, reduction="sum")
    loss.backward()
    assert loss.item() == 0.0 and x.grad.item() == 0.0


def test_eps_floor_caps_the_element_loss_like_the_reference_code():
    x, y = torch.tensor([[-50.0]]), torch.ones(1, 1)
    assert asymmetric_loss(x, y, eps=1e-8).item() == pytest.approx(-math.log(1e-8), rel=1e-6)
    assert asymmetric_loss(x, y, eps=0.0).item() == pytest.approx(50.0, rel=1e-6)


def test_detach_focusing_changes_gradient_not_value():
    x1 = torch.tensor(X, requires_grad=True)
    x2 = torch.tensor(X, requires_grad=True)
    a = asymmetric_loss(x1, torch.tensor(Y), gamma_pos=1.0)
    b = asymmetric_loss(x2, torch.tensor(Y), gamma_pos=1.0, detach_focusing=True)
    a.backward()
    b.backward()
    torch.testing.assert_close(a, b)
    assert not torch.allclose(x1.grad, x2.grad)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_inputs_are_finite_and_close_to_float32(dtype):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(32, 6, generator=generator) * 6
    x[0, :3] = torch.tensor([60.0, -60.0, 30.0])
    y = (torch.rand(32, 6, generator=generator) < 0.3).float()
    half = x.to(dtype).requires_grad_()
    loss = asymmetric_loss(half, y, gamma_pos=1.0)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert half.grad.dtype == dtype and torch.isfinite(half.grad).all()
    # Same math once the input is rounded: only the rounding of the logits separates it from float32.
    torch.testing.assert_close(loss, asymmetric_loss(half.detach().float(), y, gamma_pos=1.0))
    assert loss.item() == pytest.approx(asymmetric_loss(x, y, gamma_pos=1.0).item(), rel=2e-2)


def test_extreme_logits_gradients_finite_for_every_setting():
    x = torch.tensor([[100.0, -100.0, 100.0], [-100.0, 100.0, 0.0]], requires_grad=True)
    y = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    for gamma_pos, gamma_neg, clip in ((0.0, 4.0, 0.05), (0.5, 0.5, 0.05), (0.5, 0.3, 0.0), (0.0, 0.0, 0.0)):
        x.grad = None
        loss = asymmetric_loss(x, y, gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip, reduction="sum")
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(x.grad).all(), (gamma_pos, gamma_neg, clip)


def test_reductions():
    x, y = torch.tensor(X), torch.tensor(Y)
    elements = AsymmetricLoss(reduction="none")(x, y)
    assert elements.shape == (2, 3)
    torch.testing.assert_close(AsymmetricLoss(reduction="sum")(x, y), elements.sum())
    torch.testing.assert_close(AsymmetricLoss(reduction="mean")(x, y), elements.mean())


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"gamma_neg": -1}, r"'gamma_neg' must be a number >= 0.0; got -1"),
        ({"gamma_pos": "1"}, r"'gamma_pos' must be a number >= 0.0; got '1'"),
        ({"clip": 1.0}, r"'clip' must be a number in \[0.0, 1.0\); got 1.0"),
        ({"detach_focusing": "yes"}, "'detach_focusing' must be true or false"),
    ],
)
def test_bad_parameters_name_the_parameter(params, match):
    with pytest.raises(OptionError, match=match):
        create_loss("asl", class_counts=np.array([1, 2]), n_samples=3, **params)


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (-5.0, 0.0),  # p = 0.0067 < m: 1 - p_m = min(sigmoid(5) + 0.05, 1) = 1, so log(1) = 0 exactly
        (-2.5, -math.log(1.0 - (sig(-2.5) - 0.05))),  # p = 0.0759 > m: p_m = 0.0259, loss 0.02624
        (0.0, -math.log(0.55)),  # p_m = 0.45
    ],
)
def test_negative_term_at_and_above_the_margin_without_focusing(x, expected):
    # gamma_neg = 0: the weight p_m^gamma is 1 even where p_m = 0, so the log term itself must be 0 there
    loss = asymmetric_loss(torch.tensor([[x]]), torch.zeros(1, 1), gamma_neg=0.0, clip=0.05, reduction="sum")
    assert loss.item() == pytest.approx(expected, rel=1e-6, abs=0.0)


def reference_asl(x: np.ndarray, y: np.ndarray, gamma_pos: float, gamma_neg: float, clip: float, eps: float):
    """(B, K) element losses of the authors' `AsymmetricLoss` (github.com/Alibaba-MIIL/ASL, losses.py), in
    float64: xs_neg = min(1 - sigmoid(x) + clip, 1), logs clamped at eps, weight (1 - pt)^gamma."""
    xs_pos = 1.0 / (1.0 + np.exp(-x))
    xs_neg = 1.0 - xs_pos
    if clip > 0:
        xs_neg = np.minimum(xs_neg + clip, 1.0)
    los = y * np.log(np.maximum(xs_pos, eps)) + (1 - y) * np.log(np.maximum(xs_neg, eps))
    pt = xs_pos * y + xs_neg * (1 - y)
    gamma = gamma_pos * y + gamma_neg * (1 - y)
    return -los * np.power(1.0 - pt, gamma)


@pytest.mark.parametrize("clip", [0.0, 0.01, 0.05, 0.3])
@pytest.mark.parametrize(("gamma_pos", "gamma_neg"), [(0.0, 0.0), (0.0, 1.0), (1.0, 4.0)])
def test_never_negative_and_matches_the_reference_code(clip, gamma_pos, gamma_neg):
    grid = np.concatenate([np.linspace(-30.0, 30.0, 241), [-1e4, -100.0, -60.0, 60.0, 100.0, 1e4]])
    x = np.repeat(grid[:, None], 2, axis=1)
    y = np.tile([0.0, 1.0], (len(grid), 1))
    loss = asymmetric_loss(
        torch.tensor(x, dtype=torch.float32),
        torch.tensor(y),
        gamma_pos=gamma_pos,
        gamma_neg=gamma_neg,
        clip=clip,
        eps=1e-8,
        reduction="none",
    ).double()
    assert (loss >= 0).all(), loss.min()
    moderate = np.abs(grid) <= 30.0  # the reference's float64 1 - sigmoid loses the far tails
    expected = reference_asl(x[moderate], y[moderate], gamma_pos, gamma_neg, clip, 1e-8)
    np.testing.assert_allclose(loss.numpy()[moderate], expected, rtol=1e-4, atol=1e-7)

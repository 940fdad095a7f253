"""Heads: registry, shapes, the scaled head's per-class parameters, prior-bias initialisation, TagModel."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from tailtag.errors import OptionError
from tailtag.models import HEADS, TagModel, create_backbone, create_head, prior_logits
from tailtag.models.heads import ScaledLinearHead


@pytest.mark.parametrize("name", sorted(HEADS))
def test_heads_map_features_to_logits(name):
    torch.manual_seed(0)
    head = create_head(name, 16, 5, hidden=8, dropout=0.1)
    head.eval()
    out = head(torch.randn(4, 16))
    assert out.shape == (4, 5) and out.dtype == torch.float32
    assert (out < 0).any() and (out > 0).any()  # logits, not probabilities


def test_registry_names_and_parameter_counts():
    assert set(HEADS) == {"linear", "mlp", "scaled"}
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(create_head("linear", 16, 5)) == 16 * 5 + 5
    assert count(create_head("mlp", 16, 5, hidden=8)) == 16 * 8 + 8 + 8 * 5 + 5
    assert count(create_head("scaled", 16, 5)) == 16 * 5 + 5 + 5  # weights, per-class scale, per-class bias


def test_scaled_head_starts_as_linear_and_scales_each_class():
    torch.manual_seed(0)
    head = create_head("scaled", 6, 3)
    assert isinstance(head, ScaledLinearHead)
    x = torch.randn(5, 6)
    plain = x @ head.fc.weight.T
    torch.testing.assert_close(head(x), plain)  # scale 1, bias 0 at initialisation
    with torch.no_grad():
        head.scale.copy_(torch.tensor([1.0, 2.0, 0.5]))
        head.bias.copy_(torch.tensor([0.0, 1.0, -1.0]))
    torch.testing.assert_close(head(x), plain * torch.tensor([1.0, 2.0, 0.5]) + torch.tensor([0.0, 1.0, -1.0]))


def test_scaled_head_learns_per_class_scale():
    torch.manual_seed(0)
    head = create_head("scaled", 4, 2)
    loss = nn.functional.binary_cross_entropy_with_logits(head(torch.randn(8, 4)), torch.ones(8, 2))
    loss.backward()
    assert head.scale.grad is not None and head.scale.grad.abs().sum() > 0
    assert head.bias.grad is not None and (head.bias.grad < 0).all()  # all-positive targets push biases up


@pytest.mark.parametrize("name", sorted(HEADS))
def test_prior_sets_the_output_bias(name):
    prior = np.array([0.5, 0.1, 0.01])
    head = create_head(name, 8, 3, hidden=4, prior=prior)
    with torch.no_grad():
        if name == "mlp":
            out = head.fc(torch.zeros(1, 4))
        else:
            out = head(torch.zeros(1, 8))
    expected = torch.tensor([0.0, math.log(0.1 / 0.9), math.log(0.01 / 0.99)])
    torch.testing.assert_close(out[0], expected)
    torch.testing.assert_close(torch.sigmoid(out[0]), torch.tensor(prior, dtype=torch.float32))


def test_prior_of_zero_or_one_is_clipped_with_a_warning():
    with pytest.warns(UserWarning, match=r"2 of 3 classes have frequency 0 or 1 \(indices \[0, 2\]\)"):
        bias = prior_logits(np.array([0.0, 0.3, 1.0]), 3)
    assert torch.isfinite(bias).all() and bias[0] == -bias[2] and abs(bias[0]) < 9.3


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("conv", 8, 3), {}, "unknown head 'conv' \\(config key 'head'\\); valid heads: linear, mlp, scaled"),
        (("mlp", 8, 0), {}, "n_outputs must be a positive int, got 0"),
        (("mlp", 8, 3), {"hidden": 0}, "hidden must be a positive int, got 0"),
        (("linear", 8, 3), {"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
        (("linear", 8, 3), {"prior": np.array([0.1, 0.2])}, r"prior must hold 3 class frequencies .* shape \(2,\)"),
        (("linear", 8, 2), {"prior": np.array([0.1, 1.5])}, r"in \[0, 1\] .* range \[0.1, 1.5\]"),
    ],
)
def test_head_errors(args, kwargs, message):
    with pytest.raises(OptionError, match=message):
        create_head(*args, **kwargs)


def test_tag_model_returns_logits_per_label():
    torch.manual_seed(0)
    backbone = create_backbone("test_efficientnet", None, input_size=32)
    model = TagModel(backbone.model, create_head("linear", backbone.num_features, 4)).eval()
    with torch.inference_mode():
        logits = model(torch.randn(3, 3, 32, 32))
    assert logits.shape == (3, 4)
    assert set(dict(model.named_children())) == {"backbone", "head"}
    assert any(name.startswith("backbone.conv_stem") for name in model.state_dict())

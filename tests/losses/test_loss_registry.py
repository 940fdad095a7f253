"""Registry: names, task flags, error messages, and properties every loss must have."""

import inspect

import numpy as np
import pytest
import torch

from tailtag.errors import OptionError
from tailtag.losses import (
    LOSS_NAMES,
    LOSSES,
    MULTICLASS_LOSSES,
    MULTILABEL_LOSSES,
    TailLoss,
    create_loss,
    describe_losses,
    labelsets_from_matrix,
    loss_params,
    loss_task,
)

MULTI_HOT = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 1], [1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 1, 0]])
CLASSES = np.array([0, 1, 0, 2, 3, 0])


def build(name: str, **params) -> TailLoss:
    """Loss `name` for the tiny training set above (multi-hot counts, or class sizes for multi-class)."""
    if loss_task(name) == "multiclass":
        return create_loss(name, class_counts=np.bincount(CLASSES, minlength=4), n_samples=6, **params)
    if name == "powerset":
        params.setdefault("labelsets", labelsets_from_matrix(MULTI_HOT)[0])
    return create_loss(name, class_counts=MULTI_HOT.sum(0), n_samples=6, **params)


def batch(loss: TailLoss, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(6, loss.n_outputs, generator=generator) * scale
    if loss.task == "multiclass":
        return logits, torch.from_numpy(CLASSES)
    return logits, torch.from_numpy(MULTI_HOT).float()


def test_names_and_task_flags():
    assert set(MULTILABEL_LOSSES) | set(MULTICLASS_LOSSES) == set(LOSS_NAMES) == set(LOSSES)
    assert {"bce", "focal", "asl", "dbloss", "two_way", "powerset"} <= set(MULTILABEL_LOSSES)
    assert {"ce", "balanced_softmax", "logit_adjust"} <= set(MULTICLASS_LOSSES)
    for name in LOSS_NAMES:
        assert build(name).task == loss_task(name), name


def test_describe_losses_has_one_line_per_loss():
    text = describe_losses()
    assert len(text.splitlines()) == len(LOSS_NAMES)
    assert all(name in text for name in LOSS_NAMES)
    assert "balanced_softmax" not in describe_losses("multilabel")


def test_loss_params_lists_defaults():
    assert loss_params("asl")["gamma_neg"] == 4.0
    assert loss_params("cb_focal")["beta"] == 0.999
    assert loss_params("dbloss")["neg_scale"] == 2.0
    assert loss_params("powerset")["labelsets"] is None
    assert "class_counts" not in loss_params("focal")


def test_unknown_name_lists_valid_names():
    with pytest.raises(OptionError, match=r"unknown loss 'focla' \(did you mean 'focal'\?\); valid names: bce, "):
        create_loss("focla", class_counts=np.array([1]), n_samples=2)
    with pytest.raises(OptionError, match="logit_adjust"):
        loss_task("nope")


def test_unknown_parameter_lists_accepted_ones():
    with pytest.raises(
        OptionError, match="loss 'focal' has no parameter.* 'beta'.*; it accepts: alpha, gamma, reduction"
    ):
        create_loss("focal", class_counts=np.array([1, 2]), n_samples=3, beta=0.9)


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("focal", {"gamma": -1.0}, r"loss 'focal': parameter 'gamma' must be a number >= 0.0; got -1.0"),
        ("focal", {"gamma": True}, "parameter 'gamma' must be a number >= 0.0; got True"),
        ("focal", {"alpha": 1.5}, r"'alpha' must be a number in \[0.0, 1.0\]"),
        ("cb_bce", {"beta": 1.0}, r"loss 'cb_bce': parameter 'beta' must be a number in \[0.0, 1.0\); got 1.0"),
        ("cb_focal", {"beta": -0.1}, "parameter 'beta'"),
        ("cb_ce", {"beta": 1.2}, "parameter 'beta'"),
        (
            "bce_pos_weight",
            {"mode": "inverse"},
            "'mode' must be one of 'neg_pos', 'sqrt', 'paddle', 'ratio2weight'; got 'inverse'",
        ),
        ("bce_pos_weight", {"max_weight": 0.5}, "'max_weight' must be a number >= 1.0"),
        ("bce_weighted", {"normalize": "yes"}, "'normalize' must be true or false"),
        ("logit_adjust", {"tau": -1}, "'tau' must be a number >= 0.0"),
        ("weighted_ce", {"power": -1}, "'power' must be a number >= 0.0"),
        ("ce", {"label_smoothing": 1.0}, "'label_smoothing'"),
        ("bce", {"reduction": "avg"}, "'reduction' must be one of 'mean', 'sum', 'none'; got 'avg'"),
    ],
)
def test_bad_parameters_are_named(name, params, match):
    with pytest.raises(OptionError, match=match) as error:
        build(name, **params)
    assert "fix: set loss_params:" in str(error.value)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_every_loss_is_finite_with_finite_gradients_for_extreme_logits(name):
    loss = build(name)
    logits, targets = batch(loss, scale=100.0)
    logits.requires_grad_()
    value = loss(logits, targets)
    value.backward()
    assert value.ndim == 0 and torch.isfinite(value), name
    assert torch.isfinite(logits.grad).all(), name


# two_way has no per-element losses; its "sum" is checked against the formula in test_loss_two_way.
@pytest.mark.parametrize("name", [name for name in LOSS_NAMES if name != "two_way"])
def test_every_loss_reduces_consistently(name):
    logits, targets = batch(build(name))
    total = build(name, reduction="sum")(logits, targets)
    elements = build(name, reduction="none")(logits, targets)
    assert elements.shape[0] == 6
    torch.testing.assert_close(total, elements.sum())
    torch.testing.assert_close(build(name)(logits, targets), elements.mean())


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_every_loss_survives_state_dict_and_dtype_moves(name):
    loss = build(name)
    logits, targets = batch(loss)
    clone = build(name)
    clone.load_state_dict(loss.state_dict())
    torch.testing.assert_close(clone(logits, targets), loss(logits, targets))
    assert all(buffer.dtype == torch.float64 for buffer in loss.double().buffers())
    assert torch.isfinite(loss(logits, targets))
    probabilities = loss.probabilities(logits)
    assert probabilities.shape == (6, 4) and bool(((probabilities >= 0) & (probabilities <= 1)).all())


def test_every_factory_takes_counts_then_keyword_only_parameters():
    for name, info in LOSSES.items():
        parameters = list(inspect.signature(info.factory).parameters.values())
        assert [p.name for p in parameters[:2]] == ["class_counts", "n_samples"], name
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters[2:]), name


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_rows_independent_losses_are_row_weighted_means_of_their_slices(name):
    """The contract behind `rows_independent` (the trainer slices a large step by rows only then): the mean
    loss of a batch equals the row-weighted mean of its slices' mean losses, for uneven slices too."""
    loss = build(name)
    logits, targets = batch(loss)
    whole = loss(logits, targets)
    sliced = sum(
        loss(part_logits, part_targets) * (len(part_logits) / len(logits))
        for part_logits, part_targets in zip(logits.tensor_split([1, 4]), targets.tensor_split([1, 4]), strict=True)
    )
    if loss.rows_independent:
        torch.testing.assert_close(sliced, whole, rtol=1e-6, atol=1e-7)
    else:  # two-way's class-wise term compares images with each other: slicing would change the loss
        assert name == "two_way"
        assert not torch.allclose(sliced, whole)

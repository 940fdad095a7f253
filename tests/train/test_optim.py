"""Optimizer groups, warmup + cosine schedule and the warmed-up EMA of `tailtag.train.optim`."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tailtag.config import FINETUNE_DEFAULTS, make_config
from tailtag.train.loop import lr_factor, make_optimizer
from tailtag.train.optim import create_ema, ema_decay_at, param_groups, warmup_cosine


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.head = nn.Linear(4, 2)


def _lrs(optimizer) -> dict[tuple[float, float], int]:
    return {(g["lr"], g["weight_decay"]): len(g["params"]) for g in optimizer.param_groups}


def test_finetune_backbone_learns_slower_than_the_head_and_1d_params_are_not_decayed():
    config = make_config({"mode": "finetune"})
    optimizer = make_optimizer(_Tiny(), config, {"backbone.": config.backbone_lr_scale})
    # backbone: conv weight (decayed), conv bias + BN weight + BN bias (not); head: weight, bias
    assert _lrs(optimizer) == {(2e-4, 0.01): 1, (2e-4, 0.0): 3, (1e-3, 0.01): 1, (1e-3, 0.0): 1}


def test_head_mode_keeps_one_decay_for_every_parameter():
    optimizer = make_optimizer(_Tiny(), make_config({}))
    assert _lrs(optimizer) == {(1e-3, 1e-4): 6}


def test_frozen_parameters_are_left_out():
    model = _Tiny()
    model.backbone.requires_grad_(False)
    groups = param_groups(model, 1.0, 0.1, {"backbone.": 0.5})
    assert sorted((g["lr"], len(g["params"])) for g in groups) == [(1.0, 1), (1.0, 1)]


def test_finetune_defaults_apply_only_where_unset_and_only_in_finetune_mode():
    assert make_config({"mode": "finetune", "lr": 3e-4}).lr == 3e-4
    tuned = make_config({"mode": "finetune"})
    assert {key: getattr(tuned, key) for key in FINETUNE_DEFAULTS} == FINETUNE_DEFAULTS
    head = make_config({})
    assert (head.backbone_lr_scale, head.ema_decay, head.epochs, head.warmup_epochs) == (1.0, 0.0, 12, 1)


def test_warmup_is_linear_then_cosine_reaches_zero():
    factors = [warmup_cosine(step, warmup_steps=4, total_steps=12) for step in range(13)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[4] == 1.0 and factors[8] == pytest.approx(0.5) and factors[12] == pytest.approx(0.0)
    assert all(a >= b for a, b in zip(factors[3:], factors[4:], strict=False))
    config = make_config({"mode": "finetune", "epochs": 4, "warmup_epochs": 1})
    assert [lr_factor(s, 3, config) for s in (0, 2, 3)] == [pytest.approx(1 / 3), 1.0, 1.0]


def test_ema_decay_warms_up_to_the_configured_value():
    assert ema_decay_at(0, 0.998) == 0.0
    assert ema_decay_at(1, 0.998) == pytest.approx(1 - 2 ** (-2 / 3))
    assert ema_decay_at(10**6, 0.998) == 0.998
    assert ema_decay_at(5, 0.998, warmup=False) == 0.998
    values = [ema_decay_at(t, 0.998) for t in range(2000)]
    assert values == sorted(values)


def test_warmed_up_ema_follows_the_live_weights_early_and_a_fixed_one_lags():
    torch.manual_seed(0)
    model = nn.Linear(3, 1, bias=False)
    warm, fixed = create_ema(model, 0.99, warmup=True), create_ema(model, 0.99, warmup=False)
    start = model.weight.detach().clone()
    for _ in range(24):  # one epoch of MIML at batch 64; the weights walk away from the random start
        with torch.no_grad():
            model.weight.add_(0.1)
        warm.update_parameters(model)
        fixed.update_parameters(model)
    live = model.weight.detach()
    gap = lambda ema: float((ema.module.weight.detach() - live).abs().max())  # noqa: E731
    assert gap(warm) < 0.25 * float((live - start).abs().max())
    assert gap(fixed) > 3 * gap(warm)
    # the warm EMA's updates used exactly the decays of ema_decay_at (first update copies)
    expected = start + 0.1
    for t in range(1, 24):
        decay = ema_decay_at(t, 0.99)
        expected = decay * expected + (1 - decay) * (start + 0.1 * (t + 1))
    assert torch.allclose(warm.module.weight, expected, atol=1e-5)
    assert create_ema(model, 0.0, warmup=True) is None
    assert not math.isnan(gap(warm))

"""Optimizer, learning-rate schedule and weight averaging of the training loop.

- Parameter groups: the pretrained backbone learns at `backbone_lr_scale` x `lr`, the new head at `lr`
  (discriminative fine-tuning, Howard & Ruder, "Universal Language Model Fine-tuning for Text
  Classification", ACL 2018, arXiv:1801.06146; Kornblith et al., "Do Better ImageNet Models Transfer
  Better?", CVPR 2019, arXiv:1805.08974, found fine-tuning needs a smaller rate for the pretrained part).
  Biases and normalisation weights (1-D parameters) get no weight decay, as in timm's `param_groups_weight_decay`.
- Schedule: linear warmup over `warmup_epochs`, then cosine to 0 (Loshchilov & Hutter, "SGDR", ICLR 2017,
  arXiv:1608.03983), stepped per optimisation step.
- EMA with a warmed-up decay: `decay_t = min(decay, 1 - (1 + t / gamma) ** -power)` after t updates, as
  timm's `ModelEmaV3(use_warmup=True)` (gamma 1, power 2/3). A fixed decay of 0.99 keeps ~37% of the random
  head after 100 steps, so the validated (EMA) weights lag the model by several epochs; the warmed-up
  decay starts near 0 (the EMA follows the live weights) and grows toward `decay`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

EMA_WARMUP_GAMMA = 1.0
EMA_WARMUP_POWER = 2.0 / 3.0


def param_groups(
    model: nn.Module,
    lr: float,
    weight_decay: float,
    lr_scales: dict[str, float] | None = None,
    *,
    decay_1d: bool = False,
) -> list[dict]:
    """Optimizer parameter groups of `model`'s trainable parameters.

    Args:
        model: the (unwrapped) model.
        lr: the base (head) learning rate.
        weight_decay: decay of weight matrices and conv kernels; 1-D parameters (biases, norm scales) get 0
            unless `decay_1d`.
        lr_scales: parameter-name prefix -> factor of `lr`, first matching prefix wins (e.g.
            {"backbone.": 0.2}); other parameters get factor 1.

    Returns:
        One dict per (factor, decayed?) pair: {"params", "lr", "lr_scale", "weight_decay"}; `lr_scale` is what
        the per-step schedule multiplies `lr` by.
    """
    groups: dict[tuple[float, bool], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        scale = next((f for prefix, f in (lr_scales or {}).items() if name.startswith(prefix)), 1.0)
        groups.setdefault((float(scale), decay_1d or param.ndim > 1), []).append(param)
    return [
        {"params": params, "lr": lr * scale, "lr_scale": scale, "weight_decay": weight_decay if decayed else 0.0}
        for (scale, decayed), params in groups.items()
    ]


def create_optimizer(
    model: nn.Module,
    *,
    name: str,
    lr: float,
    weight_decay: float,
    lr_scales: dict[str, float] | None = None,
    decay_1d: bool = False,
) -> torch.optim.Optimizer:
    """AdamW (decoupled decay) or SGD (momentum 0.9, Nesterov) over `param_groups(model, ...)`."""
    groups = param_groups(model, lr, weight_decay, lr_scales, decay_1d=decay_1d)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=lr)


def warmup_cosine(step: int, *, warmup_steps: int, total_steps: int, cosine: bool = True) -> float:
    """Learning-rate factor at optimisation `step` (0-based): (step+1)/warmup during warmup, then cosine to 0
    at `total_steps` (or 1.0 when `cosine` is False)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if not cosine:
        return 1.0
    span = max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup_steps) / span)))


def ema_decay_at(updates: int, decay: float, *, warmup: bool = True) -> float:
    """EMA decay used for update number `updates` (0-based; timm ModelEmaV3's warmup formula when `warmup`)."""
    if not warmup:
        return decay
    return min(decay, max(0.0, 1.0 - (1.0 + updates / EMA_WARMUP_GAMMA) ** -EMA_WARMUP_POWER))


def _warmup_ema_multi_avg_fn(decay: float) -> Callable[[list[Tensor], list[Tensor], Tensor], None]:
    """`AveragedModel` multi_avg_fn: ema <- lerp(ema, current, 1 - decay_t), decay_t = `ema_decay_at(n)`."""

    @torch.no_grad()
    def ema_update(ema_params: list[Tensor], current_params: list[Tensor], num_averaged: Tensor) -> None:
        weight = 1.0 - ema_decay_at(int(num_averaged), decay)
        if torch.is_floating_point(ema_params[0]) or torch.is_complex(ema_params[0]):
            torch._foreach_lerp_(ema_params, current_params, weight)
        else:
            for ema, current in zip(ema_params, current_params, strict=True):
                ema.copy_(ema * (1.0 - weight) + current * weight)

    return ema_update


def create_ema(model: nn.Module, decay: float, *, warmup: bool) -> AveragedModel | None:
    """EMA copy of `model`'s parameters (buffers follow the live model), or None when `decay` is 0."""
    if not decay:
        return None
    avg = _warmup_ema_multi_avg_fn(decay) if warmup else get_ema_multi_avg_fn(decay)
    return AveragedModel(model, multi_avg_fn=avg)

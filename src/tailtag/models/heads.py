"""Classifier heads on pooled features, and `TagModel` = backbone + head. Every head returns logits.

Heads:
    linear: dropout + one linear layer (a linear probe).
    mlp: linear -> ReLU -> dropout -> linear, for frozen features that are not linearly separable enough.
    scaled: linear layer without bias, then a learnable per-class scale and bias on each logit (learnable
        per-class output weighting). With frozen features this is the "learnable weight scaling" (LWS) of
        Kang et al., "Decoupling Representation and Classifier for Long-Tailed Recognition" (ICLR 2020,
        arXiv:1910.09217): a tail class can raise its logit scale without growing its weight vector.

Every head can start its output bias at the class prior, log(p / (1 - p)) (Lin et al., "Focal Loss for
Dense Object Detection", ICCV 2017, arXiv:1708.02002, section 3.3), so the first steps do not spend
themselves pushing every rare label's probability from 0.5 down to its frequency.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from torch import nn

from tailtag.errors import OptionError
from tailtag.registry import registered

HeadName = Literal["linear", "mlp", "scaled"]
_PRIOR_CLIP = 1e-4  # keeps the prior bias finite for labels with no (or only) positives: |bias| <= 9.2


def prior_logits(prior: np.ndarray, n_outputs: int) -> torch.Tensor:
    """(K,) log(p / (1 - p)) of class frequencies p in [0, 1], clipped to [1e-4, 1 - 1e-4].

    Warns with the labels' indices when a frequency is 0 or 1 (no negatives or no positives to learn from).
    """
    prior = np.asarray(prior, dtype=np.float64).reshape(-1)
    if prior.shape != (n_outputs,) or not np.all(np.isfinite(prior)) or prior.min() < 0 or prior.max() > 1:
        raise OptionError(
            f"prior must hold {n_outputs} class frequencies in [0, 1] (one per output); got shape {prior.shape} "
            f"with range [{np.nanmin(prior) if prior.size else 'n/a'}, {np.nanmax(prior) if prior.size else 'n/a'}]"
        )
    extreme = np.flatnonzero((prior <= 0) | (prior >= 1))
    if extreme.size:
        warnings.warn(
            f"{extreme.size} of {n_outputs} classes have frequency 0 or 1 (indices {extreme[:10].tolist()}); "
            f"their prior bias is clipped to +-{np.log((1 - _PRIOR_CLIP) / _PRIOR_CLIP):.1f}",
            stacklevel=3,
        )
    p = np.clip(prior, _PRIOR_CLIP, 1 - _PRIOR_CLIP)
    return torch.as_tensor(np.log(p / (1 - p)), dtype=torch.float32)


class LinearHead(nn.Module):
    """features (B, D) -> logits (B, K) = W dropout(x) + b."""

    def __init__(self, in_features: int, n_outputs: int, *, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, n_outputs)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(features))

    def set_output_bias(self, bias: torch.Tensor) -> None:
        with torch.no_grad():
            self.fc.bias.copy_(bias)


class MLPHead(nn.Module):
    """features (B, D) -> logits (B, K) through one hidden ReLU layer of `hidden` units."""

    def __init__(self, in_features: int, n_outputs: int, *, hidden: int = 512, dropout: float = 0.0):
        super().__init__()
        self.hidden = nn.Linear(in_features, hidden)
        self.act = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, n_outputs)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.act(self.hidden(features))))

    def set_output_bias(self, bias: torch.Tensor) -> None:
        with torch.no_grad():
            self.fc.bias.copy_(bias)


class ScaledLinearHead(nn.Module):
    """features (B, D) -> logits (B, K) = scale * (W dropout(x)) + bias, with learnable per-class scale and bias.

    `scale` starts at 1 and `bias` at 0 (or the prior logits), so at initialisation this is a plain
    linear head; the per-class parameters let training re-weight each class's logit directly.
    """

    def __init__(self, in_features: int, n_outputs: int, *, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, n_outputs, bias=False)
        self.scale = nn.Parameter(torch.ones(n_outputs))
        self.bias = nn.Parameter(torch.zeros(n_outputs))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(features)) * self.scale + self.bias

    def set_output_bias(self, bias: torch.Tensor) -> None:
        with torch.no_grad():
            self.bias.copy_(bias)


def _linear(in_features: int, n_outputs: int, hidden: int, dropout: float) -> nn.Module:
    return LinearHead(in_features, n_outputs, dropout=dropout)


def _mlp(in_features: int, n_outputs: int, hidden: int, dropout: float) -> nn.Module:
    return MLPHead(in_features, n_outputs, hidden=hidden, dropout=dropout)


def _scaled(in_features: int, n_outputs: int, hidden: int, dropout: float) -> nn.Module:
    return ScaledLinearHead(in_features, n_outputs, dropout=dropout)


HEADS: dict[str, Callable[[int, int, int, float], nn.Module]] = {"linear": _linear, "mlp": _mlp, "scaled": _scaled}


def create_head(
    name: HeadName,
    in_features: int,
    n_outputs: int,
    *,
    hidden: int = 512,
    dropout: float = 0.0,
    prior: np.ndarray | None = None,
) -> nn.Module:
    """Instantiate a head from `HEADS`.

    Args:
        name: "linear", "mlp" or "scaled" (config key 'head').
        in_features: D, the backbone feature dimension.
        n_outputs: K, the number of labels.
        hidden: hidden units of the "mlp" head (ignored by the others).
        dropout: dropout probability on the input of the last linear layer, in [0, 1).
        prior: (K,) training frequency of each label; sets the output bias to log(p / (1 - p)).

    Returns:
        A module mapping features (B, D) float32 to logits (B, K) float32.
    """
    build = registered(HEADS, name, what="head", plural="heads", where="config key 'head'")
    problems = [
        f"{key} must be a positive int, got {value!r}"
        for key, value in (("in_features", in_features), ("n_outputs", n_outputs), ("hidden", hidden))
        if not isinstance(value, int) or isinstance(value, bool) or value < 1
    ]
    if not 0.0 <= dropout < 1.0:
        problems.append(f"dropout must be in [0, 1), got {dropout!r}")
    if problems:
        raise OptionError(f"create_head({name!r}): " + "; ".join(problems))
    head = build(in_features, n_outputs, hidden, dropout)
    if prior is not None:
        head.set_output_bias(prior_logits(prior, n_outputs))
    return head


class TagModel(nn.Module):
    """images (B, 3, H, W) -> logits (B, K): a backbone giving pooled features (B, D), then a head.

    Returns logits; the sigmoid and the thresholds belong to prediction and export.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))

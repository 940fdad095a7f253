"""Softmax (one label per image) losses for long-tailed multi-class data.

Logits are (B, K); targets are (B,) integer class indices. "mean" averages over the batch without dividing
by the sum of the weights (unlike `torch.nn.CrossEntropyLoss(weight=...)`), as in the class-balanced loss
paper, so the weights change the loss scale as well as the balance between classes.

References:
    Lin, Goyal, Girshick, He, Dollar. "Focal Loss for Dense Object Detection". ICCV 2017, arXiv:1708.02002.
    Cui, Jia, Lin, Song, Belongie. "Class-Balanced Loss Based on Effective Number of Samples". CVPR 2019,
    arXiv:1901.05555.
    Ren, Yu, Sheng, Ma, Zhao, Yi, Li. "Balanced Meta-Softmax for Long-Tailed Visual Recognition".
    NeurIPS 2020, arXiv:2007.10740.
    Menon, Jayasumana, Rawat, Jain, Veit, Kumar. "Long-tail learning via logit adjustment". ICLR 2021,
    arXiv:2007.07314.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from tailtag.errors import OptionError
from tailtag.losses import weights as W
from tailtag.losses._base import Reduction, TailLoss, as_buffer, reduce_loss
from tailtag.losses._params import check_number


def softmax_cross_entropy(
    logits: Tensor,
    targets: Tensor,
    *,
    weight: Tensor | None = None,
    logit_bias: Tensor | None = None,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
) -> Tensor:
    """l_i = -w_{y_i} * log softmax(x_i + b)_{y_i}.

    Args:
        logits: (B, K) raw scores x.
        targets: (B,) long class indices y.
        weight: (K,) class weights w (None: 1).
        logit_bias: (K,) b added to the logits before the softmax (logit adjustment; None: 0).
        label_smoothing: epsilon of label smoothing in [0, 1).
        reduction: "mean" over the batch, "sum", or "none" for (B,).
    """
    x = logits.float()
    if logit_bias is not None:
        x = x + logit_bias
    loss = F.cross_entropy(x, targets, reduction="none", label_smoothing=label_smoothing)
    if weight is not None:
        loss = loss * weight[targets]
    return reduce_loss(loss, reduction)


def softmax_focal_loss(
    logits: Tensor, targets: Tensor, *, gamma: float = 2.0, weight: Tensor | None = None, reduction: Reduction = "mean"
) -> Tensor:
    """Multi-class focal loss FL_i = -w_{y_i} * (1 - p_{y_i})^gamma * log p_{y_i}, p = softmax(x).

    Args:
        logits: (B, K); targets: (B,) long; gamma >= 0 (0 gives cross-entropy); weight: (K,) or None.
    """
    log_p = F.log_softmax(logits.float(), dim=1).gather(1, targets.unsqueeze(1)).squeeze(1)
    # 1 - p = -expm1(log p) keeps precision when p is close to 1; the floor keeps pow's gradient finite.
    one_minus_p = (-torch.expm1(log_p)).clamp_min(torch.finfo(torch.float32).tiny)
    loss = -one_minus_p.pow(gamma) * log_p
    if weight is not None:
        loss = loss * weight[targets]
    return reduce_loss(loss, reduction)


class CrossEntropyLoss(TailLoss):
    """`softmax_cross_entropy` as a module; `weight` and `logit_bias` (K,) are buffers.

    Covers `ce`, `weighted_ce`, `cb_ce`, `balanced_softmax` and `logit_adjust` of the registry.
    """

    task = "multiclass"

    def __init__(
        self,
        weight: np.ndarray | Tensor | None = None,
        logit_bias: np.ndarray | Tensor | None = None,
        label_smoothing: float = 0.0,
        *,
        reduction: Reduction = "mean",
        n_outputs: int | None = None,
    ):
        super().__init__(reduction=reduction, n_outputs=n_outputs)
        self.label_smoothing = check_number(
            label_smoothing, "label_smoothing", low=0.0, high=1.0, high_open=True, example="0.1"
        )
        self.register_buffer("weight", as_buffer(weight))
        self.register_buffer("logit_bias", as_buffer(logit_bias))

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        self.check_inputs(logits, targets)
        return softmax_cross_entropy(
            logits,
            targets,
            weight=self.weight,
            logit_bias=self.logit_bias,
            label_smoothing=self.label_smoothing,
            reduction=self.reduction,
        )


class SoftmaxFocalLoss(TailLoss):
    """`softmax_focal_loss` as a module (Lin et al. 2017); `weight` (K,) is a buffer."""

    task = "multiclass"

    def __init__(
        self,
        gamma: float = 2.0,
        weight: np.ndarray | Tensor | None = None,
        *,
        reduction: Reduction = "mean",
        n_outputs: int | None = None,
    ):
        super().__init__(reduction=reduction, n_outputs=n_outputs)
        self.gamma = check_number(gamma, "gamma", low=0.0, example="2.0")
        self.register_buffer("weight", as_buffer(weight))

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        self.check_inputs(logits, targets)
        return softmax_focal_loss(logits, targets, gamma=self.gamma, weight=self.weight, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, {super().extra_repr()}"


# Factories for the registry: (class_counts (K,), n_samples, **params) -> module.


def _class_counts(class_counts: np.ndarray, n_samples: int) -> np.ndarray:
    """Counts checked for a single-label task: they must add up to the number of images."""
    counts = W.check_counts(class_counts, n_samples)
    if not np.isclose(counts.sum(), n_samples):
        raise OptionError(
            f"a multi-class loss needs exactly one label per image, but class_counts sum to {counts.sum():g} "
            f"over n_samples={n_samples} images.\n  fix: use a multi-label loss (bce, focal, asl, ...) for "
            "multi-label data, or give the counts of the training images only"
        )
    return counts


def make_ce(
    class_counts: np.ndarray, n_samples: int, *, label_smoothing: float = 0.0, reduction: Reduction = "mean"
) -> CrossEntropyLoss:
    """Plain softmax cross-entropy."""
    k = _class_counts(class_counts, n_samples).size
    return CrossEntropyLoss(label_smoothing=label_smoothing, reduction=reduction, n_outputs=k)


def make_weighted_ce(
    class_counts: np.ndarray,
    n_samples: int,
    *,
    power: float = 1.0,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
) -> CrossEntropyLoss:
    """Cross-entropy with w_k proportional to n_k^-power (1: inverse frequency), normalised to sum K."""
    power = check_number(power, "power", low=0.0, example="1.0")
    weight = W.inverse_frequency_weights(_class_counts(class_counts, n_samples), power)
    return CrossEntropyLoss(weight, None, label_smoothing, reduction=reduction, n_outputs=weight.size)


def make_focal_ce(
    class_counts: np.ndarray, n_samples: int, *, gamma: float = 2.0, reduction: Reduction = "mean"
) -> SoftmaxFocalLoss:
    """Multi-class focal loss without class weights."""
    k = _class_counts(class_counts, n_samples).size
    return SoftmaxFocalLoss(gamma, reduction=reduction, n_outputs=k)


def _cb_weight(class_counts: np.ndarray, n_samples: int, beta: float) -> np.ndarray:
    beta = check_number(beta, "beta", low=0.0, high=1.0, high_open=True, example="0.999")
    return W.class_balanced_weights(_class_counts(class_counts, n_samples), beta)


def make_cb_ce(
    class_counts: np.ndarray, n_samples: int, *, beta: float = 0.999, reduction: Reduction = "mean"
) -> CrossEntropyLoss:
    """Class-balanced softmax cross-entropy: w_y = (1 - beta) / (1 - beta^n_y), summing to K (Cui et al.)."""
    weight = _cb_weight(class_counts, n_samples, beta)
    return CrossEntropyLoss(weight, reduction=reduction, n_outputs=weight.size)


def make_cb_focal_ce(
    class_counts: np.ndarray, n_samples: int, *, beta: float = 0.999, gamma: float = 2.0, reduction: Reduction = "mean"
) -> SoftmaxFocalLoss:
    """Class-balanced multi-class focal loss."""
    weight = _cb_weight(class_counts, n_samples, beta)
    return SoftmaxFocalLoss(gamma, weight, reduction=reduction, n_outputs=weight.size)


def make_logit_adjust(
    class_counts: np.ndarray,
    n_samples: int,
    *,
    tau: float = 1.0,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
) -> CrossEntropyLoss:
    """Logit-adjusted loss (Menon et al. 2021, eq. 10): l = -log softmax(x + tau * log pi)_y.

    pi is the training class prior. The adjustment is applied in training only; prediction uses softmax(x),
    which then estimates the balanced (class-uniform) posterior. tau = 0 gives cross-entropy; the paper's
    default is tau = 1.
    """
    tau = check_number(tau, "tau", low=0.0, example="1.0")
    priors = W.class_priors(_class_counts(class_counts, n_samples))
    return CrossEntropyLoss(None, tau * np.log(priors), label_smoothing, reduction=reduction, n_outputs=priors.size)


def make_balanced_softmax(
    class_counts: np.ndarray, n_samples: int, *, label_smoothing: float = 0.0, reduction: Reduction = "mean"
) -> CrossEntropyLoss:
    """Balanced softmax (Ren et al. 2020, eq. 4): l = -log( n_y e^{x_y} / sum_j n_j e^{x_j} ).

    The same as adding log pi to the logits, i.e. logit adjustment with tau = 1.
    """
    return make_logit_adjust(class_counts, n_samples, tau=1.0, label_smoothing=label_smoothing, reduction=reduction)

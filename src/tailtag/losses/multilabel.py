"""Sigmoid (one binary problem per label) losses: BCE and its re-weighted forms, and focal loss.

Logits are (B, K); targets are (B, K) floats in [0, 1] (multi-hot, or smoothed). All losses compute in
float32 whatever the input dtype, so they are safe under fp16/bf16 autocast.

References:
    Lin, Goyal, Girshick, He, Dollar. "Focal Loss for Dense Object Detection". ICCV 2017, arXiv:1708.02002.
    Cui, Jia, Lin, Song, Belongie. "Class-Balanced Loss Based on Effective Number of Samples". CVPR 2019,
    arXiv:1901.05555.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from tailtag.losses import weights as W
from tailtag.losses._base import Reduction, TailLoss, as_buffer, reduce_loss
from tailtag.losses._params import check_choice, check_flag, check_number, check_optional_number


def binary_cross_entropy(
    logits: Tensor,
    targets: Tensor,
    *,
    pos_weight: Tensor | None = None,
    neg_weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Per-label BCE with optional per-class positive and negative weights.

    l_ik = -[ w_pos_k * y_ik * log sigmoid(x_ik) + w_neg_k * (1 - y_ik) * log(1 - sigmoid(x_ik)) ]

    Args:
        logits: (B, K) raw scores.
        targets: (B, K) floats in [0, 1].
        pos_weight, neg_weight: (K,) weights of the positive / negative term (None: 1).
        reduction: "mean" over all B*K elements, "sum", or "none" for the (B, K) losses.
    """
    x = logits.float()
    y = targets.to(x.dtype)
    if reduction != "none":
        return _ReducedBinaryCrossEntropy.apply(x, y, pos_weight, neg_weight, reduction)
    # logsigmoid is exact for any finite logit; log(sigmoid(x)) underflows to -inf below about -88.
    pos = -F.logsigmoid(x)
    neg = -F.logsigmoid(-x)
    if pos_weight is not None:
        pos = pos * pos_weight
    if neg_weight is not None:
        neg = neg * neg_weight
    return reduce_loss(y * pos + (1.0 - y) * neg, reduction)


class _ReducedBinaryCrossEntropy(torch.autograd.Function):
    """`binary_cross_entropy` reduced to a mean or sum, with the gradient autograd gives the formula above, bit
    for bit (tested), from fewer (B, K) tensors.

    Autograd over the formula keeps about ten (B, K) tensors from the forward pass to the backward one (two
    logsigmoids with their buffers, -x, 1 - y, the products): at 256 x 10,000 logits that is 100 MB a step, and
    glibc keeps the freed ones as heap between live blocks. Here the forward pass computes the loss in place and
    keeps only logsigmoid's buffer (exp(-|x|), the same for x and -x), and the backward pass repeats autograd's
    steps (mean/sum backward, the products, `log_sigmoid_backward` of each branch) in the same order, so the
    gradient, and every figure of a trained run, is the one the formula gives.
    """

    @staticmethod
    def forward(ctx, x, y, pos_weight, neg_weight, reduction):
        out_pos, buffer = torch.ops.aten.log_sigmoid_forward(x)
        pos = out_pos.neg_()
        if pos_weight is not None:
            pos.mul_(pos_weight)
        total = pos.mul_(y)  # y * pos
        neg = F.logsigmoid(x.neg()).neg_()
        if neg_weight is not None:
            neg.mul_(neg_weight)
        total.add_(neg.mul_(1.0 - y))  # + (1 - y) * neg
        del neg
        ctx.save_for_backward(x, y, buffer, pos_weight, neg_weight)
        ctx.reduction = reduction
        return reduce_loss(total, reduction)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, y, buffer, pos_weight, neg_weight = ctx.saved_tensors
        # What autograd computes for reduce_loss(y * pos + (1 - y) * neg): mean/sum backward, then each product.
        upstream = grad.expand(x.shape) / x.numel() if ctx.reduction == "mean" else grad.expand(x.shape)
        grad_pos = upstream * y
        if pos_weight is not None:
            grad_pos = grad_pos * pos_weight
        grad_x = torch.ops.aten.log_sigmoid_backward(grad_pos.neg_(), x, buffer)  # pos = -logsigmoid(x)
        del grad_pos
        grad_neg = upstream * (1.0 - y)
        del upstream
        if neg_weight is not None:
            grad_neg = grad_neg * neg_weight
        # neg = -logsigmoid(-x): d/dx = -log_sigmoid_backward(-grad, -x); added as autograd adds the two branches
        grad_x.sub_(torch.ops.aten.log_sigmoid_backward(grad_neg.neg_(), x.neg(), buffer))
        return grad_x, None, None, None, None


def sigmoid_focal_loss(
    logits: Tensor,
    targets: Tensor,
    *,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Sigmoid focal loss (Lin et al. 2017, eq. 5), optionally with per-class weights.

    FL_ik = -w_k * alpha_t * (1 - p_t)^gamma * log(p_t), with p = sigmoid(x), p_t = p if y = 1 else 1 - p,
    alpha_t = alpha if y = 1 else 1 - alpha (no alpha factor when `alpha` is None).
    Equals `torchvision.ops.sigmoid_focal_loss`; gamma = 0 and alpha = None give BCE.

    Args:
        logits: (B, K) raw scores.
        targets: (B, K) floats in [0, 1].
        alpha: weight of the positive term in [0, 1], or None.
        gamma: focusing parameter >= 0.
        weight: (K,) per-class weights (e.g. class-balanced), or None.
        reduction: "mean" over all B*K elements, "sum", or "none" for (B, K).
    """
    x = logits.float()
    y = targets.to(x.dtype)
    ce = binary_cross_entropy(x, y, reduction="none")
    # 1 - p_t from sigmoid(+-x) rather than 1 - sigmoid(x), which rounds to 0 for large logits.
    one_minus_pt = y * torch.sigmoid(-x) + (1.0 - y) * torch.sigmoid(x)
    # Floor at the smallest normal float so that (1 - p_t)^gamma keeps a finite gradient for gamma < 1.
    loss = ce * one_minus_pt.clamp_min(torch.finfo(torch.float32).tiny).pow(gamma)
    if alpha is not None:
        loss = loss * (alpha * y + (1.0 - alpha) * (1.0 - y))
    if weight is not None:
        loss = loss * weight
    return reduce_loss(loss, reduction)


class BinaryCrossEntropyLoss(TailLoss):
    """`binary_cross_entropy` as a module; the optional (K,) weights are buffers.

    Covers `bce` (no weights), `bce_pos_weight`, `bce_weighted` and `cb_bce` of the registry.
    """

    def __init__(
        self,
        pos_weight: np.ndarray | Tensor | None = None,
        neg_weight: np.ndarray | Tensor | None = None,
        *,
        reduction: Reduction = "mean",
        n_outputs: int | None = None,
    ):
        super().__init__(reduction=reduction, n_outputs=n_outputs)
        self.register_buffer("pos_weight", as_buffer(pos_weight))
        self.register_buffer("neg_weight", as_buffer(neg_weight))

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        self.check_inputs(logits, targets)
        return binary_cross_entropy(
            logits, targets, pos_weight=self.pos_weight, neg_weight=self.neg_weight, reduction=self.reduction
        )


class SigmoidFocalLoss(TailLoss):
    """`sigmoid_focal_loss` as a module (Lin et al. 2017, arXiv:1708.02002); `weight` (K,) is a buffer.

    FL = -w_k * alpha_t * (1 - p_t)^gamma * log(p_t). Covers `focal` and `cb_focal` of the registry.
    """

    def __init__(
        self,
        alpha: float | None = 0.25,
        gamma: float = 2.0,
        weight: np.ndarray | Tensor | None = None,
        *,
        reduction: Reduction = "mean",
        n_outputs: int | None = None,
    ):
        super().__init__(reduction=reduction, n_outputs=n_outputs)
        self.alpha = check_optional_number(alpha, "alpha", low=0.0, high=1.0, example="0.25")
        self.gamma = check_number(gamma, "gamma", low=0.0, example="2.0")
        self.register_buffer("weight", as_buffer(weight))

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        self.check_inputs(logits, targets)
        return sigmoid_focal_loss(
            logits, targets, alpha=self.alpha, gamma=self.gamma, weight=self.weight, reduction=self.reduction
        )

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, gamma={self.gamma}, {super().extra_repr()}"


# Factories for the registry: (class_counts (K,), n_samples, **params) -> module.


def make_bce(class_counts: np.ndarray, n_samples: int, *, reduction: Reduction = "mean") -> BinaryCrossEntropyLoss:
    """Plain BCE with logits; the counts only size the head."""
    k = W.check_counts(class_counts, n_samples).size
    return BinaryCrossEntropyLoss(reduction=reduction, n_outputs=k)


def make_bce_pos_weight(
    class_counts: np.ndarray,
    n_samples: int,
    *,
    mode: W.PosWeightMode = "neg_pos",
    max_weight: float | None = None,
    reduction: Reduction = "mean",
) -> BinaryCrossEntropyLoss:
    """BCE with positives up-weighted per label; see `weights.binary_weights` for the modes.

    `max_weight` caps the positive weight (e.g. 50): neg_pos on a label with 3 positives in 30,000 images
    gives 9,999, whose gradients can swamp the other labels.
    """
    mode = check_choice(mode, "mode", W.POS_WEIGHT_MODES)
    cap = check_optional_number(max_weight, "max_weight", low=1.0, example="50")
    w_pos, w_neg = W.binary_weights(class_counts, n_samples, mode)
    if cap is not None:
        w_pos = np.minimum(w_pos, cap)
    neg_weight = None if mode != "ratio2weight" else w_neg
    return BinaryCrossEntropyLoss(w_pos, neg_weight, reduction=reduction, n_outputs=w_pos.size)


def make_bce_weighted(
    class_counts: np.ndarray, n_samples: int, *, normalize: bool = False, reduction: Reduction = "mean"
) -> BinaryCrossEntropyLoss:
    """BCE with w_pos = N / n_k and w_neg = N / (N - n_k); halved when `normalize` (mean weight 1)."""
    w_pos, w_neg = W.balanced_binary_weights(class_counts, n_samples, check_flag(normalize, "normalize"))
    return BinaryCrossEntropyLoss(w_pos, w_neg, reduction=reduction, n_outputs=w_pos.size)


FOCAL_CLASS_WEIGHTS: tuple[str, ...] = ("none", "inverse_freq", "sqrt_inverse_freq")


def make_focal(
    class_counts: np.ndarray,
    n_samples: int,
    *,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    reduction: Reduction = "mean",
    class_weight: str = "none",
) -> SigmoidFocalLoss:
    """Sigmoid focal loss with the paper's defaults alpha = 0.25, gamma = 2.

    `class_weight` multiplies label k's loss by w_k proportional to 1 / n_k ("inverse_freq") or
    1 / sqrt(n_k) ("sqrt_inverse_freq"), normalised to sum to K, so the loss keeps its scale: the usual
    "class weights + focal loss" combination of imbalance guides. "none" is the paper's loss. Under Adam(W)
    a constant factor on label k's loss cancels for parameters only label k uses (a linear head's row k), so
    the weights act through shared parameters (trained backbone stages, an mlp head) or under SGD.
    """
    counts = W.check_counts(class_counts, n_samples)
    choice = check_choice(class_weight, "class_weight", FOCAL_CLASS_WEIGHTS)
    weight = None
    if choice != "none":
        weight = W.inverse_frequency_weights(counts, power=1.0 if choice == "inverse_freq" else 0.5)
    return SigmoidFocalLoss(alpha, gamma, weight, reduction=reduction, n_outputs=counts.size)


def _cb_weights(class_counts: np.ndarray, n_samples: int, beta: float) -> np.ndarray:
    beta = check_number(beta, "beta", low=0.0, high=1.0, high_open=True, example="0.999")
    return W.class_balanced_weights(W.check_counts(class_counts, n_samples), beta)


def make_cb_bce(
    class_counts: np.ndarray, n_samples: int, *, beta: float = 0.999, reduction: Reduction = "mean"
) -> BinaryCrossEntropyLoss:
    """Class-balanced BCE: both terms of label k weighted by (1 - beta) / (1 - beta^n_k), summing to K.

    The paper defines the weight for single-label data through the ground-truth class; for multi-label data
    each label's binary problem gets its own weight (the "by_class" mode of Wu et al.'s reference code).
    """
    weight = _cb_weights(class_counts, n_samples, beta)
    return BinaryCrossEntropyLoss(weight, weight, reduction=reduction, n_outputs=weight.size)


def make_cb_focal(
    class_counts: np.ndarray,
    n_samples: int,
    *,
    beta: float = 0.999,
    gamma: float = 2.0,
    alpha: float | None = None,
    reduction: Reduction = "mean",
) -> SigmoidFocalLoss:
    """Class-balanced sigmoid focal loss; the class weight replaces alpha (None by default, as in the paper)."""
    weight = _cb_weights(class_counts, n_samples, beta)
    return SigmoidFocalLoss(alpha, gamma, weight, reduction=reduction, n_outputs=weight.size)

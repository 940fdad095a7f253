"""Asymmetric loss (ASL) for multi-label classification.

Ridnik, Ben-Baruch, Zamir, Noy, Friedman, Protter, Zelnik-Manor. "Asymmetric Loss For Multi-Label
Classification". ICCV 2021, arXiv:2009.14119.

With p = sigmoid(x) and the shifted probability p_m = max(p - m, 0) (eq. 3, 4):

    L+ = (1 - p)^gamma_pos * log(p)
    L- = p_m^gamma_neg * log(1 - p_m)
    ASL = -y * L+ - (1 - y) * L-

gamma_neg > gamma_pos focuses less on the many easy negatives; the margin m ("clip") discards negatives
with p < m entirely and lowers the weight of very confident, possibly mislabelled, negatives. Defaults are
the paper's: gamma_pos = 0, gamma_neg = 4, m = 0.05. With gamma_pos = gamma_neg = 0 and m = 0 ASL is BCE.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from tailtag.losses import weights as W
from tailtag.losses._base import Reduction, TailLoss, reduce_loss
from tailtag.losses._params import check_flag, check_number


def _negative_terms(x: Tensor, clip: float, gamma_neg: float) -> tuple[Tensor, Tensor]:
    """log(1 - p_m) and p_m^gamma_neg, both (B, K), without forming 1 - sigmoid(x)."""
    if clip <= 0.0:
        # p_m = p: both factors in log space, exact for any finite logit.
        return F.logsigmoid(-x), torch.exp(gamma_neg * F.logsigmoid(x))
    # 1 - p_m = min(sigmoid(-x) + m, 1) >= m, so its log is finite.
    log_one_minus_pm = torch.log((torch.sigmoid(-x) + clip).clamp_max(1.0))
    p_m = (torch.sigmoid(x) - clip).clamp_min(0.0)
    # p_m is exactly 0 for p < m; the floor keeps pow's gradient finite there (the log term is 0 anyway).
    focusing = p_m.clamp_min(torch.finfo(torch.float32).tiny).pow(gamma_neg)
    return log_one_minus_pm, focusing


def asymmetric_loss(
    logits: Tensor,
    targets: Tensor,
    *,
    gamma_pos: float = 0.0,
    gamma_neg: float = 4.0,
    clip: float = 0.05,
    eps: float = 1e-8,
    detach_focusing: bool = False,
    reduction: Reduction = "mean",
) -> Tensor:
    """ASL (see the module docstring), computed in float32 whatever the dtype of `logits`.

    Args:
        logits: (B, K) raw scores, any float dtype (fp16 / bf16 are cast up first).
        targets: (B, K) floats in [0, 1].
        gamma_pos, gamma_neg: focusing parameters >= 0 of the positive and negative terms.
        clip: probability margin m in [0, 1); 0 disables the shift.
        eps: floor on the probabilities inside the logs, as in the authors' code (each element's loss is at
            most -log(eps) ~ 18.4 for 1e-8, and a positive with logit below log(eps) gets no gradient);
            0 disables the floor.
        detach_focusing: stop the gradient through the focusing weights (the authors' training script
            does; the paper's gradient analysis does not).
        reduction: "mean" over all B*K elements, "sum" (the authors' code), or "none" for (B, K).
    """
    x = logits.float()
    y = targets.to(x.dtype)
    log_p = F.logsigmoid(x)
    log_one_minus_pm, w_neg = _negative_terms(x, clip, gamma_neg)
    if eps > 0.0:
        floor = math.log(eps)
        log_p = log_p.clamp_min(floor)
        log_one_minus_pm = log_one_minus_pm.clamp_min(floor)
    # (1 - p)^gamma_pos = exp(gamma_pos * log sigmoid(-x)): no 0^gamma at saturated logits.
    w_pos = torch.exp(gamma_pos * F.logsigmoid(-x))
    if detach_focusing:
        w_pos, w_neg = w_pos.detach(), w_neg.detach()
    loss = -(y * w_pos * log_p + (1.0 - y) * w_neg * log_one_minus_pm)
    return reduce_loss(loss, reduction)


class AsymmetricLoss(TailLoss):
    """`asymmetric_loss` as a module (Ridnik et al. 2021, arXiv:2009.14119); see the module docstring."""

    def __init__(
        self,
        gamma_pos: float = 0.0,
        gamma_neg: float = 4.0,
        clip: float = 0.05,
        eps: float = 1e-8,
        detach_focusing: bool = False,
        *,
        reduction: Reduction = "mean",
        n_outputs: int | None = None,
    ):
        super().__init__(reduction=reduction, n_outputs=n_outputs)
        self.gamma_pos = check_number(gamma_pos, "gamma_pos", low=0.0, example="0.0")
        self.gamma_neg = check_number(gamma_neg, "gamma_neg", low=0.0, example="4.0")
        self.clip = check_number(clip, "clip", low=0.0, high=1.0, high_open=True, example="0.05")
        self.eps = check_number(eps, "eps", low=0.0, high=1.0, high_open=True, example="1e-8")
        self.detach_focusing = check_flag(detach_focusing, "detach_focusing")

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        self.check_inputs(logits, targets)
        return asymmetric_loss(
            logits,
            targets,
            gamma_pos=self.gamma_pos,
            gamma_neg=self.gamma_neg,
            clip=self.clip,
            eps=self.eps,
            detach_focusing=self.detach_focusing,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return (
            f"gamma_pos={self.gamma_pos}, gamma_neg={self.gamma_neg}, clip={self.clip}, eps={self.eps}, "
            f"{super().extra_repr()}"
        )


def make_asl(
    class_counts: np.ndarray,
    n_samples: int,
    *,
    gamma_pos: float = 0.0,
    gamma_neg: float = 4.0,
    clip: float = 0.05,
    eps: float = 1e-8,
    detach_focusing: bool = False,
    reduction: Reduction = "mean",
) -> AsymmetricLoss:
    """Registry factory for `asl`; the counts only size the head."""
    k = W.check_counts(class_counts, n_samples).size
    return AsymmetricLoss(gamma_pos, gamma_neg, clip, eps, detach_focusing, reduction=reduction, n_outputs=k)

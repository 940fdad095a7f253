"""Distribution-balanced loss (DB loss) for long-tailed multi-label classification.

Wu, Huang, Liu, Wang, Lin. "Distribution-Balanced Loss for Multi-Label Classification in Long-Tailed
Datasets". ECCV 2020, arXiv:2007.09654. Follows the authors' released code (`ResampleLoss` with
`reweight_func='rebalance'`, `logit_reg`, `focal`) where it makes choices the paper leaves open.

Re-balanced weighting. Under class-aware sampling an image x with positive labels S(x) is drawn through
class i with P^C_i(x) = 1 / (C * n_i), and overall with P^I(x) = sum_{j in S(x)} 1 / (C * n_j). The weight
of every element (positive and negative) of image x, label i is the ratio, smoothed:

    r_i(x) = P^C_i(x) / P^I(x) = (1 / n_i) / sum_{j in S(x)} (1 / n_j)
    r_hat  = alpha + sigmoid(beta * (r - mu))

An image with no positive label is never drawn by class-aware sampling; it gets r = 1 (the value of a
single-label image), which gives almost the weight the authors' code gives it (alpha + 1).

Negative-tolerant regularisation (NTR). With the class prior p_i = n_i / N, a class-specific bias
nu_i = (kappa / lambda) * log(1 / p_i - 1) (sign and 1 / lambda scale as in the released code: it shifts
rare labels' logits down, towards their prior) and z' = z - nu:

    L = r_hat * [ y * log(1 + exp(-z')) + (1 / lambda) * (1 - y) * log(1 + exp(lambda * z')) ]

With `focal=True` each element is further multiplied by balance * (1 - p_t)^gamma, where p_t = sigmoid(z')
for positives and sigmoid(-lambda * z') for negatives. Defaults are the COCO-MLT configuration of the
authors: alpha = 0.1, beta = 10, mu = 0.2, lambda = 2, kappa = 0.05, focal with gamma = 2, balance = 2
(VOC-MLT used lambda = 5, mu = 0.3).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from tailtag.losses import weights as W
from tailtag.losses._base import Reduction, TailLoss, as_buffer, reduce_loss
from tailtag.losses._params import check_flag, check_number


def rebalance_weights(targets: Tensor, inv_freq: Tensor, alpha: float, beta: float, mu: float) -> Tensor:
    """(B, K) smoothed re-balancing weights r_hat = alpha + sigmoid(beta * (r - mu)) (module docstring).

    Args:
        targets: (B, K) floats in [0, 1].
        inv_freq: (K,) 1 / n_i.
    """
    inv_freq = inv_freq.to(targets.dtype)
    repeat = targets @ inv_freq  # (B,): P^I(x) up to the common factor 1 / C
    has_positive = repeat > 0
    ratio = inv_freq / torch.where(has_positive, repeat, torch.ones_like(repeat)).unsqueeze(1)
    ratio = torch.where(has_positive.unsqueeze(1), ratio, torch.ones_like(ratio))
    return alpha + torch.sigmoid(beta * (ratio - mu))


def distribution_balanced_loss(
    logits: Tensor,
    targets: Tensor,
    *,
    inv_freq: Tensor,
    bias: Tensor,
    alpha: float = 0.1,
    beta: float = 10.0,
    mu: float = 0.2,
    neg_scale: float = 2.0,
    rebalance: bool = True,
    focal: bool = True,
    gamma: float = 2.0,
    balance: float = 2.0,
    reduction: Reduction = "mean",
) -> Tensor:
    """DB loss (module docstring), in float32.

    Args:
        logits: (B, K) raw scores z.
        targets: (B, K) floats in [0, 1].
        inv_freq: (K,) 1 / n_i from the training counts.
        bias: (K,) -nu_i, added to the logits (zeros disable the bias part of NTR).
        alpha, beta, mu: smoothing of the re-balancing weight.
        neg_scale: lambda >= 1 of NTR (1 disables the negative scaling).
        rebalance: apply the re-balancing weight (False: weight 1, i.e. NTR / focal only).
        focal, gamma, balance: the focal factor balance * (1 - p_t)^gamma.
        reduction: "mean" over all B*K elements, "sum", or "none" for (B, K).
    """
    y = targets.float()
    z = logits.float() + bias
    loss = y * F.softplus(-z) + (1.0 - y) * F.softplus(neg_scale * z) / neg_scale
    if focal:
        one_minus_pt = y * torch.sigmoid(-z) + (1.0 - y) * torch.sigmoid(neg_scale * z)
        loss = balance * one_minus_pt.clamp_min(torch.finfo(torch.float32).tiny).pow(gamma) * loss
    if rebalance:
        # A function of the labels only: no gradient, as in the reference code.
        loss = loss * rebalance_weights(y, inv_freq, alpha, beta, mu)
    return reduce_loss(loss, reduction)


class DistributionBalancedLoss(TailLoss):
    """`distribution_balanced_loss` as a module (Wu et al. 2020, arXiv:2007.09654).

    Built from training counts: `inv_freq` (1 / n_i) and `bias` (-nu_i) are buffers.

    Args:
        class_counts: (K,) positives per label in the training set.
        n_samples: training images N.
        kappa: scale of the prior bias nu (0 disables it); the other arguments as in
            `distribution_balanced_loss`.
    """

    def __init__(
        self,
        class_counts: np.ndarray,
        n_samples: int,
        *,
        alpha: float = 0.1,
        beta: float = 10.0,
        mu: float = 0.2,
        neg_scale: float = 2.0,
        kappa: float = 0.05,
        rebalance: bool = True,
        focal: bool = True,
        gamma: float = 2.0,
        balance: float = 2.0,
        reduction: Reduction = "mean",
    ):
        counts = W.check_counts(class_counts, n_samples)
        super().__init__(reduction=reduction, n_outputs=counts.size)
        self.alpha = check_number(alpha, "alpha", low=0.0, example="0.1")
        self.beta = check_number(beta, "beta", low=0.0, example="10.0")
        self.mu = check_number(mu, "mu", example="0.2")
        self.neg_scale = check_number(neg_scale, "neg_scale", low=1.0, example="2.0")
        self.kappa = check_number(kappa, "kappa", low=0.0, example="0.05")
        self.rebalance = check_flag(rebalance, "rebalance")
        self.focal = check_flag(focal, "focal")
        self.gamma = check_number(gamma, "gamma", low=0.0, example="2.0")
        self.balance = check_number(balance, "balance", low=0.0, low_open=True, example="2.0")
        # -nu = (kappa / lambda) * logit(p): negative for labels rarer than 50%.
        bias = self.kappa / self.neg_scale * W.prior_log_odds(counts, n_samples)
        self.register_buffer("inv_freq", as_buffer(1.0 / np.maximum(counts, 1.0)))
        self.register_buffer("bias", as_buffer(bias))

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        self.check_inputs(logits, targets)
        return distribution_balanced_loss(
            logits,
            targets,
            inv_freq=self.inv_freq,
            bias=self.bias,
            alpha=self.alpha,
            beta=self.beta,
            mu=self.mu,
            neg_scale=self.neg_scale,
            rebalance=self.rebalance,
            focal=self.focal,
            gamma=self.gamma,
            balance=self.balance,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return (
            f"alpha={self.alpha}, beta={self.beta}, mu={self.mu}, neg_scale={self.neg_scale}, kappa={self.kappa}, "
            f"rebalance={self.rebalance}, focal={self.focal}, gamma={self.gamma}, balance={self.balance}, "
            f"{super().extra_repr()}"
        )

"""Two-way multi-label loss.

Kobayashi. "Two-way Multi-Label Loss". CVPR 2023 (open access:
openaccess.thecvf.com/content/CVPR2023/html/Kobayashi_Two-Way_Multi-Label_Loss_CVPR_2023_paper.html).

The loss compares positive and negative logits against each other instead of against a fixed threshold,
in two directions over a batch of B images and K labels:

    sample-wise, for each image i with at least one positive label:
        l_i = softplus( Tn * log sum_{n in N_i} exp(x_in / Tn) + Tp * log sum_{p in P_i} exp(-x_ip / Tp) )
    class-wise, for each label k with at least one positive image in the batch:
        l_k = softplus( Tn * log sum_{n in N_k} exp(x_nk / Tn) + Tp * log sum_{p in P_k} exp(-x_pk / Tp) )

    L = mean_i l_i + mean_k l_k

P_i / N_i are the positive / negative labels of image i, P_k / N_k the positive / negative images of label
k. The log-sum-exps are smooth maxima: Tn = 1 sharpens the hardest negative, Tp = 4 spreads the gradient
over the positives (the paper's defaults). A term with no negative is softplus(-inf) = 0 and still counts
in its mean, as in the author's code; unlike that code (which masks with a finite -100) the masking here is
exact, and the gradient stays finite when a row has no negative.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from tailtag.errors import OptionError
from tailtag.losses import weights as W
from tailtag.losses._base import Reduction, TailLoss
from tailtag.losses._params import check_number


def _masked_logsumexp(values: Tensor, mask: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """log sum over `mask` of exp(values) along `dim`, and which rows had any element selected."""
    selected = mask.any(dim)
    filled = values.masked_fill(~mask, float("-inf"))
    # An all -inf row has a NaN logsumexp gradient; give such rows zeros, their result is discarded.
    safe = torch.where(selected.unsqueeze(dim), filled, torch.zeros_like(values))
    return torch.logsumexp(safe, dim), selected


def _directional_terms(x: Tensor, positive: Tensor, dim: int, tp: float, tn: float) -> Tensor:
    """softplus terms reduced along `dim` (0: class-wise, 1: sample-wise), only where a positive exists."""
    pos_lse, has_pos = _masked_logsumexp(-x / tp, positive, dim)
    neg_lse, has_neg = _masked_logsumexp(x / tn, ~positive, dim)
    terms = torch.where(has_neg, F.softplus(tp * pos_lse + tn * neg_lse), torch.zeros_like(pos_lse))
    return terms[has_pos]


def two_way_loss(
    logits: Tensor, targets: Tensor, *, tp: float = 4.0, tn: float = 1.0, reduction: Reduction = "mean"
) -> Tensor:
    """Two-way loss (module docstring), in float32.

    Args:
        logits: (B, K) raw scores.
        targets: (B, K) multi-hot; values > 0.5 are positives.
        tp, tn: temperatures > 0 of the positive and negative smooth maxima.
        reduction: "mean" (mean over images + mean over labels, the paper's loss) or "sum" (sum over both).
            The loss couples the whole batch, so there is no per-element "none".

    Returns:
        A scalar; 0 (still attached to the graph) when the batch has no positive label at all.
    """
    x = logits.float()
    positive = targets > 0.5
    by_class = _directional_terms(x, positive, 0, tp, tn)
    by_sample = _directional_terms(x, positive, 1, tp, tn)
    if reduction == "sum":
        return by_class.sum() + by_sample.sum()
    # sum / max(count, 1): an empty side contributes 0 instead of the NaN of an empty mean.
    return by_class.sum() / max(by_class.numel(), 1) + by_sample.sum() / max(by_sample.numel(), 1)


class TwoWayLoss(TailLoss):
    """`two_way_loss` as a module (Kobayashi, CVPR 2023); `reduction` is "mean" or "sum"."""

    rows_independent = False  # the class-wise term compares the images of a batch with each other

    def __init__(
        self, tp: float = 4.0, tn: float = 1.0, *, reduction: Reduction = "mean", n_outputs: int | None = None
    ):
        super().__init__(reduction=reduction, n_outputs=n_outputs)
        if reduction == "none":
            raise OptionError(
                "parameter 'reduction' of loss two_way must be 'mean' or 'sum': the loss couples all images and "
                "labels of a batch, so it has no per-element value; got 'none'.\n  fix: set loss_params: "
                "{reduction: mean}"
            )
        self.tp = check_number(tp, "tp", low=0.0, low_open=True, example="4.0")
        self.tn = check_number(tn, "tn", low=0.0, low_open=True, example="1.0")

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        self.check_inputs(logits, targets)
        return two_way_loss(logits, targets, tp=self.tp, tn=self.tn, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"tp={self.tp}, tn={self.tn}, {super().extra_repr()}"


def make_two_way(
    class_counts: np.ndarray, n_samples: int, *, tp: float = 4.0, tn: float = 1.0, reduction: Reduction = "mean"
) -> TwoWayLoss:
    """Registry factory for `two_way`; the counts only size the head."""
    k = W.check_counts(class_counts, n_samples).size
    return TwoWayLoss(tp, tn, reduction=reduction, n_outputs=k)

"""What every tailtag loss shares: the `reduction` argument, the task flag and the head size.

A loss is a pure function plus a thin `nn.Module` around it (timm's habit). The module stores the
parameters and, as registered buffers, any per-class weights, so that `.to(device)` moves them with the
model and `state_dict()` saves them next to it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import torch
from torch import Tensor, nn

from tailtag.losses._params import check_choice

Reduction = Literal["mean", "sum", "none"]
REDUCTIONS: tuple[str, ...] = ("mean", "sum", "none")
LossTask = Literal["multilabel", "multiclass"]


def reduce_loss(loss: Tensor, reduction: Reduction) -> Tensor:
    """Element losses -> mean (over every element), sum, or unchanged ("none")."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def as_buffer(values: np.ndarray | Tensor | None) -> Tensor | None:
    """A float32 tensor for `register_buffer` (None stays None)."""
    return None if values is None else torch.as_tensor(values, dtype=torch.float32).detach().clone()


def check_multilabel(logits: Tensor, targets: Tensor, n_outputs: int | None) -> None:
    """Shape check for (B, K) logits against (B, K) 0/1 targets; a mismatch is a wiring bug, so ValueError."""
    if logits.ndim != 2 or targets.shape != logits.shape:
        raise ValueError(
            "expected logits (B, K) and targets of the same shape; "
            f"got {tuple(logits.shape)} and {tuple(targets.shape)}"
        )
    if n_outputs is not None and logits.shape[1] != n_outputs:
        raise ValueError(f"the loss was built for {n_outputs} labels but the logits have {logits.shape[1]} columns")


def check_multiclass(logits: Tensor, targets: Tensor, n_outputs: int | None) -> None:
    """Shape check for (B, K) logits against (B,) class indices."""
    if logits.ndim != 2 or targets.ndim != 1 or targets.shape[0] != logits.shape[0]:
        raise ValueError(
            f"expected logits (B, K) and class indices (B,); got {tuple(logits.shape)} and {tuple(targets.shape)}"
        )
    if targets.dtype.is_floating_point:
        raise ValueError(f"multi-class targets must be integer class indices (B,), got dtype {targets.dtype}")
    if n_outputs is not None and logits.shape[1] != n_outputs:
        raise ValueError(f"the loss was built for {n_outputs} classes but the logits have {logits.shape[1]} columns")


class TailLoss(nn.Module):
    """Base of every tailtag loss module.

    Attributes:
        task: "multilabel" (sigmoid; targets (B, K) float 0/1) or "multiclass" (softmax; targets (B,) long).
        reduction: "mean", "sum" or "none".
        n_outputs: number of logits the model head must produce (K, or the number of label combinations
            for the powerset loss); None when the loss was built without knowing K.
        rows_independent: each image's loss depends on its own row of logits and targets only, so that the
            "mean" of a batch is the row-weighted mean of the means of its slices (the trainer may then run a
            large step in slices of rows: `tailtag.train.loop.pass_rows_limit`). False for losses that compare
            images of a batch with each other (two-way's class-wise term).
    """

    task: ClassVar[LossTask] = "multilabel"
    rows_independent: ClassVar[bool] = True

    def __init__(self, *, reduction: Reduction = "mean", n_outputs: int | None = None):
        super().__init__()
        self.reduction: Reduction = check_choice(reduction, "reduction", REDUCTIONS)  # type: ignore[assignment]
        self.n_outputs = n_outputs

    def check_inputs(self, logits: Tensor, targets: Tensor) -> None:
        """Raise ValueError when the shapes do not fit the task."""
        check = check_multilabel if self.task == "multilabel" else check_multiclass
        check(logits, targets, self.n_outputs)

    def probabilities(self, logits: Tensor) -> Tensor:
        """Logits -> (B, K) probabilities for prediction: sigmoid (multi-label) or softmax (multi-class).

        Training-only adjustments of a loss (logit adjustment, DB's prior bias) are not applied here.
        """
        return torch.sigmoid(logits.float()) if self.task == "multilabel" else torch.softmax(logits.float(), dim=1)

    def output_info(self) -> dict:
        """How a saved model turns this loss's logits into probabilities (model.json's "output" and what it
        needs): softmax for multi-class losses, else sigmoid. Losses with other outputs override this."""
        return {"output": "softmax" if self.task == "multiclass" else "sigmoid"}

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, n_outputs={self.n_outputs}"

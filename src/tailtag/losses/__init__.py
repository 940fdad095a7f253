"""Imbalance-aware losses and their registry.

`create_loss(name, class_counts=..., n_samples=..., **params)` builds any loss from the training label
counts; `LOSSES` maps each name to its factory, task and a one-line summary (`describe_losses()` prints
them for `tailtag train --help`). Every loss is an `nn.Module` with `forward(logits, targets) -> Tensor`,
a `reduction` ("mean", "sum", "none"), a `task` flag and `n_outputs`, the number of logits the head must
produce.

Example:
    >>> import numpy as np
    >>> loss = create_loss("asl", class_counts=np.array([120, 30, 4]), n_samples=150, gamma_neg=2)
    >>> loss.task, loss.n_outputs
    ('multilabel', 3)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from tailtag.errors import OptionError
from tailtag.losses import multiclass as mc
from tailtag.losses import multilabel as ml
from tailtag.losses._base import LossTask, Reduction, TailLoss
from tailtag.losses.asymmetric import AsymmetricLoss, make_asl
from tailtag.losses.distribution_balanced import DistributionBalancedLoss
from tailtag.losses.multiclass import CrossEntropyLoss, SoftmaxFocalLoss
from tailtag.losses.multilabel import BinaryCrossEntropyLoss, SigmoidFocalLoss
from tailtag.losses.powerset import PowersetLoss, labelsets_from_matrix, make_powerset
from tailtag.losses.two_way import TwoWayLoss, make_two_way
from tailtag.registry import registered


@dataclass(frozen=True)
class LossInfo:
    """A registry entry: `factory(class_counts, n_samples, **params)`, the task it trains, a summary line.

    `data_params(train_matrix) -> dict` gives the parameters a loss derives from the training labels
    themselves (the powerset loss's label combinations); `loss_for_training` passes them to the factory.
    """

    factory: Callable[..., TailLoss]
    task: LossTask
    summary: str
    data_params: Callable[[Any], dict[str, Any]] | None = None


def _powerset_data(train_matrix: Any) -> dict[str, Any]:
    return {"labelsets": labelsets_from_matrix(train_matrix)[0]}


LOSSES: dict[str, LossInfo] = {
    "bce": LossInfo(ml.make_bce, "multilabel", "binary cross-entropy with logits"),
    "bce_pos_weight": LossInfo(
        ml.make_bce_pos_weight,
        "multilabel",
        "BCE, positives up-weighted per label (mode: neg_pos, sqrt, paddle, ratio2weight)",
    ),
    "bce_weighted": LossInfo(ml.make_bce_weighted, "multilabel", "BCE weighted N/pos on positives, N/neg on negatives"),
    "focal": LossInfo(ml.make_focal, "multilabel", "sigmoid focal loss (Lin et al. 2017; alpha, gamma, class_weight)"),
    "cb_bce": LossInfo(ml.make_cb_bce, "multilabel", "class-balanced BCE, effective number of samples (beta)"),
    "cb_focal": LossInfo(ml.make_cb_focal, "multilabel", "class-balanced sigmoid focal loss (beta, gamma)"),
    "asl": LossInfo(make_asl, "multilabel", "asymmetric loss (Ridnik et al. 2021; gamma_pos, gamma_neg, clip)"),
    "dbloss": LossInfo(
        DistributionBalancedLoss, "multilabel", "distribution-balanced loss (Wu et al. 2020): re-balancing + NTR"
    ),
    "two_way": LossInfo(make_two_way, "multilabel", "two-way multi-label loss (Kobayashi 2023; tp, tn)"),
    "powerset": LossInfo(
        make_powerset, "multilabel", "softmax over the label combinations seen in training", _powerset_data
    ),
    "ce": LossInfo(mc.make_ce, "multiclass", "softmax cross-entropy"),
    "weighted_ce": LossInfo(mc.make_weighted_ce, "multiclass", "cross-entropy weighted by inverse class frequency"),
    "focal_ce": LossInfo(mc.make_focal_ce, "multiclass", "multi-class focal loss (gamma)"),
    "cb_ce": LossInfo(mc.make_cb_ce, "multiclass", "class-balanced cross-entropy (beta)"),
    "cb_focal_ce": LossInfo(mc.make_cb_focal_ce, "multiclass", "class-balanced multi-class focal loss (beta, gamma)"),
    "balanced_softmax": LossInfo(
        mc.make_balanced_softmax, "multiclass", "balanced softmax (Ren et al. 2020): log prior added to the logits"
    ),
    "logit_adjust": LossInfo(mc.make_logit_adjust, "multiclass", "logit-adjusted loss (Menon et al. 2021; tau)"),
}
LOSS_NAMES: tuple[str, ...] = tuple(LOSSES)
MULTILABEL_LOSSES: tuple[str, ...] = tuple(name for name, info in LOSSES.items() if info.task == "multilabel")
MULTICLASS_LOSSES: tuple[str, ...] = tuple(name for name, info in LOSSES.items() if info.task == "multiclass")


def _info(name: str) -> LossInfo:
    return registered(LOSSES, name, what="loss", plural="names")


def loss_task(name: str) -> LossTask:
    """ "multilabel" or "multiclass": the targets the loss `name` trains on."""
    return _info(name).task


def loss_params(name: str) -> dict[str, Any]:
    """The parameters of loss `name` with their defaults (`inspect.Parameter.empty` when required)."""
    parameters = inspect.signature(_info(name).factory).parameters
    return {key: p.default for key, p in parameters.items() if key not in ("class_counts", "n_samples")}


def describe_losses(task: LossTask | None = None) -> str:
    """One line per loss: name, task and summary (only losses of `task` when given), for `--help`."""
    lines = []
    for name, info in LOSSES.items():
        if task is None or info.task == task:
            lines.append(f"  {name:<17} {info.task:<11} {info.summary}")
    return "\n".join(lines)


def create_loss(name: str, *, class_counts: np.ndarray, n_samples: int, **params: Any) -> TailLoss:
    """Build loss `name` from the training label counts.

    Args:
        name: a key of `LOSSES`.
        class_counts: (K,) number of training images carrying each label (class sizes for multi-class).
        n_samples: number of training images N.
        **params: the loss's parameters (see `loss_params(name)`), e.g. gamma=2.0; `labelsets` (M, K) for
            `powerset`.

    Raises:
        OptionError: an unknown name (the message lists the valid ones), an unknown parameter (lists the
            accepted ones), or a parameter out of range (names it).
    """
    info = _info(name)
    accepted = loss_params(name)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise OptionError(
            f"loss {name!r} has no parameter(s) {', '.join(map(repr, unknown))}; "
            f"it accepts: {', '.join(accepted) or 'none'}"
        )
    try:
        return info.factory(class_counts, n_samples, **params)
    except OptionError as error:
        raise OptionError(f"loss {name!r}: {error}") from None


def loss_data_params(name: str, train_matrix: Any) -> dict[str, Any]:
    """The parameters loss `name` derives from the (N, K) 0/1 training matrix (empty for most losses);
    raises OptionError when the data cannot support the loss (e.g. too many label combinations)."""
    info = _info(name)
    return info.data_params(train_matrix) if info.data_params is not None else {}


def loss_for_training(name: str, train_matrix: Any, **params: Any) -> TailLoss:
    """`create_loss` from the (N, K) 0/1 training matrix (scipy sparse or dense): label counts, N, and the
    parameters the loss derives from the labels (`loss_data_params`)."""
    matrix = sp.csr_matrix(train_matrix)
    counts = np.bincount(matrix.indices, minlength=matrix.shape[1]).astype(np.int64)
    extra = loss_data_params(name, matrix)
    return create_loss(name, class_counts=counts, n_samples=matrix.shape[0], **extra, **params)


__all__ = [
    "LOSSES",
    "LOSS_NAMES",
    "MULTICLASS_LOSSES",
    "MULTILABEL_LOSSES",
    "AsymmetricLoss",
    "BinaryCrossEntropyLoss",
    "CrossEntropyLoss",
    "DistributionBalancedLoss",
    "LossInfo",
    "LossTask",
    "PowersetLoss",
    "Reduction",
    "SigmoidFocalLoss",
    "SoftmaxFocalLoss",
    "TailLoss",
    "TwoWayLoss",
    "create_loss",
    "describe_losses",
    "labelsets_from_matrix",
    "loss_data_params",
    "loss_for_training",
    "loss_params",
    "loss_task",
]

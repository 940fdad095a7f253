"""What both training modes decide before the first step: the split, the loss (with the head's output bias),
the targets in the loss's form, and the checks that must fail before anything is written or extracted."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from tailtag.config import TrainConfig
from tailtag.errors import OptionError
from tailtag.labels import LabelTable
from tailtag.losses import LOSSES, TailLoss, loss_data_params, loss_for_training
from tailtag.split import read_split, split_table
from tailtag.stats.imbalance import assign_buckets


def resolve_split(table: LabelTable, split_dir: Path | None, config: TrainConfig) -> dict[str, np.ndarray]:
    """Row indices of train/val (and test if present): from a split folder, or a stratified hold-out."""
    if split_dir is not None:
        subsets = read_split(split_dir, table)
        missing = [name for name in ("train", "val") if name not in subsets]
        if missing:
            raise OptionError(
                f"--split {split_dir}: no {' or '.join(m + '.txt' for m in missing)}; training needs train and val\n"
                f"  fix: tailtag split LABELS --out {split_dir} --fractions 0.75,0.25"
            )
        return subsets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate-label warnings are printed by `inspect`
        split = split_table(table, fractions=[1 - config.val_fraction, config.val_fraction], seed=config.seed)
    return split.indices()


def check_sampler_and_loss(table: LabelTable, subsets: dict[str, np.ndarray], config: TrainConfig) -> None:
    """Raise now, before anything is written, extracted or decoded, if the sampler or the loss cannot work on
    the training split (e.g. a powerset_ros epoch too large for memory, too many label combinations for the
    powerset loss); their warnings wait for the real construction, so they print once."""
    from tailtag.sampling import create_sampler

    train_matrix = table.matrix[subsets["train"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        create_sampler(config.sampler, train_matrix, seed=config.seed, **config.sampler_params)
        if config.loss in LOSSES:
            loss_data_params(config.loss, train_matrix)


def label_buckets(train_table: LabelTable, config: TrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """((K,) training positives, (K,) head/medium/tail buckets, (K,) bool tail mask or None when no label is tail)."""
    counts = train_table.label_counts()
    buckets = assign_buckets(counts, head_min=config.head_min, tail_max=config.tail_max)
    tail_mask = np.array([bucket == "tail" for bucket in buckets])
    return counts, buckets, tail_mask if tail_mask.any() else None


def make_loss(train_matrix: sp.spmatrix | np.ndarray, config: TrainConfig) -> tuple[TailLoss, bool, np.ndarray | None]:
    """(loss, whether it takes class indices, (K,) prior for the head's output bias or None), from the
    (N, K) 0/1 training labels."""
    matrix = sp.csr_matrix(train_matrix)
    n_train, n_labels = matrix.shape
    counts = np.bincount(matrix.indices, minlength=n_labels).astype(np.int64)
    info = LOSSES.get(config.loss)
    loss = loss_for_training(config.loss, matrix, **config.loss_params)
    multiclass_loss = info is not None and info.task == "multiclass"
    n_outputs = loss.n_outputs or n_labels
    prior = counts / n_train if (n_outputs == n_labels and not multiclass_loss) else None
    return loss, multiclass_loss, prior


def training_targets(matrix: sp.spmatrix | np.ndarray, multiclass_loss: bool) -> np.ndarray:
    """(N, K) float32 multi-hot targets, or (N,) int64 class indices for a multi-class loss: `sparse_targets`
    made dense whole (fine-tuning holds the targets of its images; head mode keeps them sparse)."""
    targets = sparse_targets(matrix, multiclass_loss)
    return targets if multiclass_loss else targets.toarray()


def sparse_targets(matrix: sp.spmatrix | np.ndarray, multiclass_loss: bool) -> sp.csr_matrix | np.ndarray:
    """The targets of N images kept small: (N, K) float32 CSR, or (N,) int64 class indices for a multi-class
    loss (the first positive label, 0 for a row without one).
    `batch_targets` makes the dense (B, K) rows of one batch from it; no (N, K) dense matrix is ever built."""
    csr = sp.csr_matrix(matrix, dtype=np.float32)
    csr.eliminate_zeros()
    csr.sort_indices()
    if not multiclass_loss:
        return csr
    classes = np.zeros(csr.shape[0], dtype=np.int64)
    nonempty = np.diff(csr.indptr) > 0
    classes[nonempty] = csr.indices[csr.indptr[:-1][nonempty]]
    return classes


def batch_targets(targets: sp.csr_matrix | np.ndarray, rows: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(B, K) float32 dense targets (or (B,) int64 classes) of `rows` of `sparse_targets`' output."""
    rows = np.asarray(rows)
    if sp.issparse(targets):
        return torch.from_numpy(targets[rows].toarray())
    return torch.from_numpy(targets[rows])


def warn_if_weights_cancel(config: TrainConfig) -> None:
    """Warn when the loss's per-label weights cannot change the model: a constant per-label factor scales only the
    gradients of that label's own head parameters when nothing upstream trains (top_blocks 0, linear or scaled
    head), and Adam's per-parameter normalisation divides such a scale out (Kingma & Ba 2015, section 2.1:
    the step is invariant to rescaling the gradient)."""
    weighted = config.loss in ("cb_bce", "cb_focal") or (
        config.loss == "focal" and config.loss_params.get("class_weight", "none") != "none"
    )
    if weighted and config.optimizer == "adamw" and config.top_blocks == 0 and config.head in ("linear", "scaled"):
        warnings.warn(
            f"loss {config.loss}: its class weights multiply each label's whole loss, and with a {config.head} head "
            "on frozen pooled features (top_blocks 0) each label trains only its own parameters, whose AdamW steps "
            "do not depend on that factor: expect the same model as without the weights. To make them count: "
            "optimizer=sgd, head=mlp or top_blocks>=1; or weigh positives against negatives (bce_pos_weight, "
            "bce_weighted, asl, dbloss)",
            stacklevel=2,
        )

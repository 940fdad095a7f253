"""Out-of-fold probabilities: K cross-fitted head-mode models, each scoring the fold it never saw.

Confident learning (Northcutt et al., JAIR 2021, https://arxiv.org/abs/1911.00068) needs predicted
probabilities that did not see the label they judge. The folds come from tailtag's own stratified
splitter (`split_table(folds=K, seed)`); each fold's model is trained by the training engine that
`tailtag compare` uses (`tailtag.compare.cell.train_probabilities`: `tailtag train`'s head-mode pieces on
cached pooled features), never by a second trainer. This module is the one place that calls it, so
moving to a shared head-mode training function is a local edit.

Inside the K-1 training folds a stratified `INNER_VAL_FRACTION` is held out to pick the best epoch (as
`tailtag train` does): picking it on the fold being scored would let that fold's labels leak into its scores.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from tailtag.labels import LabelTable

INNER_VAL_FRACTION = 0.15


def fold_assignment(table: LabelTable, folds: int, seed: int) -> np.ndarray:
    """(N,) int64 fold index of every image, by tailtag's iterative stratification (seeded)."""
    from tailtag.split import split_table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rare labels are reported by `tailtag inspect`, not here
        return split_table(table, folds=folds, seed=seed).assignment


def _inner_subsets(table: LabelTable, fold_of: np.ndarray, k: int, seed: int) -> np.ndarray:
    """(N,) int8 subset codes for fold k: 0 train, 1 val (inner hold-out of the training folds), 2 = fold k."""
    from tailtag.split import split_table

    subset = np.full(len(fold_of), 2, dtype=np.int8)
    rest = np.flatnonzero(fold_of != k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inner = split_table(
            table.subset(rest), fractions=(1 - INNER_VAL_FRACTION, INNER_VAL_FRACTION), seed=seed + k
        ).assignment
    subset[rest] = inner.astype(np.int8)
    return subset


def oof_probabilities(
    features: np.ndarray,
    table: LabelTable,
    train_values: dict,
    *,
    folds: int = 5,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold probabilities of every (image, label).

    Args:
        features: (V, N, D) float32 cached pooled features (views x images x dims) of the table's rows.
        table: the N images' labels (L labels).
        train_values: TrainConfig mapping of the models to train (head mode; `top_blocks` must be 0).
        folds: K >= 2.
        seed: seed of the folds; each fold's model is seeded by `train_values["seed"]`.
        progress: called with one line per trained fold.

    Returns:
        (probabilities (N, L) float32, fold (N,) int64): row i is scored by the model that left out fold[i].
    """
    from tailtag.compare.cell import train_probabilities
    from tailtag.compare.features import Prepared

    targets = table.matrix.toarray().astype(np.uint8)
    fold_of = fold_assignment(table, folds, seed)
    out = np.zeros(targets.shape, dtype=np.float32)
    for k in range(folds):
        subset = _inner_subsets(table, fold_of, k, seed)
        prepared = Prepared(
            features, targets, subset, list(table.names), np.zeros(table.n_labels, dtype=bool), table.task, ""
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # per-epoch training warnings would repeat K times
            _, held_out, info = train_probabilities(prepared, dict(train_values))
        out[prepared.rows("test")] = held_out
        if progress is not None:
            progress(
                f"fold {k + 1}/{folds}: {int((subset == 2).sum())} images scored, "
                f"trained on {int((subset == 0).sum())} "
                f"(best epoch {info['best_epoch']}, {info['train_seconds']:.1f} s)"
            )
    return out, fold_of


def head_values(config) -> dict:
    """The TrainConfig of `config` as the mapping `oof_probabilities` takes, on pooled features (top_blocks 0):
    the engine trains heads on pooled features, the vectors near-duplicate search compares too."""
    values = dataclasses.asdict(config)
    values.update(mode="head", top_blocks=0)
    return values


def as_table(targets: np.ndarray, names: list[str], task: str = "multilabel") -> LabelTable:
    """A LabelTable of an (N, L) 0/1 matrix (row paths are placeholders), for library callers with arrays."""
    paths = np.array([f"row{i}" for i in range(targets.shape[0])], dtype=object)
    return LabelTable(paths=paths, names=list(names), matrix=sp.csr_matrix(targets.astype(np.uint8)), task=task)

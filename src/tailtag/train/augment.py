"""Augmentation in finetune mode: the minority-targeted policy, and augmentation seeded per draw.

Minority-targeted augmentation: an image that carries a rare label is drawn many times per epoch by the
imbalance-aware samplers (and is, in any case, one of few examples of its label), so it gets the "strong"
pipeline (RandAugment + random erasing, see `tailtag.models.preprocess`) and the rest get `augment`.
This is the minority-oversampling-plus-augmentation practice of the long-tail literature; how strongly
each class should be augmented depends on the data, and Ahn et al., "CUDA: Curriculum of Data
Augmentation for Long-Tailed Recognition" (ICLR 2023, arXiv:2302.05499) found per-class strength to matter
in both directions, so the policy is a switch (`minority_augment`) to compare on held-out data.

Seeding: every draw of an epoch carries its own seed, taken from (seed, epoch, position in the epoch) by
`tailtag.train.finetune_data.EpochBatches`, and `AugmentedImages` augments under that seed. An epoch's
pixels then do not depend on the number of DataLoader workers, on which worker decodes which image, on
the number of DDP processes, or on whether the run was resumed: the loop's promise that an epoch is a
function of (seed, epoch, state at its start).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch.utils.data import Dataset

from tailtag.data import ImageDataset
from tailtag.images import DEFAULT_MAX_PIXELS
from tailtag.stats.imbalance import assign_buckets

Key = tuple[int, int]
"""One draw of an epoch: (row of the training split, seed of its augmentation)."""


def minority_labels(counts: np.ndarray, *, head_min: int, tail_max: int) -> tuple[np.ndarray, str]:
    """Which labels count as minority for the augmentation policy, and the rule that chose them.

    The tail and medium buckets (`assign_buckets` with `head_min` / `tail_max`) when they are a proper,
    non-empty subset of the labels; otherwise (no tail label on a large data set, or every label tail or
    medium on a small one) the labels whose count is below the median count.

    Args:
        counts: (L,) int training positives per label.
        head_min: a label with >= head_min positives is head.
        tail_max: a label with <= tail_max positives is tail.

    Returns:
        ((L,) bool mask of minority labels, a short description of the rule used).
    """
    counts = np.asarray(counts, dtype=np.int64)
    buckets = np.asarray(assign_buckets(counts, head_min=head_min, tail_max=tail_max))
    has_tail = bool(np.any(buckets == "tail"))
    bucketed = buckets != "head"
    if has_tail and not bucketed.all():
        return bucketed, f"tail/medium bucket (< {head_min} training positives)"
    median = float(np.median(counts)) if counts.size else 0.0
    why = "there is no tail label" if not has_tail else "every label is tail or medium"
    return counts < median, f"below the median count {median:g}, as {why} (head_min={head_min}, tail_max={tail_max})"


def minority_rows(matrix: sp.spmatrix | np.ndarray, minority: np.ndarray) -> np.ndarray:
    """(N,) bool: rows of the (N, L) 0/1 `matrix` that carry at least one label of the (L,) `minority` mask."""
    hits = sp.csr_matrix(matrix) @ np.asarray(minority, dtype=np.int64)
    return np.asarray(hits).reshape(-1) > 0


class AugmentedImages(Dataset):
    """Training images indexed by `Key` (row, seed): decode row, then its pipeline under that seed.

    Args:
        paths: (N,) image files of the training split.
        transforms: the pipelines, e.g. [train_transform(cfg, "light"), train_transform(cfg, "strong")].
        choice: (N,) int index into `transforms` for each row (the minority policy's decision).
        draft_sizes: (width, height) each pipeline needs decoded (`train_draft_size`); None: full size.
        max_pixels: images whose header declares more pixels are reported as bad.

    `dataset[(row, seed)]` returns `ImageDataset`'s sample dict (image None and the reason when the file
    cannot be decoded); collate with `tailtag.data.collate_images`. The global torch RNG is restored after
    each sample, so decoding in the main process (num_workers=0) leaves the training RNG (dropout) alone.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        transforms: Sequence[Callable[[Any], torch.Tensor]],
        choice: np.ndarray,
        *,
        draft_sizes: Sequence[tuple[int, int] | None] | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ):
        choice = np.asarray(choice, dtype=np.int64)
        if choice.shape != (len(paths),) or (choice.size and not 0 <= choice.min() <= choice.max() < len(transforms)):
            raise ValueError(f"choice must be ({len(paths)},) indices into {len(transforms)} transforms")
        draft_sizes = list(draft_sizes) if draft_sizes is not None else [None] * len(transforms)
        self.choice = choice
        self.datasets = [
            ImageDataset(paths, transform, draft_size=draft, max_pixels=max_pixels)
            for transform, draft in zip(transforms, draft_sizes, strict=True)
        ]

    def __len__(self) -> int:
        return len(self.choice)

    def __getitem__(self, key: Key) -> dict[str, Any]:
        row, seed = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.datasets[self.choice[row]][row]

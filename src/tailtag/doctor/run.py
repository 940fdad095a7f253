"""`doctor`: labels + images -> out-of-fold scores -> label issues, near-duplicates and leaks.

The pipeline of `tailtag doctor`, as one function a library user can call:

    features    (V, N, D) pooled frozen-backbone features from tailtag.features' cache (`tailtag train`'s
                backbone config, top_blocks 0; views centre, flip and full unless the config sets them)
    oof         (N, L) out-of-fold probabilities from K cross-fitted head-mode models (`oof.py`)
    neighbours  (N, L) share of each image's k nearest neighbours carrying each tag (`neighbours.py`)
    issues      confident-learning label issues (`issues.py`) on the two opinions combined in logit space
    dups        near-duplicate and byte-identical pairs, leaks across `split` parts (`duplicates.py`)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tailtag.doctor.duplicates import DEFAULT_THRESHOLD, DuplicatePairs, find_duplicates
from tailtag.doctor.issues import LabelIssues, find_issues
from tailtag.doctor.neighbours import DEFAULT_NEIGHBOURS, combine_probabilities, neighbour_probabilities
from tailtag.labels import LabelTable

DOCTOR_DEFAULTS: dict = {"views": ["center", "flip", "full"]}
"""Config values the doctor uses where the user's config does not set the key (as `FINETUNE_DEFAULTS` for
`mode: finetune`). Three views: the models train on one view per sample and step and average all three when
scoring, and the neighbour search averages them; on MIML with seeded noise (seeds 0, 1, 2) this raised the
ranking's average precision from 0.699 (centre only) to 0.734, for about 2 minutes more of one-time feature
extraction (the cache keeps them)."""


@dataclass
class DoctorResult:
    """Everything `doctor` found, on the `table` rows it could use (rows of unreadable images are dropped).

    Attributes:
        table: the usable images' labels (N images); `rows` maps them to the input table.
        rows: (N,) int64 row of each image in the input table.
        probabilities: (N, L) float32 out-of-fold probabilities of the cross-fitted models.
        neighbours: (N, L) float32 share of each image's nearest neighbours carrying each tag (smoothed).
        fold: (N,) int64 fold of each image.
        issues: label issues, indices into `table`.
        duplicates: duplicate pairs, indices into `table`.
        part: (N,) split part of each image ('' without --split).
        settings: what was run (folds, seed, threshold, training config).
        seconds: wall time of each stage.
    """

    table: LabelTable
    rows: np.ndarray
    probabilities: np.ndarray
    neighbours: np.ndarray
    fold: np.ndarray
    issues: LabelIssues
    duplicates: DuplicatePairs
    part: np.ndarray
    settings: dict
    seconds: dict[str, float] = field(default_factory=dict)


def pooled_features(table: LabelTable, config, *, progress: bool = True) -> np.ndarray:
    """(V, N, D) float32 pooled features of the table's images by `config`'s backbone (NaN rows: unreadable)."""
    from tailtag.features import extract_features
    from tailtag.models import create_backbone

    backbone = create_backbone(
        config.backbone, None if config.weights == "none" else config.weights, input_size=config.image_size or None
    )
    return extract_features(
        backbone,
        [table.resolve(p) for p in table.paths],
        views=tuple(config.views),
        batch_size=config.feature_batch_size,
        num_workers=config.num_workers,
        cache_dir=Path(config.cache_dir).expanduser(),
        progress=progress,
        on_bad="skip",
    )


def split_parts(table: LabelTable, split_dir: str | Path | None) -> np.ndarray:
    """(N,) part name of every image in the `split_dir` folder's lists ('' for images it does not list)."""
    part = np.full(table.n_images, "", dtype=object)
    if split_dir is None:
        return part
    from tailtag.split import read_split

    for name, rows in read_split(split_dir, table).items():
        part[rows] = name
    return part


def doctor(
    table: LabelTable,
    config,
    *,
    folds: int = 5,
    seed: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    split_dir: str | Path | None = None,
    exact_groups: list[list[str]] | None = None,
    features: np.ndarray | None = None,
    neighbours: int = DEFAULT_NEIGHBOURS,
    log: Callable[[str], None] | None = None,
) -> DoctorResult:
    """Run the doctor on `table` (see the module docstring).

    Args:
        table: labels with resolvable image paths (`with_root`), N images x L labels.
        config: a `TrainConfig` (backbone, views, cache and the head-mode training of each fold); the CLI's is
            `load_config(..., defaults=DOCTOR_DEFAULTS)`.
        folds: K cross-fitted models.
        seed: seed of the folds.
        threshold: cosine similarity of a near-duplicate pair.
        split_dir: a `tailtag split` folder; pairs across its parts are leaks.
        exact_groups: byte-identical path groups (`check_images(...).duplicates`), listed as exact pairs.
        features: (V, N, D) precomputed pooled features (default: extracted through the cache).
        neighbours: k of the neighbour vote.
        log: called with progress lines.
    """
    from tailtag.doctor.oof import head_values, oof_probabilities

    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    part_all = split_parts(table, split_dir)
    if features is None:
        features = pooled_features(table, config, progress=True)
    seconds["features"] = time.perf_counter() - started
    ok = ~np.isnan(features[0, :, 0])
    rows = np.flatnonzero(ok)
    if not ok.all():
        log(f"warning: left out {int((~ok).sum())} unreadable image(s) of {len(ok)}")
    used, features = table.subset(rows), features[:, ok]
    values = head_values(config)
    mark = time.perf_counter()
    probabilities, fold = oof_probabilities(features, used, values, folds=folds, seed=seed, progress=log)
    seconds["out_of_fold"] = time.perf_counter() - mark
    mark = time.perf_counter()
    votes = neighbour_probabilities(features, used.matrix, k=neighbours)
    seconds["neighbours"] = time.perf_counter() - mark
    mark = time.perf_counter()
    issues = find_issues(used.matrix, combine_probabilities(probabilities, votes))
    seconds["issues"] = time.perf_counter() - mark
    mark = time.perf_counter()
    duplicates = find_duplicates(features[0], used.paths, exact_groups, threshold)
    seconds["duplicates"] = time.perf_counter() - mark
    seconds["total"] = time.perf_counter() - started
    settings = {
        "folds": folds,
        "seed": seed,
        "neighbours": neighbours,
        "similarity_threshold": threshold,
        "split": str(split_dir) if split_dir is not None else None,
        "train": {k: values[k] for k in ("backbone", "weights", "views", "image_size", "head", "loss", "epochs", "lr")},
    }
    seconds = {key: round(value, 2) for key, value in seconds.items()}
    return DoctorResult(
        used, rows, probabilities, votes.astype(np.float32), fold, issues, duplicates, part_all[rows], settings, seconds
    )

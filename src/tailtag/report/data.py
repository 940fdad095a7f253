"""`ReportData`: the arrays the run report draws from, validated once when built.

`tailtag evaluate` fills one from the evaluation split and hands it to `write_report` together with the JSON
summary. The summary is the source of truth for every number printed in the report; `ReportData` feeds the
plots (curves, reliability diagram, long-tail profile) and the image thumbnails.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from tailtag.errors import TailtagError
from tailtag.labels.table import Task

_TASKS = ("multilabel", "multiclass")
# Calibrated probabilities can leave [0, 1] by a rounding error (e.g. 1.0000001 from a float32 sigmoid).
_PROBABILITY_SLACK = 1e-4


@dataclass(frozen=True, eq=False)
class ReportData:
    """Evaluation arrays for the report; `__post_init__` converts them and checks that they agree.

    Attributes:
        names: (K,) label names, column order of every array.
        paths: (N,) absolute image paths, for the error thumbnails (missing files get a placeholder).
        targets: (N, K) uint8 0/1 ground truth (a scipy sparse matrix is densified).
        raw_scores: (N, K) float32 probabilities before calibration.
        scores: (N, K) float32 probabilities after calibration (equal to `raw_scores` without calibration);
            the thresholds apply to these.
        thresholds: (K,) float64 fitted decision thresholds (score >= threshold predicts the label).
        train_counts: (K,) int64 positives of each label in the training split.
        buckets: (K,) "head" / "medium" / "tail" of each label (from the training counts).
        history: one dict per epoch (keys such as epoch, train_loss, val_loss, macro_f1, mAP, lr); may be empty.
        command: the exact command line of the run.
        config_yaml: the run's resolved config.yaml text.
        task: "multilabel" or "multiclass".
        images: False when the rows are feature vectors computed elsewhere (`tailtag train --features`): the
            page then shows no thumbnails and says why.
    """

    names: list[str]
    paths: list[str]
    targets: np.ndarray
    raw_scores: np.ndarray
    scores: np.ndarray
    thresholds: np.ndarray
    train_counts: np.ndarray
    buckets: list[str]
    history: list[dict] = field(default_factory=list)
    command: str = ""
    config_yaml: str = ""
    task: Task = "multilabel"
    images: bool = True

    def __post_init__(self) -> None:
        names = [str(n) for n in self.names]
        k = len(names)
        targets = self.targets.toarray() if sp.issparse(self.targets) else np.asarray(self.targets)
        n = targets.shape[0] if targets.ndim == 2 else len(self.paths)
        problems: list[str] = []
        if targets.ndim != 2 or targets.shape != (n, k):
            problems.append(f"targets must have shape (N, K) = ({n}, {k}); got {targets.shape}")
        elif not _is_binary(targets):
            problems.append("targets must hold only 0 and 1; got other values")
        if len(self.paths) != n:
            problems.append(f"paths must hold one path per row of targets ({n}); got {len(self.paths)}")
        raw = _probabilities(self.raw_scores, "raw_scores", (n, k), problems)
        scores = _probabilities(self.scores, "scores", (n, k), problems)
        thresholds = _vector(self.thresholds, "thresholds", k, np.float64, problems)
        counts = _vector(self.train_counts, "train_counts", k, np.int64, problems)
        if counts.size and counts.min(initial=0) < 0:
            problems.append(f"train_counts must be >= 0; got a minimum of {counts.min()}")
        if len(self.buckets) != k:
            problems.append(f"buckets must hold one name per label ({k}); got {len(self.buckets)}")
        if self.task not in _TASKS:
            problems.append(f"task must be one of {list(_TASKS)}; got {self.task!r}")
        if not isinstance(self.history, list) or not all(isinstance(row, dict) for row in self.history):
            problems.append("history must be a list of dicts, one per epoch")
        if problems:
            raise TailtagError(
                "ReportData: " + "; ".join(problems) + ". fix: build every array from the same evaluation split, "
                "with one column per label name"
            )
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "paths", [str(p) for p in self.paths])
        object.__setattr__(self, "targets", targets.astype(np.uint8, copy=False))
        object.__setattr__(self, "raw_scores", raw)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "thresholds", thresholds)
        object.__setattr__(self, "train_counts", counts)
        object.__setattr__(self, "buckets", [str(b) for b in self.buckets])

    @property
    def n_images(self) -> int:
        return self.targets.shape[0]

    @property
    def n_labels(self) -> int:
        return len(self.names)

    @property
    def calibrated(self) -> bool:
        """Whether `scores` differ from `raw_scores` (a calibration step was applied)."""
        return self.raw_scores is not self.scores and not np.array_equal(self.raw_scores, self.scores)

    def support(self) -> np.ndarray:
        """(K,) int64 positives per label in the evaluation data."""
        return self.targets.sum(axis=0, dtype=np.int64)

    def predictions(self) -> np.ndarray:
        """(N, K) bool decisions at the fitted thresholds."""
        return self.scores >= self.thresholds


def _probabilities(values: object, what: str, shape: tuple[int, int], problems: list[str]) -> np.ndarray:
    """(N, K) float32 in [0, 1], or an empty array after appending what is wrong to `problems`."""
    array = np.asarray(values, dtype=np.float32)
    if array.shape != shape:
        problems.append(f"{what} must have shape (N, K) = {shape}; got {array.shape}")
        return array
    if not array.size:
        return array
    n_bad = int(np.count_nonzero(~np.isfinite(array)))
    if n_bad:
        problems.append(f"{what} has {n_bad} NaN or infinite cells")
        return array
    low, high = float(array.min()), float(array.max())
    if low < -_PROBABILITY_SLACK or high > 1 + _PROBABILITY_SLACK:
        problems.append(f"{what} must be probabilities in [0, 1]; got values in [{low:.4g}, {high:.4g}] (logits?)")
        return array
    if low < 0 or high > 1:
        array = np.clip(array, 0.0, 1.0)
    return array


def _is_binary(targets: np.ndarray) -> bool:
    if not targets.size:
        return True
    if targets.dtype.kind in "biu":  # min / max instead of np.isin: one pass over an 8,000 x 7,000 matrix
        return bool(targets.min() >= 0 and targets.max() <= 1)
    return bool(np.isin(targets, (0, 1)).all())


def _vector(values: object, what: str, k: int, dtype: type, problems: list[str]) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != (k,):
        problems.append(f"{what} must have shape ({k},); got {array.shape}")
        return array
    if dtype is np.float64 and not np.isfinite(array.astype(np.float64)).all():
        problems.append(f"{what} has NaN or infinite values")
    return array.astype(dtype)

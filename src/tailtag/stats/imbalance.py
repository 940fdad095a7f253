"""Imbalance measures of a multi-label table: IRLbl, MeanIR, MaxIR, CVIR, SCUMBLE, cardinality, density, buckets.

Everything is computed from the (N, L) CSR matrix without densifying it: the cost is O(nnz + N + L) memory
and time, so 1M images x 10k labels with a few labels per image takes well under a second.

Definitions (they follow the mldr R package, `R/measures.R`, which is the authors' reference code):

- count(l): number of images with label l; frequency(l) = count(l) / N.
- IRLbl(l) = max_l' count(l') / count(l)  (1 for the most frequent label, larger for rarer ones).
- MeanIR = mean of IRLbl over labels; MaxIR = max of IRLbl;
  CVIR = IRLbl_sigma / MeanIR with IRLbl_sigma = sqrt(sum_l (IRLbl(l) - MeanIR)^2 / (L' - 1)).
- SCUMBLE(i) = 1 - geometric_mean(IRLbl(l) for l in Y_i) / arithmetic_mean(IRLbl(l) for l in Y_i), over the
  labels active on image i; 0 for an image with fewer than 2 labels. The data set SCUMBLE is the mean over ALL
  N images (unlabelled and single-label images count as 0), as in mldr. SCUMBLE.CV = std / mean of SCUMBLE(i).
- Label SCUMBLE(l) = mean SCUMBLE(i) over the images carrying l (mldr's `labels$SCUMBLE`).
- cardinality = mean labels per image; density = cardinality / L (L counts every column, empty ones too).

Zero-positive labels: mldr sets their IRLbl to 0 and averages that 0 into MeanIR, which lowers MeanIR for every
empty column. Here their IRLbl is NaN (null in JSON), they are left out of MeanIR, MaxIR and CVIR (L' above is
the number of labels with at least one positive), and `ImbalanceStats.empty_labels` lists them so callers can
warn. A table with no positive at all has NaN MeanIR/MaxIR/CVIR; CVIR is 0 when only one label has positives.

References:
    F. Charte, A. J. Rivera, M. J. del Jesus, F. Herrera. "Addressing imbalance in multilabel classification:
    Measures and random resampling algorithms." Neurocomputing 163 (2015) 3-16. (IRLbl, MeanIR, CVIR)
    F. Charte, A. J. Rivera, M. J. del Jesus, F. Herrera. "Concurrence among imbalanced labels and its
    influence on multilabel resampling algorithms." HAIS 2014, LNCS 8480, 110-121. (SCUMBLE)
    F. Charte, A. J. Rivera, M. J. del Jesus, F. Herrera. "Dealing with difficult minority labels in imbalanced
    multilabel data sets." Neurocomputing 326-327 (2019) 39-53.
    D. Charte, F. Charte. "Working with multilabel datasets in R: the mldr package." The R Journal 7(2), 2015.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from tailtag.errors import OptionError
from tailtag.labels import LabelTable

Bucket = Literal["head", "medium", "tail"]
BUCKETS: tuple[Bucket, ...] = ("head", "medium", "tail")
DEFAULT_HEAD_MIN = 101
DEFAULT_TAIL_MAX = 19


def irlbl(counts: np.ndarray) -> np.ndarray:
    """Imbalance ratio per label, IRLbl(l) = max count / count(l).

    Args:
        counts: (L,) integer positives per label.

    Returns:
        (L,) float64; NaN for labels with no positive (see the module docstring).
    """
    counts = np.asarray(counts, dtype=np.float64)
    out = np.full(counts.shape, np.nan)
    present = counts > 0
    if present.any():
        out[present] = counts.max() / counts[present]
    return out


def imbalance_ratios(irlbl_values: np.ndarray) -> tuple[float, float, float]:
    """MeanIR, MaxIR and CVIR over the labels whose IRLbl is defined (not NaN).

    Args:
        irlbl_values: (L,) float IRLbl per label, NaN for zero-positive labels.

    Returns:
        (mean_ir, max_ir, cvir); all NaN when no label has a positive, cvir 0.0 when only one has.
    """
    values = np.asarray(irlbl_values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean_ir = float(values.mean())
    if values.size == 1:
        return mean_ir, float(values.max()), 0.0
    sigma = float(np.sqrt(np.sum((values - mean_ir) ** 2) / (values.size - 1)))
    return mean_ir, float(values.max()), sigma / mean_ir


def row_ids(matrix: sp.csr_matrix) -> np.ndarray:
    """(nnz,) int64 row index of every stored entry of a CSR matrix, in storage order."""
    return np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))


def scumble_per_image(matrix: sp.csr_matrix, irlbl_values: np.ndarray) -> np.ndarray:
    """SCUMBLE of each image: 1 - geometric mean / arithmetic mean of the IRLbl of its labels.

    Args:
        matrix: (N, L) CSR 0/1 label matrix.
        irlbl_values: (L,) IRLbl per label (finite for every label that has an entry in `matrix`).

    Returns:
        (N,) float64 in [0, 1); 0 for images with fewer than two labels.
    """
    n = matrix.shape[0]
    per_label = np.diff(matrix.indptr)
    rows = row_ids(matrix)
    values = np.asarray(irlbl_values, dtype=np.float64)[matrix.indices]
    # Log-sum for the geometric mean: a plain product of thousands of IRLbl values would overflow.
    log_sum = np.bincount(rows, weights=np.log(values), minlength=n)
    lin_sum = np.bincount(rows, weights=values, minlength=n)
    out = np.zeros(n, dtype=np.float64)
    multi = per_label >= 2
    k = per_label[multi]
    out[multi] = 1.0 - np.exp(log_sum[multi] / k) / (lin_sum[multi] / k)
    # AM >= GM, so negatives are rounding noise of equal ratios.
    return np.clip(out, 0.0, 1.0)


def label_scumble(matrix: sp.csr_matrix, image_scumble: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(L,) mean SCUMBLE of the images carrying each label; NaN for labels with no positive."""
    sums = np.bincount(matrix.indices, weights=image_scumble[row_ids(matrix)], minlength=matrix.shape[1])
    out = np.full(matrix.shape[1], np.nan)
    present = counts > 0
    out[present] = sums[present] / counts[present]
    return out


def check_bucket_thresholds(head_min: int, tail_max: int) -> None:
    """Raise `OptionError` unless 0 <= tail_max < head_min (the medium bucket may be empty)."""
    if tail_max < 0:
        raise OptionError(f"--tail-max (tail_max) must be >= 0, got {tail_max}; fix: e.g. --tail-max 19")
    if head_min <= tail_max:
        raise OptionError(
            f"--head-min (head_min) must be greater than --tail-max (tail_max), got head_min={head_min} and "
            f"tail_max={tail_max}; fix: e.g. --head-min 101 --tail-max 19 (head > 100, tail < 20 positives)"
        )


def assign_buckets(
    counts: np.ndarray, head_min: int = DEFAULT_HEAD_MIN, tail_max: int = DEFAULT_TAIL_MAX
) -> np.ndarray:
    """Head / medium / tail bucket of each label from its number of training positives.

    Args:
        counts: (L,) positives per label.
        head_min: labels with at least this many positives are "head" (default 101, i.e. > 100).
        tail_max: labels with at most this many positives are "tail" (default 19, i.e. < 20); zero-positive
            labels are tail too. Everything in between is "medium".

    Returns:
        (L,) array of "head" / "medium" / "tail" strings.
    """
    check_bucket_thresholds(head_min, tail_max)
    counts = np.asarray(counts)
    out = np.full(counts.shape, "medium", dtype="<U6")
    out[counts >= head_min] = "head"
    out[counts <= tail_max] = "tail"
    return out


@dataclass(frozen=True, eq=False)
class ImbalanceStats:
    """Per-label and data-set imbalance measures of one `LabelTable` (definitions in the module docstring).

    Attributes:
        names: (L,) label names.
        counts: (L,) int64 positives per label.
        frequencies: (L,) float64 counts / N (NaN when N == 0).
        irlbl: (L,) float64 IRLbl, NaN for zero-positive labels.
        label_scumble: (L,) float64 mean SCUMBLE of the images of each label, NaN for zero-positive labels.
        image_scumble: (N,) float64 SCUMBLE of each image.
        labels_per_image: (N,) int64.
        mean_ir, max_ir, cvir: data-set imbalance ratios over labels with positives.
        scumble: mean of `image_scumble`; scumble_cv: its coefficient of variation (NaN when scumble is 0).
        cardinality: mean labels per image; density: cardinality / L.
    """

    names: list[str]
    counts: np.ndarray
    frequencies: np.ndarray
    irlbl: np.ndarray
    label_scumble: np.ndarray
    image_scumble: np.ndarray
    labels_per_image: np.ndarray
    mean_ir: float
    max_ir: float
    cvir: float
    scumble: float
    scumble_cv: float
    cardinality: float
    density: float

    @property
    def n_images(self) -> int:
        return int(self.labels_per_image.shape[0])

    @property
    def n_labels(self) -> int:
        return len(self.names)

    @property
    def empty_labels(self) -> np.ndarray:
        """Column indices of labels with no positive image."""
        return np.flatnonzero(self.counts == 0)

    @property
    def n_unlabelled(self) -> int:
        """Number of images with no label (valid negatives in multi-label data)."""
        return int(np.count_nonzero(self.labels_per_image == 0))


def _mean_or_nan(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def imbalance_stats(table: LabelTable) -> ImbalanceStats:
    """All imbalance measures of `table`, computed on its sparse matrix.

    Example:
        >>> from tailtag.labels import from_label_lists
        >>> stats = imbalance_stats(from_label_lists(["1", "2", "3"], [["sea"], ["sea", "sun"], ["sea"]]))
        >>> stats.irlbl.tolist(), round(stats.mean_ir, 3), round(stats.cardinality, 3)
        ([1.0, 3.0], 2.0, 1.333)
    """
    matrix = table.matrix
    n, n_labels = matrix.shape
    counts = table.label_counts()
    per_image = table.labels_per_image()
    ratios = irlbl(counts)
    mean_ir, max_ir, cvir = imbalance_ratios(ratios)
    image_scumble = scumble_per_image(matrix, ratios)
    scumble = _mean_or_nan(image_scumble)
    scumble_cv = float(image_scumble.std(ddof=1) / scumble) if n > 1 and scumble > 0 else float("nan")
    cardinality = _mean_or_nan(per_image)
    return ImbalanceStats(
        names=list(table.names),
        counts=counts,
        frequencies=counts / n if n else np.full(n_labels, np.nan),
        irlbl=ratios,
        label_scumble=label_scumble(matrix, image_scumble, counts),
        image_scumble=image_scumble,
        labels_per_image=per_image,
        mean_ir=mean_ir,
        max_ir=max_ir,
        cvir=cvir,
        scumble=scumble,
        scumble_cv=scumble_cv,
        cardinality=cardinality,
        density=cardinality / n_labels if n_labels else float("nan"),
    )

"""Imbalance-aware index samplers over the training split's (N, L) multi-hot matrix (numpy only).

- `ShuffleSampler` ("none", "random"): each image once per epoch, shuffled.
- `PowersetROS` ("powerset_ros"): label-powerset random oversampling: every label combination (the
  label set of an image, "no label" included) is oversampled with replacement up to the size of the
  largest one. This is the PaddleClas MIML seed recipe: label-powerset transform, then random
  oversampling of every label set to the size of the largest (also the recipe of the MIML tutorial
  "Imbalanced multilabel image classification using Keras", medium.com/the-owl). On MIML (Zhou &
  Zhang, NIPS 2006) it raises 20 label sets of 1 to 378 images to 378 each: 7,560 draws per epoch.
- `ClassAwareSampler` ("class_aware"): class-aware sampling of Shen, Lin, Huang, "Relay
  Backpropagation for Effective Learning of Deep Convolutional Neural Networks", ECCV 2016.
- `RepeatFactorSampler` ("repeat_factor"): repeat-factor sampling of Gupta, Dollar, Girshick, "LVIS: A
  Dataset for Large Vocabulary Instance Segmentation", CVPR 2019 (arXiv:1908.03195).
- `WeightedSampler` ("weighted"): `torch.utils.data.WeightedRandomSampler`, deterministic per
  (seed, epoch) and shardable across DDP ranks.

ML-ROS and ML-RUS (Charte et al. 2015) live in `tailtag.sampling.mlresample`.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import scipy.sparse as sp

from tailtag.errors import OptionError
from tailtag.sampling.base import (
    EpochSampler,
    LabelMatrix,
    warn_empty_labels,
)
from tailtag.stats.labelsets import group_rows
from tailtag.validation import check_choice, check_flag, check_int, check_number

WeightMode = Literal["inverse_freq", "sqrt_inverse_freq"]
WeightReduce = Literal["mean", "max"]
NegativesPolicy = Literal["class", "skip"]

# An oversampled epoch this many times the training split is almost always a configuration mistake...
BLOWUP_WARNING = 10
# ...and at this many times, powerset_ros refuses unless target_size is given: with many rare combinations
# (10,000 labels) the epoch's index array alone can outgrow memory (300,000 images, 202,585 combinations:
# 497 M draws, 15.7 GB, measured).
BLOWUP_LIMIT = 100


def row_reduce(
    matrix: sp.csr_matrix, column_values: np.ndarray, how: Literal["mean", "max"], empty: float
) -> np.ndarray:
    """(N,) float64 mean or max of `column_values` (L,) over each row's positive labels; `empty` for rows with none."""
    values = np.asarray(column_values, dtype=np.float64)[matrix.indices]
    per_row = np.diff(matrix.indptr)
    out = np.full(matrix.shape[0], empty, dtype=np.float64)
    rows = np.flatnonzero(per_row)
    if len(rows):
        # reduceat over the starts of non-empty rows: each segment ends where the next non-empty row starts
        reduced = (np.maximum if how == "max" else np.add).reduceat(values, matrix.indptr[rows])
        out[rows] = reduced if how == "max" else reduced / per_row[rows]
    return out


def label_combinations(matrix: sp.csr_matrix) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Label powerset of the rows: (N,) int64 combination id per row, and the G combinations as column tuples.

    Ids are given in order of first appearance; rows with no label form the combination `()`.
    """
    if not matrix.has_sorted_indices:
        matrix = matrix.sorted_indices()
    reps, inverse, _, _ = group_rows(matrix)  # the one label-set grouping of the library (stats.labelsets)
    order = np.argsort(reps, kind="stable")  # sets by their first row: ids in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    combinations = [tuple(int(j) for j in matrix.indices[matrix.indptr[r] : matrix.indptr[r + 1]]) for r in reps[order]]
    return rank[inverse].astype(np.int64), combinations


class ShuffleSampler(EpochSampler):
    """Every training image once per epoch, in a new order each epoch ("none" / "random")."""

    name = "random"

    def _draw(self, rng: np.random.Generator) -> np.ndarray:
        return np.arange(self.n_images, dtype=np.int64)

    def expected_multiplicity(self) -> np.ndarray:
        return np.ones(self.n_images, dtype=np.float64)


class PowersetROS(EpochSampler):
    """Label-powerset random oversampling ("powerset_ros").

    Every label combination g of the training split (its n_g images) keeps all its images and gets
    `target - n_g` more drawn uniformly with replacement from its own images, so each combination
    appears exactly `target` times per epoch; `target` is the size of the largest combination. Images
    with no label form their own combination. Epoch length: G * target (+ the excess of combinations
    larger than a `target_size` cap, which are kept whole and never undersampled).

    Args:
        matrix: (N, L) training multi-hot matrix.
        seed: base seed.
        target_size: cap on the per-combination count; None = size of the largest combination.
        redraw: draw new duplicates every epoch (True), or once, as the offline recipe does (False).

    Attributes:
        combination_ids_: (N,) int64 combination of each image.
        combinations_: (G,) label-column tuples of the combinations.
        combination_sizes_: (G,) int64 images per combination.
        target_size_: count every smaller combination is raised to.
    """

    name = "powerset_ros"

    def __init__(self, matrix: LabelMatrix, *, seed: int = 0, target_size: int | None = None, redraw: bool = True):
        super().__init__(matrix, seed=seed)
        self.target_size = None if target_size is None else check_int(target_size, "target_size", self.name, low=1)
        self.redraw = check_flag(redraw, "redraw", self.name)
        self.combination_ids_, self.combinations_ = label_combinations(self.matrix)
        self.combination_sizes_ = np.bincount(self.combination_ids_).astype(np.int64)
        self.target_size_ = int(self.combination_sizes_.max()) if self.target_size is None else self.target_size
        self._members = np.argsort(self.combination_ids_, kind="stable")  # rows grouped by combination
        self._starts = np.concatenate([[0], np.cumsum(self.combination_sizes_)[:-1]])
        size = int(np.maximum(self.combination_sizes_, self.target_size_).sum())
        if size > BLOWUP_LIMIT * self.n_images and self.target_size is None:
            budget = 3 * self.n_images
            raise OptionError(
                f"powerset_ros: {len(self.combinations_):,} label combinations raised to the largest one "
                f"({self.target_size_:,} images) would make an epoch of {size:,} draws, {size / self.n_images:,.0f}x "
                f"the {self.n_images:,} training images\n  fix: cap the count per combination, e.g. --set "
                f"'sampler_params={{target_size: {cap_for_epoch(self.combination_sizes_, budget)}}}' for an epoch "
                "of about 3x the training images, or use ml_ros, repeat_factor or class_aware"
            )
        if size > BLOWUP_WARNING * self.n_images:
            warnings.warn(
                f"powerset_ros: {len(self.combinations_)} label combinations raised to {self.target_size_} images "
                f"each make an epoch of {size} draws, {size / self.n_images:.0f}x the {self.n_images} training "
                "images; set target_size to cap it, or use ml_ros / repeat_factor.",
                stacklevel=2,
            )

    def _draw(self, rng: np.random.Generator) -> np.ndarray:
        sizes = self.combination_sizes_
        extra = np.maximum(self.target_size_ - sizes, 0)
        group = np.repeat(np.arange(len(sizes)), extra)
        picks = self._members[self._starts[group] + rng.integers(0, sizes[group])]
        return np.concatenate([np.arange(self.n_images, dtype=np.int64), picks])

    def expected_multiplicity(self) -> np.ndarray:
        return np.maximum(self.target_size_ / self.combination_sizes_, 1.0)[self.combination_ids_]


def cap_for_epoch(sizes: np.ndarray, budget: int) -> int:
    """Largest per-combination target t >= 1 whose powerset_ros epoch, sum(max(size, t)), stays within `budget`."""
    sizes = np.sort(np.asarray(sizes, dtype=np.int64))
    low, high = 1, int(sizes[-1])
    while low < high:  # the epoch grows with t: bisect on it
        middle = (low + high + 1) // 2
        if int(np.maximum(sizes, middle).sum()) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


class ClassAwareSampler(EpochSampler):
    """Class-aware sampling ("class_aware"), Shen, Lin, Huang, "Relay Backpropagation ...", ECCV 2016.

    Each draw picks a class, then an image of that class. As in the paper, both choices walk shuffled
    lists: the class list is reshuffled after every pass and each per-class image list when it is used
    up, so over an epoch classes are drawn equally often (exactly, up to the last partial pass) and
    images of a class are spread evenly instead of i.i.d. In multi-label data the picked image also
    brings its other labels, so label frequencies are flatter but not uniform.

    Args:
        matrix: (N, L) training multi-hot matrix.
        seed: base seed.
        num_samples: draws per epoch; None = N.
        negatives: images with no label form one more class ("class") or are never drawn ("skip").

    Attributes:
        class_columns_: (C,) int64 label column of each class drawn from, -1 for the no-label class.
        classes_: (M,) int64 label column each draw of the last epoch came from (-1: no-label class).
    """

    name = "class_aware"
    shuffle_draw = False  # the draw is already in random order, and classes_ stays aligned with indices_

    def __init__(
        self,
        matrix: LabelMatrix,
        *,
        seed: int = 0,
        num_samples: int | None = None,
        negatives: NegativesPolicy = "class",
    ):
        super().__init__(matrix, seed=seed)
        self.num_samples = (
            self.n_images if num_samples is None else check_int(num_samples, "num_samples", self.name, low=1)
        )
        self.negatives = check_choice(negatives, "negatives", self.name, choices=("class", "skip"))
        csc = self.matrix.tocsc()
        columns = [j for j in range(self.n_labels) if csc.indptr[j + 1] > csc.indptr[j]]
        self._lists = [csc.indices[csc.indptr[j] : csc.indptr[j + 1]].astype(np.int64) for j in columns]
        unlabeled = np.flatnonzero(np.diff(self.matrix.indptr) == 0)
        skipped = len(unlabeled) if self.negatives == "skip" else 0
        if len(unlabeled) and not skipped:
            columns.append(-1)
            self._lists.append(unlabeled)
        if not columns:
            raise OptionError("class_aware: no image has a label and negatives='skip'; there is no class to draw.")
        warn_empty_labels(self.label_counts(), self.name)
        if skipped:
            warnings.warn(
                f"class_aware: {skipped} images with no label are never drawn (negatives='skip').", stacklevel=2
            )
        self.class_columns_ = np.asarray(columns, dtype=np.int64)
        self.classes_: np.ndarray | None = None

    def _draw(self, rng: np.random.Generator) -> np.ndarray:
        n, n_classes = self.num_samples, len(self._lists)
        order = _cycled_permutations(np.arange(n_classes), n, rng)
        picks = np.empty(n, dtype=np.int64)
        by_class = np.argsort(order, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(order, minlength=n_classes))])
        for c, members in enumerate(self._lists):
            where = by_class[bounds[c] : bounds[c + 1]]
            picks[where] = _cycled_permutations(members, len(where), rng)
        self.classes_ = self.class_columns_[order]
        return picks

    def expected_multiplicity(self) -> np.ndarray:
        per_class = self.num_samples / len(self._lists)
        out = np.zeros(self.n_images, dtype=np.float64)
        for members in self._lists:
            out[members] += per_class / len(members)
        return out


def _cycled_permutations(items: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) the first n entries of independent shuffles of `items` laid end to end."""
    if n == 0:
        return items[:0]
    passes = -(-n // len(items))
    return rng.permuted(np.tile(items, (passes, 1)), axis=1).ravel()[:n]


class RepeatFactorSampler(EpochSampler):
    """Repeat-factor sampling ("repeat_factor"), Gupta et al., LVIS, CVPR 2019, arXiv:1908.03195.

    Label factor r_c = max(1, sqrt(t / f_c)), f_c = fraction of training images that carry c; image
    factor r_i = max of r_c over its labels (1 for an image with no label). Each epoch an image is
    repeated floor(r_i) times plus once more with probability r_i - floor(r_i) (stochastic rounding),
    so the epoch length varies around sum(r_i).

    The paper uses t = 0.001 for LVIS's 1,203 categories, where that is roughly 1 / L. A fixed 0.001
    would repeat nothing on a data set with a handful of labels (on MIML every f_c is above 0.2), so the
    default threshold is the mean label frequency mean_c(f_c) = cardinality / L: every label rarer than
    the average label is repeated.

    Args:
        matrix: (N, L) training multi-hot matrix.
        seed: base seed.
        threshold: t in (0, 1]; None = mean frequency of the labels that occur.

    Attributes:
        threshold_: the t used.
        label_factors_: (L,) float64 r_c (1 for labels with no image).
        factors_: (N,) float64 r_i, the expected repeats of each image per epoch.
    """

    name = "repeat_factor"

    def __init__(self, matrix: LabelMatrix, *, seed: int = 0, threshold: float | None = None):
        super().__init__(matrix, seed=seed)
        self.threshold = (
            None
            if threshold is None
            else check_number(threshold, "threshold", self.name, low=0, high=1, low_open=True, finite=True)
        )
        freq = self.label_counts() / self.n_images
        present = freq > 0
        if self.threshold is not None:
            self.threshold_ = self.threshold
        else:
            self.threshold_ = float(freq[present].mean()) if present.any() else 1.0
        self.label_factors_ = np.ones(self.n_labels, dtype=np.float64)
        self.label_factors_[present] = np.maximum(1.0, np.sqrt(self.threshold_ / freq[present]))
        self.factors_ = row_reduce(self.matrix, self.label_factors_, "max", empty=1.0)

    def _draw(self, rng: np.random.Generator) -> np.ndarray:
        whole = np.floor(self.factors_)
        repeats = whole.astype(np.int64) + (rng.random(self.n_images) < self.factors_ - whole)
        return np.repeat(np.arange(self.n_images, dtype=np.int64), repeats)

    def expected_multiplicity(self) -> np.ndarray:
        return self.factors_.copy()


class WeightedSampler(EpochSampler):
    """Weighted random sampling ("weighted"), as `torch.utils.data.WeightedRandomSampler`.

    Image i is drawn with probability w_i / sum(w). Weights are given, or computed from label counts
    n_c: "inverse_freq" uses 1 / n_c, "sqrt_inverse_freq" 1 / sqrt(n_c), reduced over the image's
    labels by `reduce` (mean or max); images with no label count as one more label of their own.

    Args:
        matrix: (N, L) training multi-hot matrix.
        seed: base seed.
        weights: (N,) non-negative per-image weights; overrides `mode`.
        mode: how to compute weights when none are given (default "inverse_freq").
        reduce: "mean" or "max" over an image's labels.
        num_samples: draws per epoch; None = N.
        replacement: draw with replacement (default); without it, num_samples <= images of weight > 0.

    Attributes:
        probabilities_: (N,) float64 normalised weights.
    """

    name = "weighted"

    def __init__(
        self,
        matrix: LabelMatrix,
        *,
        seed: int = 0,
        weights: np.ndarray | list[float] | None = None,
        mode: WeightMode | None = None,
        reduce: WeightReduce = "mean",
        num_samples: int | None = None,
        replacement: bool = True,
    ):
        super().__init__(matrix, seed=seed)
        if weights is not None and mode is not None:
            raise OptionError("weighted: give either 'weights' or 'mode', not both.")
        self.mode = check_choice(
            mode or "inverse_freq", "mode", self.name, choices=("inverse_freq", "sqrt_inverse_freq")
        )
        self.reduce = check_choice(reduce, "reduce", self.name, choices=("mean", "max"))
        self.num_samples = (
            self.n_images if num_samples is None else check_int(num_samples, "num_samples", self.name, low=1)
        )
        self.replacement = check_flag(replacement, "replacement", self.name)
        w = self._check_weights(weights) if weights is not None else self._label_weights()
        self.probabilities_ = w / w.sum()
        self.shuffle_draw = not self.replacement  # draws without replacement come out heaviest first
        positive = int(np.count_nonzero(w))
        if not self.replacement and self.num_samples > positive:
            raise OptionError(
                f"The 'num_samples' parameter of weighted must be <= {positive} (images with weight > 0) when "
                f"replacement is false. Got {self.num_samples} instead."
            )

    def _check_weights(self, weights: np.ndarray | list[float]) -> np.ndarray:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (self.n_images,):
            raise OptionError(f"The 'weights' parameter of weighted must have shape ({self.n_images},). Got {w.shape}.")
        bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
        if len(bad):
            raise OptionError(
                f"The 'weights' parameter of weighted must be finite and >= 0. Got {len(bad)} bad entries, "
                f"first {float(w[bad[0]])} at row {int(bad[0])}."
            )
        if w.sum() <= 0:
            raise OptionError("The 'weights' parameter of weighted must have a positive sum. Got all zeros.")
        return w

    def _label_weights(self) -> np.ndarray:
        counts = self.label_counts().astype(np.float64)
        n_unlabeled = int(np.sum(np.diff(self.matrix.indptr) == 0))
        power = 1.0 if self.mode == "inverse_freq" else 0.5
        inverse = np.zeros_like(counts)
        inverse[counts > 0] = counts[counts > 0] ** -power
        return row_reduce(self.matrix, inverse, self.reduce, empty=max(n_unlabeled, 1) ** -power)

    def _draw(self, rng: np.random.Generator) -> np.ndarray:
        return rng.choice(self.n_images, size=self.num_samples, replace=self.replacement, p=self.probabilities_)

    def expected_multiplicity(self) -> np.ndarray:
        if not self.replacement:
            return super().expected_multiplicity()  # no closed form for successive sampling
        return self.num_samples * self.probabilities_

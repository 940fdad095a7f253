"""ML-ROS and ML-RUS: multi-label random over- and undersampling driven by the imbalance ratio.

Charte, Rivera, del Jesus, Herrera, "Addressing imbalance in multilabel classification: Measures and
random resampling algorithms", Neurocomputing 163 (2015) 3-16, doi:10.1016/j.neucom.2014.08.091.

Measures: with n_c the positives of label c, IRLbl(c) = max_c' n_c' / n_c and MeanIR the
mean of IRLbl over labels. Minority labels have IRLbl > MeanIR, majority labels IRLbl < MeanIR.

ML-ROS (the paper's listing): budget = |D| * P / 100 clones. MeanIR is computed once; one bag per minority
label holds the images carrying it. Passes over the bags clone one random image of each bag into D
(raising the counts of all its labels); a bag leaves once its label's IRLbl, re-evaluated on the grown
set, is <= MeanIR. ML-RUS (its listing) mirrors it: budget = |D| * P / 100 deletions from the bags of
the majority labels; a bag leaves once its IRLbl is >= MeanIR.

Deviations from the listings, on purpose:
1. The budget is exact: the listings check it only between passes, so they can overshoot by up to
   (bags - 1) images; here the epoch has exactly N + floor(N P / 100) (ML-ROS) or N - floor(N P / 100)
   (ML-RUS) images, unless (2) stops earlier. So that stopping mid-pass does not favour the first label
   columns, each pass visits the bags in a random order.
2. When every bag has left before the budget is spent the listings loop forever; here the resampling
   stops and warns with the numbers.
3. Labels with no positive image (IRLbl infinite) are left out of MeanIR and of the bags, with a warning.
4. ML-RUS, `protect_minority=True` (default): an image of a majority bag that also carries a minority
   label is never deleted, so no minority label loses a positive (the rule the method is meant to keep;
   mldr.resampling's MLRUS applies the same filter). False deletes from the bags as printed.
5. `redraw=True` (default) reruns the resampling every epoch from (seed, epoch): ML-ROS clones and
   ML-RUS deletes different images each epoch, so undersampling loses no image for good; False
   resamples once, as the paper's offline preprocessing, and only reshuffles per epoch.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.sparse as sp

from tailtag.sampling.base import EpochSampler, LabelMatrix, warn_empty_labels
from tailtag.stats.imbalance import imbalance_ratios, irlbl
from tailtag.validation import check_flag, check_number

# IRLbl and MeanIR are the measures of `tailtag.stats` (Charte et al. 2015): `irlbl` (per label) and
# `imbalance_ratios` (MeanIR, MaxIR, CVIR over labels) keep one meaning each across the package.


def mean_imbalance_ratio(counts: np.ndarray) -> float:
    """MeanIR over the labels that occur (1.0 for a balanced set, NaN when no label occurs)."""
    ratios = irlbl(counts)
    return imbalance_ratios(ratios)[0] if np.any(np.isfinite(ratios)) else math.nan


class _Uniforms:
    """Scalar U[0, 1) draws served from batches: one numpy call per scalar would dominate these loops."""

    def __init__(self, rng: np.random.Generator, batch: int = 8192):
        self._rng, self._batch = rng, batch
        self._buffer: list[float] = []

    def __call__(self) -> float:
        if not self._buffer:
            self._buffer = self._rng.random(self._batch).tolist()
        return self._buffer.pop()


class _MLResampler(EpochSampler):
    """Shared set-up of ML-ROS and ML-RUS: the measures, the budget and the label lists of each row."""

    def __init__(self, matrix: LabelMatrix, *, seed: int, percentage: float, redraw: bool, max_percentage: float):
        super().__init__(matrix, seed=seed)
        self.percentage = check_number(
            percentage, "percentage", self.name, low=0, high=max_percentage, low_open=True, finite=True
        )
        self.redraw = check_flag(redraw, "redraw", self.name)
        counts = self.label_counts()
        warn_empty_labels(counts, self.name)
        self.irlbl_ = irlbl(counts)
        self.mean_ir_ = mean_imbalance_ratio(counts)
        self.minority_labels_ = np.flatnonzero(self.irlbl_ > self.mean_ir_)
        self.majority_labels_ = np.flatnonzero(self.irlbl_ < self.mean_ir_)
        self.budget_ = int(self.n_images * self.percentage / 100)
        self._counts = counts.tolist()
        self._indptr = self.matrix.indptr.tolist()
        self._indices = self.matrix.indices.tolist()
        self._warned = False

    def _bags(self, labels: np.ndarray, exclude: np.ndarray | None = None) -> list[list[int]]:
        csc = self.matrix.tocsc()
        bags = []
        for c in labels:
            rows = csc.indices[csc.indptr[c] : csc.indptr[c + 1]]
            bags.append((rows[~exclude[rows]] if exclude is not None else rows).tolist())
        return bags

    def _labels_of(self, i: int) -> list[int]:
        return self._indices[self._indptr[i] : self._indptr[i + 1]]

    def _warn_balanced(self, labels: np.ndarray, kind: str, consequence: str) -> None:
        if self.budget_ and not len(labels):
            self._warned = True
            warnings.warn(
                f"{self.name}: no {kind} among the {self.n_labels} labels (MeanIR = {self.mean_ir_:.3g}): "
                f"{consequence}, every epoch is a plain shuffle of the {self.n_images} images.",
                stacklevel=5,
            )

    def _warn_short(self, done: int, verb: str, limit: str) -> None:
        if done < self.budget_ and not self._warned:
            self._warned = True
            warnings.warn(
                f"{self.name}: {verb} {done} of the {self.budget_} images asked (percentage={self.percentage:g}) "
                f"because {limit} (MeanIR = {self.mean_ir_:.3g}); the epoch is smaller than asked.",
                stacklevel=5,
            )


class MLROS(_MLResampler):
    """ML-ROS ("ml_ros"): clone random images of minority labels until the set grows by `percentage` %.

    Args:
        matrix: (N, L) training multi-hot matrix.
        seed: base seed.
        percentage: P, growth of the epoch in percent of N (paper default 25).
        redraw: resample every epoch (True) or once (False); see the module notes.

    Attributes:
        irlbl_: (L,) float64 IRLbl per label (NaN: no positive). mean_ir_: MeanIR.
        minority_labels_: (K,) int64 label columns with IRLbl > MeanIR, the bags cloned from.
        budget_: floor(N * P / 100) clones per epoch asked.
    """

    name = "ml_ros"

    def __init__(self, matrix: LabelMatrix, *, seed: int = 0, percentage: float = 25.0, redraw: bool = True):
        super().__init__(matrix, seed=seed, percentage=percentage, redraw=redraw, max_percentage=math.inf)
        self._minority_bags = self._bags(self.minority_labels_)
        self._warn_balanced(self.minority_labels_, "minority label (IRLbl > MeanIR)", "nothing to clone")

    def _draw(self, rng: np.random.Generator) -> np.ndarray:
        clones = self._clones(rng)
        self._warn_short(len(clones), "cloned", "every minority label reached MeanIR")
        return np.concatenate([np.arange(self.n_images, dtype=np.int64), np.asarray(clones, dtype=np.int64)])

    def _clones(self, rng: np.random.Generator) -> list[int]:
        counts = list(self._counts)
        max_count = max(counts, default=0)
        uniform = _Uniforms(rng)
        active = list(range(len(self._minority_bags)))
        clones: list[int] = []
        while active and len(clones) < self.budget_:
            kept = []
            for b in _shuffled(active, rng):
                if len(clones) == self.budget_:
                    break
                bag = self._minority_bags[b]
                i = bag[int(uniform() * len(bag))]
                clones.append(i)
                for c in self._labels_of(i):
                    counts[c] += 1
                    max_count = max(max_count, counts[c])
                if max_count / counts[self.minority_labels_[b]] > self.mean_ir_:
                    kept.append(b)  # still a minority label on the grown set
            active = kept
        return clones


class MLRUS(_MLResampler):
    """ML-RUS ("ml_rus"): delete random images of majority labels until the set shrinks by `percentage` %.

    Args:
        matrix: (N, L) training multi-hot matrix.
        seed: base seed.
        percentage: P, reduction of the epoch in percent of N, in (0, 100] (paper default 25).
        protect_minority: never delete an image that carries a minority label (default; see module notes).
        redraw: resample every epoch (True) or once (False).

    Attributes:
        irlbl_, mean_ir_, minority_labels_: as for MLROS.
        majority_labels_: (K,) int64 label columns with IRLbl < MeanIR, the bags deleted from.
        budget_: floor(N * P / 100) deletions per epoch asked.
    """

    name = "ml_rus"

    def __init__(
        self,
        matrix: LabelMatrix,
        *,
        seed: int = 0,
        percentage: float = 25.0,
        protect_minority: bool = True,
        redraw: bool = True,
    ):
        self.protect_minority = check_flag(protect_minority, "protect_minority", self.name)
        super().__init__(matrix, seed=seed, percentage=percentage, redraw=redraw, max_percentage=100.0)
        protected = None
        if self.protect_minority:
            protected = np.asarray(self.matrix[:, self.minority_labels_].getnnz(axis=1) > 0).ravel()
        self._majority_bags = self._bags(self.majority_labels_, protected)
        self._warn_balanced(self.majority_labels_, "majority label (IRLbl < MeanIR)", "nothing to delete")

    def _draw(self, rng: np.random.Generator) -> np.ndarray:
        deleted = self._deletions(rng)
        self._warn_short(len(deleted), "deleted", "every majority label reached MeanIR or ran out of deletable images")
        keep = np.ones(self.n_images, dtype=bool)
        keep[deleted] = False
        return np.flatnonzero(keep).astype(np.int64)

    def _deletions(self, rng: np.random.Generator) -> list[int]:
        counts = list(self._counts)
        max_count = max(counts, default=0)
        uniform = _Uniforms(rng)
        bags = [list(bag) for bag in self._majority_bags]  # shrink copies; the originals serve the next epoch
        is_deleted = [False] * self.n_images
        active = [b for b, bag in enumerate(bags) if bag]
        deleted: list[int] = []
        while active and len(deleted) < self.budget_:
            kept = []
            for b in _shuffled(active, rng):
                if len(deleted) == self.budget_:
                    break
                i = _pop_alive(bags[b], is_deleted, uniform)
                if i is None:
                    continue  # every image of this bag is already gone
                is_deleted[i] = True
                deleted.append(i)
                labels = self._labels_of(i)
                for c in labels:
                    counts[c] -= 1
                if any(counts[c] + 1 == max_count for c in labels):
                    max_count = max(counts)
                label_count = counts[self.majority_labels_[b]]
                if bags[b] and label_count and max_count / label_count < self.mean_ir_:
                    kept.append(b)  # still a majority label on the reduced set
            active = kept
        return deleted


def _shuffled(items: list[int], rng: np.random.Generator) -> list[int]:
    return [items[k] for k in rng.permutation(len(items))]


def _pop_alive(bag: list[int], is_deleted: list[bool], uniform: _Uniforms) -> int | None:
    """Remove and return a uniformly chosen not-yet-deleted image of `bag` (None when none is left).

    An image sits in the bag of each of its labels; deleted ones are dropped lazily when drawn.
    """
    while bag:
        pos = int(uniform() * len(bag))
        i = bag[pos]
        bag[pos] = bag[-1]
        bag.pop()
        if not is_deleted[i]:
            return i
    return None


def ir_summary(matrix: sp.csr_matrix) -> tuple[np.ndarray, float]:
    """(L,) IRLbl and MeanIR of a multi-hot matrix, e.g. of a resampled epoch `matrix[sampler.indices_]`."""
    counts = np.bincount(sp.csr_matrix(matrix).indices, minlength=matrix.shape[1])
    return irlbl(counts), mean_imbalance_ratio(counts)

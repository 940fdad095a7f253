"""How evenly a split spreads the labels, and the same measures for a seeded random split.

Measures (Sechidis, Tsoumakas & Vlahavas, "On the stratification of multi-label data", ECML PKDD 2011,
section 4; the pair version from Szymański & Kajdanowicz, "A network perspective on stratification of
multi-label data", LIDTA 2017), for k subsets S_j of the data set D and L labels:

- Label Distribution, LD = 1/L sum_l 1/k sum_j | S_jl / (|S_j| - S_jl) - D_l / (|D| - D_l) |, the
  gap between each subset's positive:negative ratio and the whole set's. A term whose ratio has no
  negatives to divide by (a label on every image of a subset) is left out of the mean rather than
  made infinite.
- Label Pair Distribution: LD computed over co-occurring label pairs instead of labels.
- Examples Distribution, ED = 1/k sum_j | |S_j| - r_j |D| |, how far subset sizes are from asked.
- mean / max | p_jl - p_l | where p_jl = S_jl / |S_j| is the label's proportion in the subset and p_l
  in the whole set: the number practitioners read ("val has 2.1% 'sheep', the data set 2.0%").
- empty label-subsets: (label, subset) pairs with no positive although the label has at least k
  positives, so a better split could have put one there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from tailtag.split.iterative import target_sizes
from tailtag.split.pairs import label_pairs


@dataclass(frozen=True, eq=False)
class SplitQuality:
    """Per-subset label statistics and the deviation measures of one split.

    Attributes:
        sizes: (k,) int64 images per subset.
        proportion: (k, L) float64 positives of label l in subset j / images in subset j (0 for an
            empty subset).
        share: (k, L) float64 share of label l's positives that landed in subset j (0 for a label
            with no positives).
        overall: (L,) float64 proportion of each label in the whole set.
        label_distribution: LD (lower is better; 0 is perfect).
        examples_distribution: ED in images.
        mean_abs_deviation: mean over (subset, label) of |proportion - overall|.
        max_abs_deviation: max over (subset, label) of |proportion - overall|.
        empty_label_subsets: (label, subset) pairs with no positive among labels with >= k positives.
        pair_distribution: LD over label pairs, or None when not computed.
    """

    sizes: np.ndarray
    proportion: np.ndarray
    share: np.ndarray
    overall: np.ndarray
    label_distribution: float
    examples_distribution: float
    mean_abs_deviation: float
    max_abs_deviation: float
    empty_label_subsets: int
    pair_distribution: float | None = None

    def measures(self) -> dict[str, float | int | None]:
        """The scalar measures by name, for reports."""
        return {
            "label_distribution": self.label_distribution,
            "label_pair_distribution": self.pair_distribution,
            "examples_distribution": self.examples_distribution,
            "mean_abs_proportion_deviation": self.mean_abs_deviation,
            "max_abs_proportion_deviation": self.max_abs_deviation,
            "empty_label_subsets": self.empty_label_subsets,
        }


def subset_counts(matrix: sp.spmatrix, assignment: np.ndarray, k: int) -> np.ndarray:
    """(k, L) int64 positives of each label in each subset, without densifying (N, L)."""
    assignment = np.asarray(assignment, dtype=np.int64)
    n = len(assignment)
    indicator = sp.csr_matrix((np.ones(n, dtype=np.int64), (assignment, np.arange(n))), shape=(k, n))
    return np.asarray((indicator @ sp.csr_matrix(matrix, dtype=np.int64)).todense())


def label_distribution(counts: np.ndarray, sizes: np.ndarray) -> float:
    """Sechidis' LD from (k, L) positives per subset and (k,) subset sizes; undefined terms left out."""
    totals, n = counts.sum(axis=0), sizes.sum()
    negatives, whole_negatives = sizes[:, None] - counts, n - totals
    defined = (negatives > 0) & (whole_negatives > 0)[None, :]
    if not defined.any():
        return 0.0
    ratio = np.divide(counts, negatives, out=np.zeros(counts.shape), where=defined)
    whole = np.divide(totals, whole_negatives, out=np.zeros(totals.shape), where=whole_negatives > 0)
    gaps = np.abs(ratio - whole[None, :])[defined]
    # mean over subsets within a label, then over labels, as in the paper
    per_label = np.bincount(np.nonzero(defined)[1], weights=gaps, minlength=counts.shape[1])
    terms = defined.sum(axis=0)
    return float(np.mean(per_label[terms > 0] / terms[terms > 0]))


def split_quality(
    matrix: sp.spmatrix,
    assignment: np.ndarray,
    fractions: Sequence[float],
    *,
    pairs: bool = False,
) -> SplitQuality:
    """Measure how evenly `assignment` spreads the labels of `matrix`.

    Args:
        matrix: (N, L) 0/1 sparse multi-hot matrix.
        assignment: (N,) int subset index in [0, k) of each image.
        fractions: (k,) fractions asked for (ED compares sizes with them).
        pairs: also compute the label pair distribution (costs one pass over all label pairs).
    """
    fractions = np.asarray(fractions, dtype=np.float64)
    k = len(fractions)
    sizes = np.bincount(np.asarray(assignment, dtype=np.int64), minlength=k).astype(np.int64)
    counts = subset_counts(matrix, assignment, k)
    totals = counts.sum(axis=0)
    n = int(sizes.sum())
    proportion = counts / np.maximum(sizes, 1)[:, None]
    share = counts / np.maximum(totals, 1)[None, :]
    overall = totals / max(n, 1)
    deviation = np.abs(proportion - overall[None, :])
    pair_ld = None
    if pairs:
        pair_matrix, _ = label_pairs(matrix)
        pair_ld = label_distribution(subset_counts(pair_matrix, assignment, k), sizes) if pair_matrix.shape[1] else 0.0
    return SplitQuality(
        sizes=sizes,
        proportion=proportion,
        share=share,
        overall=overall,
        label_distribution=label_distribution(counts, sizes),
        examples_distribution=float(np.mean(np.abs(sizes - fractions * n))),
        mean_abs_deviation=float(deviation.mean()) if deviation.size else 0.0,
        max_abs_deviation=float(deviation.max()) if deviation.size else 0.0,
        empty_label_subsets=int(((counts == 0) & (totals >= k)[None, :]).sum()),
        pair_distribution=pair_ld,
    )


def random_assignment(sizes: Sequence[int], *, seed: int = 0, groups: np.ndarray | None = None) -> np.ndarray:
    """A seeded random split: (N,) int64 subset per image, N = sum(sizes).

    Without groups the subsets have exactly `sizes` images. With (N,) `groups`, whole groups are
    shuffled and dealt out in turn until each subset reaches its size, so sizes come out close.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    rng = np.random.default_rng(seed)
    if groups is None:
        return rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
    _, unit_of_image = np.unique(np.asarray(groups), return_inverse=True)
    unit_of_image = unit_of_image.ravel()
    unit_sizes = np.bincount(unit_of_image)
    order = rng.permutation(len(unit_sizes))
    # a group goes to the subset whose share of the cumulative image count its middle falls in
    middles = np.cumsum(unit_sizes[order]) - unit_sizes[order] / 2
    subset = np.minimum(np.searchsorted(np.cumsum(sizes), middles, side="right"), len(sizes) - 1)
    placed = np.empty(len(unit_sizes), dtype=np.int64)
    placed[order] = subset
    return placed[unit_of_image]


def random_baseline(
    matrix: sp.spmatrix,
    fractions: Sequence[float],
    *,
    sizes: Sequence[int] | None = None,
    seed: int = 0,
    groups: np.ndarray | None = None,
    pairs: bool = False,
) -> SplitQuality:
    """Quality of a seeded random split of the same images, to compare a stratified split with.

    Args:
        matrix: (N, L) 0/1 sparse multi-hot matrix.
        fractions: (k,) fractions asked for.
        sizes: (k,) images per subset; default: the target sizes of `fractions` (pass the sizes the
            stratified split got so that both are compared at the same sizes).
        seed: seed of the random split.
        groups: (N,) group ids kept together, as in the stratified split.
        pairs: also compute the label pair distribution.
    """
    if sizes is None:
        sizes = target_sizes(fractions, matrix.shape[0])
    return split_quality(matrix, random_assignment(sizes, seed=seed, groups=groups), fractions, pairs=pairs)

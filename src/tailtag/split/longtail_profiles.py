"""Target profiles of long-tailed subsets: how many training images each label rank gets, and label ranking.

Ranks run head first (k = 0 .. K-1, n_max = head count, IF = imbalance factor); see `tailtag.split.longtail`
for how the targets are met.

- exponential (Cui et al., "Class-Balanced Loss Based on Effective Number of Samples", CVPR 2019, long-tailed
  CIFAR): n_k = floor(n_max * IF^(-k / (K-1))).
- Pareto (Liu et al., "Large-Scale Long-Tailed Recognition in an Open World", CVPR 2019, who drew
  ImageNet-LT from a Pareto distribution with alpha = 6 without publishing the discretisation): the density
  f(x) ~ x^-(alpha+1) read at x_k = 1 + c k/(K-1), c = IF^(1/(alpha+1)) - 1, so that n_0 / n_{K-1} = IF:
  n_k = floor(n_max * (1 + c k/(K-1))^-(alpha+1)). As alpha grows this tends to the exponential profile.
- explicit ratios: n_k = floor(n_max * r_k / max r).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from tailtag.errors import OptionError

Profile = Literal["exp", "pareto"]
PROFILES: tuple[str, ...] = ("exp", "pareto")
LabelOrder = Literal["frequency", "random", "given"]
LABEL_ORDERS: tuple[str, ...] = ("frequency", "random", "given")


def profile_fractions(
    n_labels: int, profile: Profile = "exp", imbalance_factor: float = 100.0, pareto_alpha: float = 6.0
) -> np.ndarray:
    """(K,) float64 target count of each rank relative to the head: 1 for rank 0, 1/IF for rank K-1.

    Args:
        n_labels: K, number of labels (>= 1); one label gets [1.0].
        profile: "exp" (Cui et al. 2019) or "pareto" (Liu et al. 2019), see the module docstring.
        imbalance_factor: IF >= 1, head count / tail count.
        pareto_alpha: Pareto shape alpha > 0 (OLTR uses 6); ignored by "exp".
    """
    if profile not in PROFILES:
        raise OptionError(f"--profile: expected one of {', '.join(PROFILES)}; got {profile!r}")
    if not imbalance_factor >= 1:
        raise OptionError(
            f"--imbalance-factor: must be >= 1 (head count / tail count); got {imbalance_factor}\n"
            "  fix: e.g. --imbalance-factor 50 for a tail label with 1/50 of the head label's images"
        )
    if not pareto_alpha > 0:
        raise OptionError(f"--pareto-alpha: must be > 0; got {pareto_alpha}\n  fix: e.g. --pareto-alpha 6 (OLTR)")
    if n_labels == 1:
        return np.ones(1)
    rank = np.arange(n_labels) / (n_labels - 1)
    if profile == "exp":
        return imbalance_factor ** (-rank)
    scale = imbalance_factor ** (1.0 / (pareto_alpha + 1.0)) - 1.0
    return (1.0 + scale * rank) ** (-(pareto_alpha + 1.0))


def ratio_fractions(ratios: Sequence[float], n_labels: int) -> np.ndarray:
    """(K,) float64 `ratios / max(ratios)`; checks there is one positive ratio per label (`--ratios`)."""
    values = np.asarray(ratios, dtype=np.float64)
    if values.ndim != 1 or len(values) != n_labels:
        raise OptionError(
            f"--ratios: expected one ratio per label ({n_labels}); got {len(values)}\n"
            f"  fix: give {n_labels} comma-separated numbers, head label first in the --order used"
        )
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise OptionError(f"--ratios: every ratio must be a positive number; got {list(ratios)}\n  fix: e.g. 19,17,15")
    return values / values.max()


def target_counts(
    fractions: np.ndarray, available: np.ndarray, *, head_count: int | None = None, min_count: int = 1
) -> tuple[np.ndarray, int]:
    """Per-rank targets n_k = max(min_count, floor(n_max * fractions_k)) and the n_max used.

    Args:
        fractions: (K,) relative sizes, head first (from `profile_fractions` / `ratio_fractions`).
        available: (K,) images of each rank's label that training may use.
        head_count: n_max; None takes the largest n_max whose targets all fit in `available`.
        min_count: floor of every target (>= 1).
    """
    if min_count < 1:
        raise OptionError(f"--min-count: must be >= 1; got {min_count}\n  fix: e.g. --min-count 5")
    if head_count is None:
        # the 1e-9 keeps floor(n_max * f) == available exact where rounding error would lose an image
        head_count = int(np.min(np.floor(available / fractions + 1e-9))) if len(available) else 0
    elif head_count < 1:
        raise OptionError(
            f"--head-count: must be >= 1; got {head_count}\n  fix: leave it out to use the data's maximum"
        )
    targets = np.maximum(np.floor(head_count * fractions + 1e-9).astype(np.int64), min_count)
    return targets, int(head_count)


def resolve_order(
    names: Sequence[str], counts: np.ndarray, order: str | Sequence[str], rng: np.random.Generator
) -> np.ndarray:
    """(L,) int64 columns, head label first.

    Args:
        names: (L,) label names of the table.
        counts: (L,) positives per label, for "frequency" (ties broken at random).
        order: "frequency" (most frequent first), "random", "given" (the label file's column order), or the
            label names themselves, head first (a list, or one comma-separated string).
        rng: the seeded generator for ties and "random".
    """
    if isinstance(order, str) and order in LABEL_ORDERS:
        if order == "given":
            return np.arange(len(names), dtype=np.int64)
        shuffled = rng.permutation(len(names))
        if order == "random":
            return shuffled.astype(np.int64)
        return shuffled[np.argsort(-np.asarray(counts)[shuffled], kind="stable")].astype(np.int64)
    listed = [n.strip() for n in order.split(",")] if isinstance(order, str) else list(order)
    column = {name: j for j, name in enumerate(names)}
    unknown = [n for n in listed if n not in column]
    missing = [n for n in names if n not in set(listed)]
    if unknown or missing or len(listed) != len(names):
        raise OptionError(
            f"--order: expected {', '.join(LABEL_ORDERS)} or all {len(names)} label names once each, head first; "
            f"unknown: {unknown[:5]}, missing: {missing[:5]}\n  fix: labels are {', '.join(names[:20])}"
        )
    return np.asarray([column[n] for n in listed], dtype=np.int64)

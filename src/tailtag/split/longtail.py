"""Long-tailed training subsets with a balanced test set, drawn from any labelled set.

`make_longtail` takes the test images out first (`test_per_class` per label, balanced), then an optional
balanced validation set, and only then samples the training subset from what is left, so no evaluation
image (nor, with a group column, any image of an evaluation image's group) can reach training.

Targets follow an exponential (Cui et al., CVPR 2019), Pareto (Liu et al., OLTR, CVPR 2019) or explicit-ratio
profile over the label ranks, head first (formulas in `tailtag.split.longtail_profiles`).
Every target is at least `min_count`. Without `head_count`, n_max starts at the largest value for which
every label's target fits in the images left after the held-out sets and is lowered in 10% steps until no
label overshoots its target by more than 10% through co-occurrence (`_TrainSampler.auto_head_count`).

Multi-label sets follow the COCO-MLT / VOC-MLT construction of Wu et al., "Distribution-Balanced Loss for
Multi-Label Classification in Long-Tailed Datasets" (ECCV 2020): labels are filled from the tail to the
head, and an image added for label k counts for every label it carries. Among the candidates of label k,
images whose other labels have already reached their target are taken last, which keeps the overshoot
from co-occurrence small; what cannot be held down is reported (achieved vs target counts and the
achieved imbalance factor). Single-label data gets exactly the target counts.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from tailtag.errors import OptionError
from tailtag.labels import LabelTable
from tailtag.split.longtail_profiles import (
    LABEL_ORDERS,
    PROFILES,
    LabelOrder,
    Profile,
    profile_fractions,
    ratio_fractions,
    resolve_order,
    target_counts,
)

__all__ = [
    "LABEL_ORDERS",
    "PROFILES",
    "LabelOrder",
    "LongTailSplit",
    "Profile",
    "greedy_fill",
    "make_longtail",
    "profile_fractions",
    "ratio_fractions",
    "resolve_order",
    "target_counts",
]

# Independent random streams, so that e.g. asking for a validation set does not change the test set.
_STREAM_ORDER, _STREAM_TEST, _STREAM_VAL, _STREAM_TRAIN = 1, 2, 3, 4
# Head counts tried (each 10% below the last) when the head count is left to the data.
_HEAD_COUNT_STEPS = 30


def greedy_fill(
    matrix: sp.csr_matrix,
    targets: np.ndarray,
    sequence: np.ndarray,
    eligible: np.ndarray,
    rng: np.random.Generator,
    *,
    prefer_uncovered: bool = False,
) -> np.ndarray:
    """Rows chosen so that each label reaches its target, filling labels in the order `sequence`.

    For label k the candidates are eligible, unchosen images carrying k. They are taken in tiers, those
    with the fewest other labels already at their target first (adding them overshoots least), ties in a
    seeded random order; the tiers are recomputed as counts grow. Each added image counts for all its
    labels (Wu et al. 2020). With `prefer_uncovered` (balanced test/val sets), images carrying more labels
    still short of their target go first within a tier: fewer images cover every label, at the cost of a
    held-out set with more labels per image than the data set.

    Args:
        matrix: (N, L) 0/1 CSR.
        targets: (L,) wanted images per label, by column.
        sequence: (L',) columns to fill, in order (e.g. tail first).
        eligible: (N,) bool, images that may be chosen.
        rng: seeded generator for the tie-breaking order.
        prefer_uncovered: within a tier, favour images that also help other labels reach their target.

    Returns:
        (n,) int64 ascending row indices.
    """
    matrix = sp.csr_matrix(matrix, dtype=np.float64)
    columns = matrix.tocsc()
    priority = rng.random(matrix.shape[0])
    chosen = np.zeros(matrix.shape[0], dtype=bool)
    counts = np.zeros(matrix.shape[1], dtype=np.float64)
    for k in sequence:
        rows = columns.indices[columns.indptr[k] : columns.indptr[k + 1]]
        candidates = rows[eligible[rows]]
        while counts[k] < targets[k] and candidates.size:
            candidates = candidates[~chosen[candidates]]
            if not candidates.size:
                break
            sub = matrix[candidates]
            full = (counts >= targets).astype(np.float64)
            full[k] = 0.0
            score = -(sub @ full)
            best = score == score.max()
            tier = candidates[best]
            if prefer_uncovered:
                # the more still-short labels an image carries, the fewer images the whole set needs
                short = (counts < targets).astype(np.float64)
                short[k] = 0.0
                helps = (sub[best] @ short).astype(np.float64)
                tier = tier[np.lexsort((priority[tier], -helps))]
            else:
                tier = tier[np.argsort(priority[tier], kind="stable")]
            tier = tier[: int(targets[k] - counts[k])]
            chosen[tier] = True
            counts += np.asarray(matrix[tier].sum(axis=0)).ravel()
    return np.flatnonzero(chosen).astype(np.int64)


@dataclass(frozen=True, eq=False)
class LongTailSplit:
    """A long-tailed training subset and balanced evaluation subsets of one table.

    Attributes:
        train, val, test: (n,) int64 ascending row indices into the table (val/test may be empty).
        order: (L,) int64 columns, head label first (rank k = position in `order`).
        targets: (L,) int64 wanted training images per label, by column.
        available: (L,) int64 images per label that training could draw from (after test, val, groups).
        head_count: n_max the targets were scaled from.
        imbalance_factor: the IF asked for (max ratio / min ratio for explicit ratios).
        profile: "exp", "pareto" or "ratios".
        seed: the seed everything was drawn with.
        excluded_by_group: images left out of training because their group is in val or test.
        warnings: the degenerate-data warnings issued (also raised as `UserWarning`).
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    order: np.ndarray
    targets: np.ndarray
    available: np.ndarray
    train_counts: np.ndarray
    val_counts: np.ndarray
    test_counts: np.ndarray
    head_count: int
    imbalance_factor: float
    profile: str
    seed: int
    excluded_by_group: int = 0
    warnings: list[str] = field(default_factory=list)

    def achieved_imbalance_factor(self) -> float | None:
        """Largest / smallest training count over labels; None when a label has no training image."""
        smallest = int(self.train_counts.min()) if len(self.train_counts) else 0
        return float(self.train_counts.max() / smallest) if smallest > 0 else None

    def indices(self) -> dict[str, np.ndarray]:
        """Subset name -> row indices, only the non-empty evaluation subsets (for `write_split`)."""
        subsets = {"train": self.train, "val": self.val, "test": self.test}
        return {name: rows for name, rows in subsets.items() if name == "train" or len(rows)}


def make_longtail(
    table: LabelTable,
    *,
    test_per_class: int,
    val_per_class: int = 0,
    profile: Profile = "exp",
    imbalance_factor: float = 100.0,
    ratios: Sequence[float] | None = None,
    head_count: int | None = None,
    min_count: int = 1,
    pareto_alpha: float = 6.0,
    order: str | Sequence[str] | None = None,
    seed: int = 0,
    group_column: str | None = None,
) -> LongTailSplit:
    """Balanced test (and val) subsets, then a long-tailed training subset from the remaining images.

    Args:
        table: the labels, (N, L) multi-hot; rows without labels are never chosen.
        test_per_class: images per label in the test subset (>= 0), taken out first.
        val_per_class: images per label in a validation subset (>= 0), taken out second.
        profile: "exp" or "pareto" target profile (ignored when `ratios` is given).
        imbalance_factor: head / tail target count (>= 1).
        ratios: (L,) explicit relative sizes in `order`, head first; overrides `profile`.
        head_count: training images of the head label; None: the most the data allows.
        min_count: floor of every training target.
        pareto_alpha: shape of the Pareto profile.
        order: label ranking, see `resolve_order`; default "frequency", or "given" with `ratios`.
        seed: seeds every random choice; the same inputs and seed give the same subsets.
        group_column: `table.meta` column; images sharing a group with a val/test image stay out of training.

    Returns:
        A `LongTailSplit`; `result.indices()` feeds `tailtag.split.write_split`.

    Raises:
        OptionError: an impossible request (IF < 1, more held-out images per class than a label has,
            ratios not one per label, unknown label in `order`, unknown `group_column`), naming the flag.

    Warns:
        UserWarning: a label whose test/val/training target could not be met, or was overshot through
            co-occurring labels, with the numbers; an achieved imbalance factor far from the one asked.
    """
    _check_sizes(table, test_per_class, val_per_class)
    matrix = table.matrix
    counts = table.label_counts()
    ranked = resolve_order(
        table.names, counts, order or ("given" if ratios is not None else "frequency"), _rng(seed, 1)
    )
    labelled = table.labels_per_image() > 0
    test = _balanced(matrix, test_per_class, labelled, _rng(seed, _STREAM_TEST))
    pool = labelled.copy()
    pool[test] = False
    val = _balanced(matrix, val_per_class, pool, _rng(seed, _STREAM_VAL))
    pool[val] = False
    excluded = _exclude_groups(table, group_column, np.concatenate([test, val]), pool)
    available = np.bincount(matrix.indices[_entries_of(matrix, pool)], minlength=table.n_labels).astype(np.int64)
    if ratios is not None:
        fractions, factor, kind = ratio_fractions(ratios, table.n_labels), float(max(ratios) / min(ratios)), "ratios"
    else:
        fractions, factor, kind = (
            profile_fractions(table.n_labels, profile, imbalance_factor, pareto_alpha),
            imbalance_factor,
            profile,
        )
    sample = _TrainSampler(matrix, pool, ranked, fractions, min_count, _rng(seed, _STREAM_TRAIN).integers(2**63))
    n_max = head_count if head_count is not None else sample.auto_head_count(available[ranked])
    train, targets = sample(n_max)
    if np.intersect1d(train, np.concatenate([test, val])).size:
        raise RuntimeError("tailtag bug: an evaluation image was sampled into the training subset")
    result = LongTailSplit(
        train=train, val=val, test=test, order=ranked, targets=targets, available=available,
        train_counts=_counts(matrix, train), val_counts=_counts(matrix, val), test_counts=_counts(matrix, test),
        head_count=n_max, imbalance_factor=factor, profile=kind, seed=seed, excluded_by_group=excluded,
    )  # fmt: skip
    for message in _degenerate(table, result, test_per_class, val_per_class):
        result.warnings.append(message)
        warnings.warn(message, UserWarning, stacklevel=2)
    return result


class _TrainSampler:
    """The training draw for a given head count, repeatable, so that head counts can be compared."""

    def __init__(self, matrix, pool, ranked, fractions, min_count, seed):
        self.matrix, self.pool, self.ranked, self.fractions = matrix, pool, ranked, fractions
        self.min_count, self.seed = min_count, seed

    def __call__(self, n_max: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, (L,) targets by column) for head count `n_max`."""
        rank_targets, _ = target_counts(self.fractions, np.zeros(0), head_count=n_max, min_count=self.min_count)
        targets = np.empty(len(self.ranked), dtype=np.int64)
        targets[self.ranked] = rank_targets
        # tail first (Wu et al. 2020); the stable sort keeps the rank order among equal targets
        tail_first = self.ranked[::-1][np.argsort(rank_targets[::-1], kind="stable")]
        rows = greedy_fill(self.matrix, targets, tail_first, self.pool, np.random.default_rng(self.seed))
        return rows, targets

    def auto_head_count(self, available: np.ndarray) -> int:
        """The largest head count whose draw overshoots no target by more than 10% (+1 image).

        Starts from the largest n_max whose targets fit in `available` ((K,) by rank) and lowers it by 10%
        a step: in multi-label data a large head target can only be met with images that also carry
        rarer labels, pushing those past their targets. It never lowers n_max so far that the tail target
        would be clamped to `min_count`, since that would give up the imbalance factor asked for: then the
        least-overshooting step tried is kept and the overshoot is reported (e.g. MIML, Pareto, IF 100,
        min count 5: sunset 157 images for a target of 35, because 508 of the 580 sea images are needed).
        """
        if available.min() == 0:
            raise OptionError(
                f"{int((available == 0).sum())} labels have no image left for training after the test/val sets "
                "(and their groups) were held out\n  fix: lower --test-per-class / --val-per-class"
            )
        _, n_max = target_counts(self.fractions, available, min_count=self.min_count)
        best, best_ratio = n_max, np.inf
        for _ in range(_HEAD_COUNT_STEPS):
            rows, targets = self(n_max)
            got = np.bincount(self.matrix[rows].indices, minlength=len(targets))
            ratio = float(np.max((got - 1) / targets))
            if ratio <= 1.1:
                return n_max
            if ratio < best_ratio:
                best, best_ratio = n_max, ratio
            smaller = int(n_max * 0.9)
            if smaller < 1 or smaller * self.fractions.min() < self.min_count:
                break
            n_max = smaller
        return best


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def _check_sizes(table: LabelTable, test_per_class: int, val_per_class: int) -> None:
    for flag, value in (("--test-per-class", test_per_class), ("--val-per-class", val_per_class)):
        if not isinstance(value, int | np.integer) or value < 0:
            raise OptionError(f"{flag}: must be an integer >= 0; got {value!r}\n  fix: e.g. {flag} 20")
    counts = table.label_counts()
    if table.n_labels == 0 or counts.max(initial=0) == 0:
        raise OptionError(f"{table.source or 'labels'}: no label has a positive image; nothing to sample")
    held = test_per_class + val_per_class
    short = np.flatnonzero(counts <= held) if held else np.array([], dtype=np.int64)
    if short.size:
        rarest = int(short[np.argmin(counts[short])])
        shown = ", ".join(f"{table.names[j]} ({counts[j]})" for j in short[:5])
        raise OptionError(
            f"--test-per-class {test_per_class} + --val-per-class {val_per_class}: {len(short)} labels have no more "
            f"than {held} images, leaving none for training: {shown}\n"
            f"  fix: hold out at most {max(int(counts[rarest]) - 1, 0)} images per class in all "
            f"({table.names[rarest]} has {counts[rarest]})"
        )


def _balanced(matrix: sp.csr_matrix, per_class: int, eligible: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows covering every label `per_class` times, rarest label first (greedy, co-occurrence aware)."""
    if per_class == 0:
        return np.array([], dtype=np.int64)
    available = np.bincount(matrix.indices[_entries_of(matrix, eligible)], minlength=matrix.shape[1])
    rarest_first = np.argsort(available + rng.random(matrix.shape[1]), kind="stable")
    targets = np.full(matrix.shape[1], per_class, dtype=np.int64)
    return greedy_fill(matrix, targets, rarest_first, eligible, rng, prefer_uncovered=True)


def _entries_of(matrix: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """(nnz,) bool: which stored entries of `matrix` lie in the rows where `rows` is True."""
    return np.repeat(rows, np.diff(matrix.indptr))


def _counts(matrix: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    return np.bincount(matrix[rows].indices, minlength=matrix.shape[1]).astype(np.int64)


def _exclude_groups(table: LabelTable, group_column: str | None, held_out: np.ndarray, pool: np.ndarray) -> int:
    """Drop from `pool` (in place) every image sharing a group with a held-out image; returns how many."""
    if group_column is None:
        return 0
    if group_column not in table.meta:
        raise OptionError(
            f"--group-column {group_column}: not a column kept from {table.source or 'the label file'}; "
            f"kept columns: {sorted(table.meta) or 'none'}\n  fix: name a column of the label file"
        )
    groups = np.asarray(table.meta[group_column]).astype(str)
    leaking = pool & np.isin(groups, groups[held_out])
    pool[leaking] = False
    return int(leaking.sum())


def _degenerate(table: LabelTable, result: LongTailSplit, test_per_class: int, val_per_class: int) -> list[str]:
    """Warnings, with numbers, for targets missed or overshot and an imbalance factor far from the ask."""
    messages = []
    for subset, per_class, got in (
        ("test", test_per_class, result.test_counts),
        ("val", val_per_class, result.val_counts),
    ):
        if not per_class:
            continue
        under = np.flatnonzero(got < per_class)
        if under.size:
            messages.append(
                f"{subset} set: {under.size} labels got fewer than {per_class} images: "
                f"{_listing(table.names, under, got, per_class)}"
            )
        over = np.flatnonzero(got > 1.2 * per_class)
        if over.size:
            messages.append(
                f"{subset} set: {over.size} labels got over 1.2 x {per_class} images through co-occurring labels: "
                f"{_listing(table.names, over, got, per_class)}"
            )
    return messages + _train_warnings(table.names, result)


def _train_warnings(names: list[str], result: LongTailSplit) -> list[str]:
    messages = []
    short = np.flatnonzero(result.train_counts < result.targets)
    if short.size:
        messages.append(
            f"training subset: {short.size} labels have fewer images than their target (not enough images left "
            f"after the held-out sets): {_listing(names, short, result.train_counts, result.targets)}"
        )
    over = np.flatnonzero(result.train_counts > result.targets)
    if over.size:
        messages.append(
            f"training subset: {over.size} labels exceed their target through co-occurring labels (got/target): "
            f"{_listing(names, over, result.train_counts, result.targets)}; a smaller --head-count (now "
            f"{result.head_count}) holds them closer, at the cost of the imbalance factor"
        )
    achieved = result.achieved_imbalance_factor()
    if achieved is None or achieved < 0.8 * result.imbalance_factor:
        got = "undefined (a label has no training image)" if achieved is None else f"{achieved:.1f}"
        messages.append(
            f"achieved imbalance factor {got} is below the {result.imbalance_factor:g} asked "
            f"(head count {result.head_count}, smallest target {result.targets.min()})"
        )
    return messages


def _listing(names: list[str], columns: np.ndarray, got: np.ndarray, wanted: np.ndarray | int) -> str:
    """'name got/wanted, ...' for the first 8 columns."""
    wanted = np.broadcast_to(wanted, got.shape)
    shown = ", ".join(f"{names[j]} {got[j]}/{wanted[j]}" for j in columns[:8])
    return shown + (f", ... ({len(columns)} labels)" if len(columns) > 8 else "")

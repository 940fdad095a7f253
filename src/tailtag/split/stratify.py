"""Split a `LabelTable` into train/val[/test] or k folds: option checks, groups, and warnings.

This is the layer the `split` command and library users call; the algorithm itself is
`tailtag.split.iterative.iterative_stratification`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tailtag.errors import LabelFileError, OptionError
from tailtag.labels import LabelTable
from tailtag.split.iterative import Order, check_fractions, iterative_stratification, target_sizes

FRACTION_SPLITS: tuple[str, ...] = ("train", "val", "test")
DEFAULT_FRACTIONS: tuple[float, ...] = (0.7, 0.15, 0.15)


@dataclass(frozen=True, eq=False)
class Split:
    """Images of one table assigned to named subsets.

    Attributes:
        names: (k,) subset names, ("train", "val"[, "test"]) or ("fold_1", ..., "fold_K").
        fractions: (k,) fractions asked for.
        assignment: (N,) int64 index into `names` of each image's subset.
        seed: the seed the split was made with.
        order: 1 (labels) or 2 (labels and label pairs) stratification.
        group_column: the `table.meta` column whose groups were kept together, if any.
    """

    names: tuple[str, ...]
    fractions: tuple[float, ...]
    assignment: np.ndarray
    seed: int = 0
    order: Order = 1
    group_column: str | None = None

    @property
    def sizes(self) -> np.ndarray:
        """(k,) int64 images per subset."""
        return np.bincount(self.assignment, minlength=len(self.names)).astype(np.int64)

    def fractions_got(self) -> np.ndarray:
        """(k,) float64 share of the images each subset got."""
        return self.sizes / max(len(self.assignment), 1)

    def indices(self) -> dict[str, np.ndarray]:
        """Subset name -> (n_j,) int64 ascending row indices into the table."""
        return {name: np.flatnonzero(self.assignment == j) for j, name in enumerate(self.names)}


def parse_fractions(text: str) -> tuple[float, ...]:
    """'0.7,0.15,0.15' -> (0.7, 0.15, 0.15); errors name `--fractions`."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise OptionError(
            f"--fractions: expected comma-separated numbers such as 0.7,0.15,0.15, got {text!r}\n"
            "  fix: write the fractions without spaces or percent signs, e.g. --fractions 0.8,0.2"
        ) from None
    return values


def split_table(
    table: LabelTable,
    *,
    fractions: Sequence[float] | None = None,
    folds: int | None = None,
    group_column: str | None = None,
    seed: int = 0,
    order: Order = 1,
    method: str = "iterative",
) -> Split:
    """Multi-label stratified split of `table` into train/val[/test] by `fractions`, or into `folds` folds.

    Args:
        table: the labels; its (N, L) matrix is stratified.
        fractions: 2 (train, val) or 3 (train, val, test) fractions > 0 summing to 1; default 0.7,0.15,0.15.
        folds: K >= 2 equal disjoint folds covering every image instead of fractions.
        group_column: key of `table.meta` whose (N,) values name groups that must stay in one subset.
        seed: seed of every random choice; same table and seed give the same split.
        order: 1 stratifies labels, 2 also label pairs.
        method: "iterative" (stratified) or "random" (a seeded random split of the same sizes, as in
            protocols that ask for one, e.g. the MIML seed recipe's random 25% hold-out).

    Returns:
        The `Split`: subset names, fractions asked and the (N,) subset index of every image.

    Warns:
        UserWarning: labels with fewer positive images (or groups) than subsets, and labels with none;
            groups so large that a subset ends more than one image and one percentage point off its size.
    """
    names, wanted = _subsets(fractions, folds)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise OptionError(f"--seed: expected an integer >= 0, got {seed!r}\n  fix: e.g. --seed 0")
    if order not in (1, 2):
        raise OptionError(f"--order: expected 1 (labels) or 2 (labels and label pairs), got {order!r}")
    if table.n_images == 0:
        raise LabelFileError(table.source or "labels", "has no images to split", fix="check the label file")
    groups = _group_ids(table, group_column) if group_column is not None else None
    n_units = table.n_images if groups is None else int(groups.max()) + 1
    targets = target_sizes(wanted, table.n_images)
    _check_room(names, wanted, targets, n_units, folds, groups is not None)
    _warn_rare_labels(table, groups, len(names))
    if method == "random":
        from tailtag.split.quality import random_assignment

        assignment = random_assignment(targets, seed=int(seed), groups=groups)
    elif method == "iterative":
        assignment = iterative_stratification(table.matrix, wanted, seed=int(seed), order=order, groups=groups)
    else:
        raise OptionError(f"--method: expected iterative or random, got {method!r}")
    split = Split(names, tuple(float(f) for f in wanted), assignment, int(seed), order, group_column)
    # one percentage point (or one image) off is as close as groups of a few images usually allow
    if np.any(np.abs(split.sizes - targets) > max(1.0, 0.01 * table.n_images)):
        _warn_sizes_off(table, groups, group_column, split, targets)
    return split


def _subsets(fractions: Sequence[float] | None, folds: int | None) -> tuple[tuple[str, ...], np.ndarray]:
    """Subset names and fractions from exactly one of `fractions` / `folds`."""
    if fractions is not None and folds is not None:
        raise OptionError(
            "--fractions and --folds cannot be used together\n"
            "  fix: give --fractions for a train/val/test split or --folds K for K folds"
        )
    if folds is not None:
        if isinstance(folds, bool) or not isinstance(folds, int | np.integer) or folds < 2:
            raise OptionError(f"--folds: expected an integer >= 2, got {folds!r}\n  fix: e.g. --folds 5")
        return tuple(f"fold_{i + 1}" for i in range(folds)), np.full(folds, 1.0 / folds)
    values = DEFAULT_FRACTIONS if fractions is None else tuple(fractions)
    if len(values) not in (2, 3):
        raise OptionError(
            f"--fractions: expected 2 (train,val) or 3 (train,val,test) values, got {len(values)} "
            f"({','.join(f'{v:g}' for v in values)})\n  fix: e.g. --fractions 0.7,0.15,0.15, "
            "or --folds K for K folds"
        )
    return FRACTION_SPLITS[: len(values)], check_fractions(values, flag="--fractions")


def _group_ids(table: LabelTable, column: str) -> np.ndarray:
    """(N,) int64 group index of each image from `table.meta[column]`; missing values are an error."""
    if column not in table.meta:
        kept = ", ".join(sorted(table.meta)) or "none"
        raise OptionError(
            f"--group-column: {table.source or 'the label table'} has no column {column!r} "
            f"(per-image columns kept: {kept})\n  fix: name a column of the label file; "
            "--group-column must also be given when the file is read"
        )
    values = np.asarray(table.meta[column], dtype=object)
    missing = np.array([v is None or (isinstance(v, float) and v != v) or str(v).strip() == "" for v in values])
    if missing.any():
        first = ", ".join(str(p) for p in table.paths[missing][:5])
        raise LabelFileError(
            table.source or "labels",
            f"group column {column!r} is empty for {int(missing.sum())} images (first: {first})",
            fix="give every image a group (its own id if it has none)",
        )
    _, ids = np.unique(np.array([str(v) for v in values], dtype=object).astype(str), return_inverse=True)
    return ids.ravel().astype(np.int64)


def _check_room(
    names: tuple[str, ...], fractions: np.ndarray, targets: np.ndarray, n_units: int, folds: int | None, grouped: bool
) -> None:
    """Refuse subsets that would be empty: more subsets than images/groups, or a fraction too small."""
    unit = "groups" if grouped else "images"
    if n_units < len(names):
        flag = f"--folds {folds}" if folds is not None else f"--fractions {','.join(f'{f:g}' for f in fractions)}"
        raise OptionError(
            f"{flag}: {len(names)} subsets need at least {len(names)} {unit}, the table has {n_units}\n"
            "  fix: ask for fewer subsets or use more images"
        )
    empty = [name for name, size in zip(names, targets, strict=True) if size == 0]
    if empty:
        raise OptionError(
            f"--fractions {','.join(f'{f:g}' for f in fractions)}: {', '.join(empty)} would get 0 of "
            f"{int(targets.sum())} images\n  fix: give every subset a larger fraction"
        )


def _warn_rare_labels(table: LabelTable, groups: np.ndarray | None, k: int) -> None:
    """Warn, with counts, about labels whose positives sit in fewer images (or groups) than subsets."""
    matrix = table.matrix.tocoo()
    if groups is None:
        holders = table.label_counts()
    else:  # number of distinct groups holding each label
        pairs = np.unique(groups[matrix.row] * table.n_labels + matrix.col)
        holders = np.bincount(pairs % table.n_labels, minlength=table.n_labels)
    unit = "groups" if groups is not None else "images"
    absent = np.flatnonzero(holders == 0)
    rare = np.flatnonzero((holders > 0) & (holders < k))
    if len(rare):
        rare = rare[np.argsort(holders[rare], kind="stable")]
        shown = ", ".join(f"{table.names[j]!r} ({holders[j]})" for j in rare[:8])
        more = f" and {len(rare) - 8} more" if len(rare) > 8 else ""
        warnings.warn(
            f"{len(rare)} of {table.n_labels} labels are on fewer {unit} than the {k} subsets and cannot "
            f"appear in every subset: {shown}{more}",
            UserWarning,
            stacklevel=3,
        )
    if len(absent):
        shown = ", ".join(repr(table.names[j]) for j in absent[:8]) + (" ..." if len(absent) > 8 else "")
        warnings.warn(
            f"{len(absent)} of {table.n_labels} labels have no positive image at all: {shown}",
            UserWarning,
            stacklevel=3,
        )


def _warn_sizes_off(table: LabelTable, groups: np.ndarray, column: str, split: Split, targets: np.ndarray) -> None:
    """Warn that groups broke the fractions: sizes got vs target, and the largest groups."""
    got = ", ".join(
        f"{name} {size} ({size / table.n_images:.3f})" for name, size in zip(split.names, split.sizes, strict=True)
    )
    asked = ", ".join(f"{name} {target}" for name, target in zip(split.names, targets, strict=True))
    sizes = np.bincount(groups)
    largest = np.argsort(-sizes, kind="stable")[:3]
    _, first_row = np.unique(groups, return_index=True)
    values = np.asarray(table.meta[column], dtype=object)
    shown = ", ".join(f"{values[first_row[g]]!r} ({sizes[g]} images)" for g in largest)
    warnings.warn(
        f"the {column!r} groups are too large for the fractions asked: got {got} images, asked {asked}; "
        f"largest groups: {shown}",
        UserWarning,
        stacklevel=3,
    )

"""Row-level checks shared by the readers: collecting bad rows, and merging duplicate images.

Readers report every bad row of a file in one error (the first few, plus the total) rather than one
per run, and treat a repeated image path the same way whatever the format: identical repeats are
merged with a note that names them, repeats with different labels are an error naming both rows.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tailtag.errors import LabelFileError
from tailtag.labels.image_paths import check_paths
from tailtag.labels.options import ReadOptions
from tailtag.labels.path_arrays import path_array, runs, sort_paths
from tailtag.labels.table import LabelTable, Task

SHOWN = 10


class Problems:
    """Bad rows of one file, raised together as a single `LabelFileError`.

    Args:
        path: the file the rows come from.
        limit: how many problems the message lists (in line order); the total is always given.
    """

    _KEEP = 1000  # a file with a million bad cells must not hold a million messages

    def __init__(self, path: str | Path, limit: int = SHOWN):
        self.path = path
        self.limit = limit
        self.total = 0
        self.items: list[tuple[int | None, str]] = []
        self.fixes: list[str] = []

    def add(self, line: int | None, message: str, fix: str) -> None:
        """Record `message` about `line` (1-based, None when the format has no lines)."""
        self.total += 1
        if len(self.items) < self._KEEP:
            self.items.append((line, message))
        if fix not in self.fixes:
            self.fixes.append(fix)

    def count_more(self, n: int, fix: str) -> None:
        """Count `n` further problems without a message (the first ones already tell the story)."""
        self.total += n
        if n and fix not in self.fixes:
            self.fixes.append(fix)

    def room(self) -> int:
        """How many more messages are worth building."""
        return self._KEEP - len(self.items)

    def __len__(self) -> int:
        return self.total

    def raise_if_any(self) -> None:
        """Raise one `LabelFileError` listing the problems, if there are any."""
        if not self.total:
            return
        items = sorted(self.items, key=lambda item: (item[0] is None, item[0] or 0))
        first_line = items[0][0]
        if self.total == 1:
            raise LabelFileError(self.path, items[0][1], line=first_line, fix="; ".join(self.fixes))
        shown = items[: self.limit]
        head = f"{self.total} problems"
        head += f" (the first {len(shown)} are listed)" if len(shown) < self.total else ""
        body = "".join(f"\n    {'' if line is None else f'line {line}: '}{text}" for line, text in shown)
        raise LabelFileError(self.path, head + ":" + body, line=first_line, fix="; ".join(self.fixes))


def _label_set(matrix: sp.csr_matrix, names: list[str], i: int) -> str:
    row = matrix.indices[matrix.indptr[i] : matrix.indptr[i + 1]]
    return "{" + ", ".join(sorted(names[j] for j in row)) + "}"


def _repeats(paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """((R,) rows that repeat an earlier row's path, in file order; (R,) the first row with that path).

    One stable sort of a compact copy of the paths: a million paths need about 24 bytes each here, where
    `np.unique(..., return_inverse=True)` on a fixed-width copy needed hundreds.
    """
    compact, order = sort_paths(paths)
    pairs = [(at[at != first], first[at != first]) for at, first in runs(compact, order)]
    none = [np.zeros(0, dtype=np.int64)]
    repeats, originals = np.concatenate([r for r, _ in pairs] + none), np.concatenate([o for _, o in pairs] + none)
    by_row = np.argsort(repeats, kind="stable")
    return repeats[by_row], originals[by_row]


def merge_duplicates(
    paths: np.ndarray,
    matrix: sp.csr_matrix,
    names: list[str],
    meta: dict[str, np.ndarray],
    where: Callable[[int], str],
    path: str | Path,
) -> tuple[np.ndarray, str | None]:
    """Find repeated image paths; keep the first of identical repeats, refuse conflicting ones.

    Args:
        paths: (N,) image paths.
        matrix: (N, L) CSR 0/1 labels.
        names: (L,) label names, to show conflicting label sets.
        meta: per-image columns, each (N,); a repeat whose metadata differs also conflicts.
        where: row index -> where it is in the file, e.g. "line 7".
        path: the label file, for the error.

    Returns:
        (keep, note): (M,) int64 indices of the rows to keep, in file order, and a note describing
        the merged repeats (None when there were none).
    """
    n = len(paths)
    repeats, originals = _repeats(paths)
    if repeats.size == 0:
        return np.arange(n, dtype=np.int64), None
    matrix = matrix.tocsr()
    differs = np.asarray((matrix[repeats] != matrix[originals]).sum(axis=1)).reshape(-1) > 0
    for values in meta.values():
        values = np.asarray(values)
        differs |= values[repeats] != values[originals]
    problems = Problems(path)
    for r, o in zip(repeats[differs], originals[differs], strict=True):
        first, again = _label_set(matrix, names, o), _label_set(matrix, names, r)
        problems.add(
            None,
            f"image {paths[r]!r} appears at {where(o)} with labels {first} and again at {where(r)} with {again}"
            + (" (other columns differ)" if first == again else ""),
            "give each image one row, or make its repeated rows identical",
        )
    problems.raise_if_any()
    shown = ", ".join(
        f"{where(r)} (same as {where(o)})" for r, o in zip(repeats[:SHOWN], originals[:SHOWN], strict=True)
    )
    more = f", and {repeats.size - SHOWN} more" if repeats.size > SHOWN else ""
    note = f"merged {repeats.size} identical duplicate row(s) into their first occurrence: {shown}{more}"
    keep = np.setdiff1d(np.arange(n, dtype=np.int64), repeats)
    return keep, note


def finish_table(
    paths: np.ndarray,
    matrix: sp.csr_matrix,
    names: list[str],
    *,
    where: Callable[[int], str],
    source: str | Path,
    image_root: Path | None,
    meta: dict[str, np.ndarray] | None = None,
    notes: list[str] | None = None,
    task: Task = "multilabel",
    options: ReadOptions | None = None,
) -> LabelTable:
    """The `LabelTable` of a parsed file, after checking its image paths and merging identical duplicate rows.

    The table's image root is `options.images` when given, else `image_root` (the reader's default); every
    path must stay inside it unless `options.allow_outside_images` (see `tailtag.labels.image_paths`).
    """
    options = options or ReadOptions()
    meta = dict(meta or {})
    notes = list(notes or [])
    paths = path_array(paths)
    image_root = Path(options.images) if options.images is not None else image_root
    problems = Problems(source)
    check_paths(paths, image_root, allow_outside=options.allow_outside_images, where=where, add=problems.add)
    problems.raise_if_any()
    keep, note = merge_duplicates(paths, matrix, names, meta, where, source)
    if note is not None:
        notes.append(note)
        paths, matrix = paths[keep], matrix[keep]
        meta = {key: np.asarray(values)[keep] for key, values in meta.items()}
    table = LabelTable(paths, names, matrix, task, str(source), image_root, meta, notes)
    return table

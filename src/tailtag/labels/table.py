"""`LabelTable`: the one label representation every downstream module takes.

Readers (`tailtag.labels.readers`) convert each file format into a `LabelTable` at the edge; nothing
after them knows about formats. The multi-hot matrix is a scipy CSR matrix so that 1M images x 10k
labels fits in memory without densifying.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp

from tailtag.labels.path_arrays import path_array

Task = Literal["multilabel", "multiclass"]


@dataclass(frozen=True, eq=False)
class LabelTable:
    """Image paths, label names and an (N, L) sparse multi-hot matrix.

    Attributes:
        paths: (N,) image paths as written in the label file (relative to `image_root` when relative), a
            compact string array (`tailtag.labels.path_arrays.path_array`) whose elements are `str`.
        names: (L,) label names; column j of `matrix` is `names[j]`.
        matrix: (N, L) `scipy.sparse.csr_matrix` of dtype uint8 with 0/1 entries (any non-zero given to
            the constructor counts as 1; readers validate values before). A row with no positives is a
            valid negative image, not an error.
        task: "multilabel", or "multiclass" when every image has exactly one label by construction
            (class folders); a multi-hot table whose rows happen to have one label stays "multilabel".
        source: the label file (or folder) the table came from, for messages.
        image_root: folder that relative paths are resolved against, if known.
        meta: extra per-image columns from the label file (e.g. a group column), each an (N,) array.
        notes: things the reader did that the user should hear about (e.g. identical duplicate rows
            merged, difficult VOC labels mapped), printed by `inspect`.
    """

    paths: np.ndarray
    names: list[str]
    matrix: sp.csr_matrix
    task: Task = "multilabel"
    source: str = ""
    image_root: Path | None = None
    meta: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # One compact array (StringDType: 16 bytes a short path, not a 64-byte str object): millions of rows.
        paths = path_array(self.paths)
        # Any stored non-zero is a positive; going through bool also merges duplicate (row, col) entries.
        matrix = sp.csr_matrix(self.matrix, dtype=bool).astype(np.uint8)
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
        matrix.sort_indices()
        if matrix.shape != (len(paths), len(self.names)):
            raise ValueError(f"matrix shape {matrix.shape} does not match {len(paths)} paths x {len(self.names)} names")
        object.__setattr__(self, "paths", paths)
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "names", list(self.names))

    @property
    def n_images(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_labels(self) -> int:
        return self.matrix.shape[1]

    def label_counts(self) -> np.ndarray:
        """(L,) int64 number of positive images per label."""
        return np.bincount(self.matrix.indices, minlength=self.n_labels).astype(np.int64)

    def labels_per_image(self) -> np.ndarray:
        """(N,) int64 number of labels on each image."""
        return np.diff(self.matrix.indptr).astype(np.int64)

    def labels_of(self, i: int) -> list[str]:
        """Label names of image `i`, in column order."""
        row = self.matrix.indices[self.matrix.indptr[i] : self.matrix.indptr[i + 1]]
        return [self.names[j] for j in sorted(row)]

    def dense(self, max_cells: int = 200_000_000) -> np.ndarray:
        """(N, L) uint8 dense copy; refuses tables that would not fit comfortably in memory."""
        if self.n_images * self.n_labels > max_cells:
            raise MemoryError(f"{self.n_images} x {self.n_labels} is too large to densify; work on .matrix")
        return self.matrix.toarray()

    def subset(self, indices: np.ndarray) -> LabelTable:
        """A table of the rows `indices` (in that order), same labels."""
        indices = np.asarray(indices, dtype=np.int64)
        return LabelTable(
            paths=self.paths[indices],
            names=self.names,
            matrix=self.matrix[indices],
            task=self.task,
            source=self.source,
            image_root=self.image_root,
            meta={k: np.asarray(v)[indices] for k, v in self.meta.items()},
            notes=list(self.notes),
        )

    def resolve(self, path: str) -> Path:
        """Absolute location of an image path from the table."""
        p = Path(path)
        if p.is_absolute() or self.image_root is None:
            return p
        return self.image_root / p

    def with_root(self, image_root: str | Path | None) -> LabelTable:
        """The same table with relative paths resolved against `image_root`."""
        root = Path(image_root) if image_root is not None else None
        return LabelTable(self.paths, self.names, self.matrix, self.task, self.source, root, self.meta, self.notes)


def from_label_lists(
    paths: list[str] | np.ndarray,
    label_lists: list[list[str]],
    names: list[str] | None = None,
    **kwargs,
) -> LabelTable:
    """Build a table from one list of label names per image.

    Args:
        paths: (N,) image paths.
        label_lists: N lists of label names (an empty list is a negative image).
        names: label vocabulary in column order; default: sorted union of the lists.
        **kwargs: passed on to `LabelTable` (task, source, image_root, meta, notes).
    """
    if names is None:
        names = sorted({name for labels in label_lists for name in labels})
    column = {name: j for j, name in enumerate(names)}
    indptr = np.zeros(len(label_lists) + 1, dtype=np.int64)
    indices: list[int] = []
    for i, labels in enumerate(label_lists):
        cols = sorted({column[name] for name in labels})
        indices.extend(cols)
        indptr[i + 1] = len(indices)
    data = np.ones(len(indices), dtype=np.uint8)
    matrix = sp.csr_matrix((data, np.asarray(indices, dtype=np.int64), indptr), shape=(len(label_lists), len(names)))
    return LabelTable(paths=np.asarray(paths, dtype=object), names=list(names), matrix=matrix, **kwargs)

"""Label writers: a `LabelTable` -> a label file that `read_labels` reads back into the same table.

The inverse of the readers, for the formats that can hold any table:

    onehot   CSV/TSV, the path column then one 0/1 column per label (plus any per-image meta column)
    tags     CSV/TSV, the path column and one cell of separated tag names
    paddle   `path<TAB>0,1,0,...` lines, no header; the names go to a `<stem>.classes.txt` sidecar
    npz      `scipy.sparse.save_npz` matrix + `<stem>.classes.txt` names + `<stem>.paths.csv` image list
    mat      MIML layout: `targets` (L, N) as +1 / -1 and `class_name` (L, 1) cell array; images must be
             numbered 1.ext .. N.ext in row order, the only paths a MIML file can express

COCO, VOC and class folders describe images rather than a label list (boxes, per-class files, a folder
tree), so a corrected table of theirs is written as a tags CSV (`WRITE_FALLBACK`); the caller says so.
Every file is written beside its target and renamed into place: a reader never sees half a file.
Nothing here imports torch.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tailtag.errors import OptionError
from tailtag.fileio import replace_durably, temporary_path
from tailtag.labels.options import ReadOptions
from tailtag.labels.table import LabelTable

WRITABLE_FORMATS: tuple[str, ...] = ("onehot", "tags", "paddle", "npz", "mat")
WRITE_FALLBACK: dict[str, str] = {"coco": "tags", "voc": "tags", "folders": "tags"}
_TAG_SEPARATORS = ("|", ";", ",")  # first one that no label name contains; "|" reads unambiguously in a CSV


def output_format(read_format: str) -> str:
    """The format a corrected table of `read_format` is written in (itself, or tags for coco/voc/folders)."""
    return WRITE_FALLBACK.get(read_format, read_format)


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """`write(temporary)` then an fsynced, durable rename onto `path` (the steps of `fileio.atomic_write`, for
    writers that take a file name: numpy and scipy add their suffix, so the temporary keeps it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(path).with_suffix(f".tmp{path.suffix}")
    try:
        write(temporary)
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        replace_durably(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _write_text(path: Path, text: str) -> Path:
    return _atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline=""))


def _csv_text(header: list[str] | None, rows, delimiter: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _positives(table: LabelTable) -> list[np.ndarray]:
    m = table.matrix
    return [m.indices[m.indptr[i] : m.indptr[i + 1]] for i in range(table.n_images)]


def write_onehot(table: LabelTable, path: Path, *, delimiter: str = ",", path_column: str = "img_path") -> list[Path]:
    """One-hot CSV: `path_column`, the table's meta columns, then one 0/1 column per label."""
    meta = [key for key in table.meta if key not in (path_column, *table.names)]
    dense_row = np.zeros(table.n_labels, dtype=np.uint8)
    rows = []
    for i, cols in enumerate(_positives(table)):
        dense_row[:] = 0
        dense_row[cols] = 1
        rows.append([table.paths[i], *(table.meta[k][i] for k in meta), *dense_row.tolist()])
    return [_write_text(path, _csv_text([path_column, *meta, *table.names], rows, delimiter))]


def tag_separator(names: list[str]) -> str:
    """The first of | ; , that no label name contains (OptionError if every one is used by some name)."""
    for sep in _TAG_SEPARATORS:
        if not any(sep in name for name in names):
            return sep
    raise OptionError("every tag separator (| ; ,) occurs in some label name; write the labels as onehot instead")


def write_tags(
    table: LabelTable,
    path: Path,
    *,
    delimiter: str = ",",
    path_column: str = "img_path",
    tags_column: str = "tags",
    tag_sep: str | None = None,
) -> list[Path]:
    """Tags CSV: `path_column`, the meta columns, and `tags_column` holding the tag names joined by `tag_sep`
    (default: `tag_separator(names)`); an image without tags gets an empty cell."""
    sep = tag_sep or tag_separator(table.names)
    meta = [key for key in table.meta if key not in (path_column, tags_column)]
    rows = [
        [table.paths[i], *(table.meta[k][i] for k in meta), sep.join(table.names[j] for j in sorted(cols))]
        for i, cols in enumerate(_positives(table))
    ]
    return [_write_text(path, _csv_text([path_column, *meta, tags_column], rows, delimiter))]


def _sidecar(path: Path, what: str) -> Path:
    return path.with_name(f"{path.stem}.{what}")


def write_paddle(table: LabelTable, path: Path) -> list[Path]:
    """PaddleClas list (`path<TAB>0,1,...`) plus `<stem>.classes.txt`; read it back with `--classes`."""
    bad = [p for p in table.paths if re.search(r"[\t\r\n]", str(p))]
    if bad:
        raise OptionError(f"image path {bad[0]!r} holds a tab or line break, which a PaddleClas list cannot hold")
    lines = []
    row = np.zeros(table.n_labels, dtype=np.uint8)
    for i, cols in enumerate(_positives(table)):
        row[:] = 0
        row[cols] = 1
        lines.append(f"{table.paths[i]}\t{','.join(map(str, row.tolist()))}\n")
    classes = _write_text(_sidecar(path, "classes.txt"), "".join(f"{name}\n" for name in table.names))
    return [_write_text(path, "".join(lines)), classes]


def write_npz(table: LabelTable, path: Path) -> list[Path]:
    """Sparse NPZ matrix plus `<stem>.classes.txt` (names) and `<stem>.paths.csv` (image list with a header)."""
    matrix = sp.csr_matrix(table.matrix, dtype=np.uint8)
    written = [_atomic(path, lambda tmp: sp.save_npz(tmp, matrix, compressed=True))]
    written.append(_write_text(_sidecar(path, "classes.txt"), "".join(f"{name}\n" for name in table.names)))
    meta = [key for key in table.meta if key != "img_path"]
    rows = [[table.paths[i], *(table.meta[k][i] for k in meta)] for i in range(table.n_images)]
    written.append(_write_text(_sidecar(path, "paths.csv"), _csv_text(["img_path", *meta], rows, ",")))
    return written


def write_mat(table: LabelTable, path: Path, *, image_ext: str = ".jpg") -> list[Path]:
    """MIML `.mat`: targets (L, N) +1/-1 and class_name; OptionError unless paths are 1.ext .. N.ext in order."""
    from scipy.io import savemat

    expected = [f"{i}{image_ext}" for i in range(1, table.n_images + 1)]
    mismatch = next((i for i, p in enumerate(table.paths) if str(p) != expected[i]), None)
    if mismatch is not None:
        raise OptionError(
            f"a MIML .mat file numbers its images 1{image_ext} .. {table.n_images}{image_ext}, but row "
            f"{mismatch + 1} is {table.paths[mismatch]!r}; write the labels as onehot or tags instead"
        )
    targets = np.where(table.matrix.toarray().T == 1, 1.0, -1.0)
    class_name = np.empty((table.n_labels, 1), dtype=object)
    for j, name in enumerate(table.names):
        class_name[j, 0] = name
    _atomic(path, lambda tmp: savemat(tmp, {"targets": targets, "class_name": class_name}))
    return [path]


def csv_style(source: Path, options: ReadOptions) -> dict[str, str]:
    """delimiter / path_column / tags_column of an existing CSV label file, so a rewrite looks like it."""
    from tailtag.labels.csv_files import find_tags_column, read_layout

    layout, sample = read_layout(source, options)
    style = {"delimiter": layout.delimiter, "path_column": layout.columns[layout.path_index]}
    tags = find_tags_column(source, layout, sample, options)
    if tags is not None:
        style["tags_column"] = layout.columns[tags]
    return style


def write_labels(
    table: LabelTable,
    path: str | Path,
    format: str,
    *,
    like: tuple[Path, ReadOptions] | None = None,
) -> list[Path]:
    """Write `table` as a `format` label file (see the module docstring); returns every file written.

    Args:
        table: the labels; paths are written as they are (relative paths stay relative).
        path: the label file to write; sidecars go beside it.
        format: one of WRITABLE_FORMATS, or coco / voc / folders (written as tags, see `output_format`).
        like: (source file, its read options): copy the delimiter and column names of a CSV source.

    Raises:
        OptionError: an unknown format, or a table the format cannot express (named in the message).
    """
    path, format = Path(path), output_format(format)
    if format not in WRITABLE_FORMATS:
        raise OptionError(f"cannot write labels as {format!r}; writable formats: {', '.join(WRITABLE_FORMATS)}")
    if path.is_dir():
        raise OptionError(f"{path} is a folder; give the label file to write, e.g. {path / 'labels_fixed.csv'}")
    style: dict[str, str] = {}
    if like is not None and format in ("onehot", "tags") and like[0].is_file():
        style = csv_style(*like)
    if format == "onehot":
        style.pop("tags_column", None)
        return write_onehot(table, path, **style)
    if format == "tags":
        return write_tags(table, path, **style)
    if format == "paddle":
        return write_paddle(table, path)
    if format == "npz":
        return write_npz(table, path)
    ext = like[1].image_ext if like is not None else ".jpg"
    return write_mat(table, path, image_ext=ext if ext.startswith(".") or not ext else "." + ext)

"""One-hot CSV/TSV label files: an image path column and one 0/1 column per label.

    Filenames,desert,mountains,sea,sunset,trees
    1.jpg,1,0,0,0,0
    2.jpg,0,0,1,1,0

Label names are the header's label columns, in file order. Cells may be written 0/1 or 0.0/1.0,
with spaces around them; anything else (2, yes, -1, an empty cell, NaN) is an error naming the line
and column. A `--group-column` is kept as `table.meta[name]`. Large files are scanned with numpy
straight from the bytes (`_onehot_scan`): pandas' C parser needs about 30 s for a 35,000 x 6,941
file because it builds one column object per label; this reader needs about one second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tailtag.labels._onehot_scan import ScannedRows, scan_bytes, scan_quoted
from tailtag.labels._rows import Problems, finish_table
from tailtag.labels._text import decode, text_start
from tailtag.labels.csv_files import read_layout
from tailtag.labels.options import ReadOptions
from tailtag.labels.table import LabelTable


def _body_start(data: bytes, start: int, header_line: int) -> int:
    """Offset of the line after the header (line `header_line`, 1-based, counted from `start`)."""
    offset = start
    for _ in range(header_line):
        newline = data.find(b"\n", offset)
        offset = len(data) if newline < 0 else newline + 1
    return offset


def _in_line_order(out: ScannedRows, n_labels: int) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray, list[int]]:
    """(paths, matrix, groups, lines) with rows sorted by line: the scanners may collect them out of order."""
    rows = np.concatenate(out.rows) if out.rows else np.zeros(0, np.int64)
    cols = np.concatenate(out.cols) if out.cols else np.zeros(0, np.int32)
    order = np.argsort(np.asarray(out.lines, dtype=np.int64), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    matrix = sp.csr_matrix((np.ones(len(rows), np.uint8), (rank[rows], cols)), shape=(len(order), n_labels))
    paths = np.asarray(out.paths, dtype=object)[order]
    groups = np.asarray(out.groups, dtype=object)[order] if out.groups else np.zeros(0, dtype=object)
    return paths, matrix, groups, [out.lines[i] for i in order]


def read_onehot(path: Path, options: ReadOptions) -> LabelTable:
    """Read a one-hot CSV/TSV (see the module docstring).

    Returns:
        A table of N images x L labels, N = data rows (identical duplicate rows merged, with a note),
        L = header columns other than the path and group columns; `image_root` = the file's folder.
    """
    layout, _ = read_layout(path, options)
    first_line = layout.header_line + 1
    data = path.read_bytes()  # not sliced: a copy of a 500 MB file is half a second
    body = _body_start(data, text_start(data, path), layout.header_line)
    labels = np.array(layout.other_indices(), dtype=np.int64)
    out, problems = ScannedRows(layout), Problems(path)
    if not data.isascii():
        decode(data[body:], path, first_line)  # names the line of a non-UTF-8 byte before scanning
    if not scan_bytes(data, body, first_line, labels, out, problems):
        scan_quoted(decode(data[body:], path, first_line), first_line, labels, out, problems)
    problems.raise_if_any()
    paths, matrix, groups, lines = _in_line_order(out, len(labels))
    meta = {layout.columns[layout.group_index]: groups} if layout.group_index is not None else {}
    return finish_table(
        paths,
        matrix,
        [layout.columns[j] for j in labels],
        where=lambda i: f"line {lines[i]}",
        source=path,
        image_root=path.parent,
        meta=meta,
        options=options,
    )

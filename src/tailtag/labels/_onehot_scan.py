"""Row scanners for one-hot CSV/TSV files (see `csv_onehot` for the format).

Three scanners, from fastest to most general, all keeping each row's exact 1-based line:

- `scan_bytes` first tries every row as `path,d,d,...,d` with single-character 0/1 cells (the path
  may be quoted): the label cells of a few MB of rows are joined into one buffer and compared as
  16-bit (cell, delimiter) pairs, a couple of numpy passes per chunk. 35,000 rows x 6,941 labels
  (486 MB) take about a second.
- rows that do not fit (`1.0`, ` 1`, empty cells, ragged rows, bad values) are tokenised per cell
  with numpy and each distinct odd spelling is interpreted once; this is also where errors come from.
- `scan_quoted` reads rows with quotes elsewhere, and files whose quoted cells span lines, through
  Python's `csv` module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tailtag.labels._rows import Problems
from tailtag.labels.csv_files import MISSING_VALUES, ONE_HOT_VALUES, CsvLayout, iter_rows

CHUNK_BYTES = 1 << 22
_SHORT_CELL = 8  # a longer label cell cannot be a spelling of 0/1
RAGGED_FIX = "give every row one cell per header column (look for a missing or extra delimiter)"
VALUE_FIX = "write every label cell as 0 or 1 (a file with tag names in one column is --format tags)"
PATH_FIX = "give every row a non-empty image path"


@dataclass
class ScannedRows:
    """Rows of a one-hot file, collected in any order (the reader sorts them by line)."""

    layout: CsvLayout
    paths: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    cols: list[np.ndarray] = field(default_factory=list)

    def add(self, line: int, path: str, group: str, problems: Problems) -> bool:
        """Keep one row's path (and group); False, with a problem recorded, when the path is empty."""
        if not path:
            column = self.layout.columns[self.layout.path_index]
            problems.add(line, f"the image path (column {column!r}) is empty", PATH_FIX)
            return False
        self.paths.append(path)
        self.lines.append(line)
        if self.layout.group_index is not None:
            self.groups.append(group)
        return True

    def add_positives(self, first_row: int, rows: np.ndarray, cols: np.ndarray) -> None:
        """Positives of rows numbered from `first_row` in the order they were added."""
        self.rows.append((rows + first_row).astype(np.int64))
        self.cols.append(cols.astype(np.int32))


def bad_value(column: str, text: str) -> tuple[str, str]:
    """(message, fix) for a label cell that is not 0/1."""
    text = text.strip()
    if not text:
        return f"column {column!r} is empty", "fill every label cell with 0 or 1"
    if text.lower() in MISSING_VALUES:
        return f"column {column!r} holds the missing value {text!r}", "fill every label cell with 0 or 1"
    if text == "-1":
        fix = "map -1 (absent) to 0"
    elif any(ch.isalpha() for ch in text):
        fix = f"{VALUE_FIX}; if {column!r} is not a label, pass --group-column {column} or drop the column"
    else:
        fix = VALUE_FIX
    return f"column {column!r} has the value {text!r}; one-hot cells must be 0 or 1", fix


def scan_quoted(text: str, first_line: int, labels: np.ndarray, out: ScannedRows, problems: Problems) -> None:
    """Scan the body of a file that uses quotes (`text` starts at line `first_line`)."""
    path = problems.path
    layout, width = out.layout, len(out.layout.columns)
    for line, row in iter_rows(path, text, layout.delimiter, first_line):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != width:
            hint = " (an unclosed quote joins lines)" if any("\n" in cell for cell in row) else ""
            problems.add(line, f"row has {len(row)} cells but the header has {width}{hint}", RAGGED_FIX)
            continue
        cells = [row[j] for j in labels]
        if not set(cells) <= {"0", "1"}:
            values = [ONE_HOT_VALUES.get(cell.strip()) for cell in cells]
            for k in (k for k, v in enumerate(values) if v is None):
                problems.add(line, *bad_value(layout.columns[labels[k]], cells[k]))
            cells = ["1" if v == 1 else "0" for v in values]
        group = row[layout.group_index].strip() if layout.group_index is not None else ""
        if out.add(line, row[layout.path_index].strip(), group, problems):
            positives = np.array([k for k, cell in enumerate(cells) if cell == "1"], dtype=np.int64)
            out.add_positives(len(out.paths) - 1, np.zeros(len(positives), np.int64), positives)


def line_bounds(data: bytes, start: int, first_line: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, ends, lines) of the non-blank lines of `data[start:]`: byte offsets into `data` (ends
    before '\r\n') and 1-based line numbers, the line at `start` being `first_line`."""
    if start >= len(data):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    probe = min(len(data) - start, 1 << 20)
    if data.count(b"\n", start, start + probe) * 256 < probe:  # long lines: memchr via bytes.find is fastest
        found, at = [], data.find(b"\n", start)
        while at >= 0:
            found.append(at)
            at = data.find(b"\n", at + 1)
        newlines = np.array(found, dtype=np.int64)
    else:
        buf, step = np.frombuffer(data, dtype=np.uint8), 1 << 24  # blocks keep the boolean temporary small
        blocks = range(start, len(buf), step)
        newlines = np.concatenate([np.flatnonzero(buf[i : i + step] == 10) + i for i in blocks]).astype(np.int64)
    starts = np.concatenate(([start], newlines + 1)).astype(np.int64)
    ends = np.concatenate((newlines, [len(data)])).astype(np.int64)
    ends -= (ends > starts) & (np.frombuffer(data, np.uint8)[np.maximum(ends - 1, 0)] == 13)
    lines = np.arange(first_line, first_line + len(starts))
    keep = ends > starts
    return starts[keep], ends[keep], lines[keep]


def _prefix_cell(body: bytes, a: int, e: int, delim: bytes) -> tuple[int, bytes]:
    """(start of the next cell, this cell's bytes) for the cell at `a` of a line ending at `e`.

    A cell in double quotes (R's write.csv quotes every path) may hold the delimiter and doubled
    quotes. A missing delimiter or quote returns a start past `e`, which sends the row to the slower scans.
    """
    if body.startswith(b'"', a, e):
        close = body.find(b'"', a + 1, e)
        while close >= 0 and body.startswith(b'"', close + 1, e):  # "" is an escaped quote
            close = body.find(b'"', close + 2, e)
        if close < 0 or not (close + 1 == e or body.startswith(delim, close + 1, e)):
            return e + 1, b""
        return close + 2, body[a + 1 : close].replace(b'""', b'"')
    j = body.find(delim, a, e)
    return (j + 1, body[a:j]) if j >= 0 else (e + 1, body[a:e])


def _label_regions(body: bytes, starts, ends, delim: bytes, n_prefix: int, n_suffix: int, n_labels: int):
    """Cut each row into its outer cells and its label region, which must be `d,d,...,d` long.

    Returns:
        (regions, taken, outer_cells, leftover): memoryviews of the label regions, the rows they
        belong to, the outer cells of those rows (prefix cells, then suffix cells from the end),
        and the rows of the wrong shape, left for the general scan.
    """
    view = memoryview(body)  # slices of a memoryview are not copies: the caller's `join` copies once
    regions, taken, outer_cells, leftover = [], [], [], []
    for k, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        a, b, cells = s, e, []
        for _ in range(n_prefix):
            a, cell = _prefix_cell(body, a, e, delim)
            cells.append(cell)
        for _ in range(n_suffix):
            j = body.rfind(delim, a, b)
            cells.append(body[j + 1 if j >= 0 else a : b])
            b = j if j >= 0 else a - 1
        if b - a != 2 * n_labels - 1:
            leftover.append(k)
            continue
        regions.append(view[a:b])
        taken.append(k)
        outer_cells.append(cells)
    return regions, taken, outer_cells, leftover


def _fast_chunk(body: bytes, starts, ends, lines, labels: np.ndarray, out: ScannedRows, problems) -> list[int]:
    """Scan rows shaped `outer cells, d,d,...,d` with single 0/1 cells; returns the rows left for the general scan."""
    layout, n_cols = out.layout, len(out.layout.columns)
    n_prefix, n_labels = int(labels[0]), len(labels)
    n_suffix = n_cols - n_prefix - n_labels
    outer = list(range(n_prefix)) + list(range(n_cols - 1, n_cols - 1 - n_suffix, -1))
    delim = layout.delimiter.encode()
    regions, taken, outer_cells, leftover = _label_regions(body, starts, ends, delim, n_prefix, n_suffix, n_labels)
    if not regions:
        return leftover
    # Each label cell plus the delimiter after it is one little-endian 16-bit code.
    pairs = np.frombuffer(delim.join(regions) + delim, dtype="<u2").reshape(len(regions), n_labels)
    one = pairs == (ord("1") | delim[0] << 8)
    zero = pairs == (ord("0") | delim[0] << 8)
    if np.count_nonzero(one) + np.count_nonzero(zero) == pairs.size:  # the usual case: skip per-row checks
        valid = np.ones(len(regions), dtype=bool)
    else:
        valid = (one | zero).all(axis=1)
    leftover.extend(taken[i] for i in np.flatnonzero(~valid))
    path_at = outer.index(layout.path_index)
    group_at = outer.index(layout.group_index) if layout.group_index is not None else None
    first_row, kept = len(out.paths), []
    for i in np.flatnonzero(valid).tolist():
        cells = outer_cells[i]
        group = cells[group_at].decode("utf-8").strip() if group_at is not None else ""
        if out.add(int(lines[taken[i]]), cells[path_at].decode("utf-8").strip(), group, problems):
            kept.append(i)
    flat = np.flatnonzero(one[kept].reshape(-1))
    out.add_positives(first_row, flat // n_labels, flat % n_labels)
    return sorted(leftover)


def _odd_values(seg: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(k,) int8 values of label cells other than a bare '0'/'1' (' 1', '1.0', '', 'yes'): 0, 1 or -1 (bad).

    Cells are packed into fixed-width byte strings and `np.unique`d, so each distinct spelling is
    interpreted once: a file written as 1.0/0.0 costs a few numpy passes, not a Python call per cell.
    """
    width = max(1, min(int(lengths.max(initial=0)), _SHORT_CELL))
    offsets = np.arange(width)
    gather = seg[np.minimum(starts[:, None] + offsets, len(seg) - 1)]
    gather[offsets >= lengths[:, None]] = 0
    distinct, inverse = np.unique(np.ascontiguousarray(gather).view(f"S{width}").reshape(-1), return_inverse=True)
    lookup = np.array([ONE_HOT_VALUES.get(key.decode("utf-8", "replace").strip(), -1) for key in distinct], np.int8)
    values = lookup[inverse.reshape(-1)]
    values[lengths > _SHORT_CELL] = -1
    return values


def _general_chunk(body: bytes, starts, ends, lines, labels: np.ndarray, out: ScannedRows, problems) -> None:
    """Tokenise rows cell by cell; records ragged rows and bad cells in `problems`."""
    layout, width = out.layout, len(out.layout.columns)
    base = int(starts[0])
    seg = np.frombuffer(body, np.uint8)[base : int(ends[-1])]
    rs, re_ = starts - base, ends - base
    seps = np.flatnonzero(seg == ord(layout.delimiter))
    lo = np.searchsorted(seps, rs)
    counts = np.searchsorted(seps, re_) - lo + 1
    for k in np.flatnonzero(counts != width):
        problems.add(int(lines[k]), f"row has {counts[k]} cells but the header has {width}", RAGGED_FIX)
    good = np.flatnonzero(counts == width)
    if good.size == 0:
        return
    pos = seps[lo[good][:, None] + np.arange(width - 1)]  # (g, width - 1) delimiter offsets
    cell_start = np.concatenate([rs[good][:, None], pos + 1], axis=1)
    cell_end = np.concatenate([pos, re_[good][:, None]], axis=1)
    label_start, label_len = cell_start[:, labels], cell_end[:, labels] - cell_start[:, labels]
    first = seg[np.minimum(label_start, len(seg) - 1)]
    values = np.full(label_start.shape, -2, dtype=np.int8)  # -2: not a bare 0/1, look closer
    values[(label_len == 1) & (first == ord("0"))] = 0
    values[(label_len == 1) & (first == ord("1"))] = 1
    r, c = np.nonzero(values == -2)
    values[r, c] = _odd_values(seg, label_start[r, c], label_len[r, c])
    bad_r, bad_c = np.nonzero(values < 0)
    for i in range(min(bad_r.size, problems.room())):
        s, n = base + int(label_start[bad_r[i], bad_c[i]]), int(label_len[bad_r[i], bad_c[i]])
        problems.add(int(lines[good[bad_r[i]]]), *bad_value(layout.columns[labels[bad_c[i]]], body[s : s + n].decode()))
    problems.count_more(max(0, bad_r.size - problems.room()), VALUE_FIX)
    first_row, kept = len(out.paths), []

    def cell(i: int, j: int | None) -> str:
        return "" if j is None else body[base + cell_start[i, j] : base + cell_end[i, j]].decode("utf-8").strip()

    for i, k in enumerate(good.tolist()):
        if out.add(int(lines[k]), cell(i, layout.path_index), cell(i, layout.group_index), problems):
            kept.append(i)
    pr, pc = np.nonzero(values[kept] == 1)
    out.add_positives(first_row, pr, pc)


def scan_bytes(
    body: bytes, start: int, first_line: int, labels: np.ndarray, out: ScannedRows, problems: Problems
) -> bool:
    """Scan the rows of a UTF-8 one-hot file: `body[start:]`, whose first line is `first_line`.

    Returns:
        False, having scanned nothing, if a quoted cell spans lines (a line with an odd number of
        quotes): the rows cannot be split at newlines, and `scan_quoted` must read the file.
    """
    starts, ends, lines = line_bounds(body, start, first_line)
    if body.find(b'"', start) >= 0 and any(body.count(b'"', s, e) % 2 for s, e in zip(starts, ends, strict=True)):
        return False
    contiguous = bool(np.all(np.diff(labels) == 1))
    i = 0
    while i < len(starts):
        j = max(i + 1, int(np.searchsorted(starts, starts[i] + CHUNK_BYTES)))
        rest = np.arange(i, j)
        if contiguous:
            rest = rest[_fast_chunk(body, starts[i:j], ends[i:j], lines[i:j], labels, out, problems)]
        quoted = np.array([body.find(b'"', starts[k], ends[k]) >= 0 for k in rest], dtype=bool)
        for k in rest[quoted]:  # rare: quotes outside the leading path cell go through the csv module
            scan_quoted(body[starts[k] : ends[k]].decode("utf-8"), int(lines[k]), labels, out, problems)
        if (~quoted).any():
            rest = rest[~quoted]
            _general_chunk(body, starts[rest], ends[rest], lines[rest], labels, out, problems)
        i = j
    return True

"""CSV/TSV label files: delimiter sniffing, the header, which column is which, and one-hot vs tags.

Two CSV layouts are read (`csv_onehot` and `csv_tags` hold the readers):

    onehot: Filenames,desert,mountains,sea      tags: img_path,tags
            1.jpg,1,0,0                               1.jpg,"desert,mountains"

The field delimiter is sniffed from the header among `, TAB ; |` (the one that splits it into the
most columns), the image path column is found by name, and the layout is told apart by looking at
the first rows: one-hot when the label columns hold 0/1, tags when one column holds text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tailtag.errors import LabelFileError, OptionError
from tailtag.labels._text import HEAD_BYTES, read_head
from tailtag.labels.options import ReadOptions

DELIMITERS = (",", "\t", ";", "|")
PATH_COLUMN_NAMES = ("filename", "filenames", "file", "img_path", "image", "image_name", "image_id", "path", "img")
TAGS_COLUMN_NAMES = ("tags", "labels", "tag", "label", "categories", "category", "classes", "genres", "genre")
ONE_HOT_VALUES = {"0": 0, "1": 1, "0.0": 0, "1.0": 1}
MISSING_VALUES = {"nan", "na", "n/a", "null", "none"}
SAMPLE_ROWS = 500
SAMPLE_CELLS = 100_000
MAX_HEADER_BYTES = 1 << 28
_CSV_FIX = "remove NUL bytes; split cells longer than 128 KB"


def show_delimiter(delimiter: str) -> str:
    """How a delimiter is written on the command line, e.g. '\\t' for a tab."""
    return "'\\t'" if delimiter == "\t" else repr(delimiter)


@dataclass(frozen=True)
class CsvLayout:
    """Where things are in a CSV/TSV label file.

    Attributes:
        delimiter: the field separator.
        columns: header names, stripped of surrounding whitespace.
        header_line: 1-based line of the header (after any blank lines at the top).
        path_index: column of the image paths.
        group_index: column kept as per-image metadata (`--group-column`), if any.
    """

    delimiter: str
    columns: list[str]
    header_line: int
    path_index: int
    group_index: int | None

    def other_indices(self) -> list[int]:
        """Columns that are neither the path nor the group column (label columns, in one-hot files)."""
        return [j for j in range(len(self.columns)) if j not in (self.path_index, self.group_index)]


def split_line(line: str, delimiter: str) -> list[str]:
    """Cells of one CSV line (quotes honoured), stripped."""
    if '"' not in line:  # also sidesteps the csv module's 128 KB cell limit for unquoted lines
        return [cell.strip() for cell in line.split(delimiter)]
    return [cell.strip() for cell in next(csv.reader([line], delimiter=delimiter), [])]


def iter_rows(path: Path, text: str, delimiter: str, first_line: int = 1) -> Iterator[tuple[int, list[str]]]:
    """(line, cells) of each CSV record of `text`, whose first line is `first_line` in `path`.

    `line` is where the record starts, so a quoted cell spanning lines does not shift later numbers.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    previous = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:  # NUL bytes, cells over the 128 KB limit
            raise LabelFileError(
                path, f"cannot split this row into cells: {error}", line=first_line + previous, fix=_CSV_FIX
            ) from None
        yield first_line + previous, row
        previous = reader.line_num


def sniff_delimiter(header: str) -> str | None:
    """The candidate delimiter that splits `header` into the most columns (None if none splits it)."""
    widths = {d: len(split_line(header, d)) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: widths[d])  # ties go to the earlier, more common delimiter
    return best if widths[best] > 1 else None


def _check_delimiter(path: Path, header: str, header_line: int, options: ReadOptions) -> str:
    if options.delimiter is not None and len(options.delimiter) != 1:
        raise OptionError(f"--delimiter must be one character; got {options.delimiter!r}")
    sniffed = sniff_delimiter(header)
    delimiter = options.delimiter or sniffed
    if delimiter is not None and len(split_line(header, delimiter)) > 1:
        return delimiter
    if sniffed is not None:  # the given delimiter leaves the header whole but another one splits it
        width = len(split_line(header, sniffed))
        raise LabelFileError(
            path,
            f"with delimiter {show_delimiter(delimiter)} the header is one column, but it looks "
            f"{show_delimiter(sniffed)}-separated ({width} columns)",
            line=header_line,
            fix=f"pass --delimiter {show_delimiter(sniffed)}, or leave --delimiter out to sniff it",
        )
    raise LabelFileError(
        path,
        f"the header {header[:80]!r} is a single column; a label file needs an image path column and label "
        f"column(s), separated by one of {', '.join(show_delimiter(d) for d in DELIMITERS)}",
        line=header_line,
        fix="add the label column(s), or pass --format if this is not a CSV file (e.g. --format paddle)",
    )


def _column_index(path: Path, columns: list[str], name: str, flag: str) -> int:
    lowered = [c.lower() for c in columns]
    if name in columns:
        return columns.index(name)
    if name.lower() in lowered:
        return lowered.index(name.lower())
    raise LabelFileError(
        path,
        f"there is no column {name!r} (given by {flag}); the columns are: {', '.join(columns[:30])}"
        + (f", ... ({len(columns)} in all)" if len(columns) > 30 else ""),
        line=1,
        fix=f"pass one of the column names above to {flag}",
    )


def _check_names(path: Path, columns: list[str], header_line: int) -> None:
    seen: dict[str, int] = {}
    for j, name in enumerate(columns):
        if not name:
            fix = "give every column a name, and remove trailing delimiters"
            if j == 0:
                fix = "drop the unnamed index column (pandas: to_csv(index=False); R: write.csv(row.names=FALSE))"
            trailing = " (a delimiter at the end of the header line?)" if j == len(columns) - 1 else ""
            raise LabelFileError(path, f"column {j + 1} of the header has no name{trailing}", line=header_line, fix=fix)
        if name in seen:
            raise LabelFileError(
                path,
                f"column name {name!r} appears twice (columns {seen[name] + 1} and {j + 1})",
                line=header_line,
                fix="give every column a unique name",
            )
        seen[name] = j


def key_columns(path: Path, columns: list[str], options: ReadOptions) -> tuple[int, int | None]:
    """(path column, group column) indices: `--path-column`, else the first column named like a path
    (PATH_COLUMN_NAMES, case-insensitive), else column 0; `--group-column` if given."""
    if options.path_column is not None:
        path_index = _column_index(path, columns, options.path_column, "--path-column")
    else:
        lowered = [c.lower() for c in columns]
        path_index = next((lowered.index(n) for n in PATH_COLUMN_NAMES if n in lowered), 0)
    group_index = None
    if options.group_column is not None:
        group_index = _column_index(path, columns, options.group_column, "--group-column")
        if group_index == path_index:
            raise OptionError(f"--group-column {options.group_column!r} is the image path column; pick another one")
    return path_index, group_index


def _lines(text: str) -> list[str]:
    """Lines split at '\n' only, as the byte scanners split them (str.splitlines also splits at
    '\x1c', '\u2028' and others, which would shift line numbers)."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def _sample_rows(path: Path, head: str, complete: bool, delimiter: str, first_line: int) -> list[list[str]]:
    if not complete:  # the last line of a partial head may be cut in the middle
        head = head[: head.rfind("\n") + 1]
    lines = _lines(head)[first_line - 1 :]
    width = max(1, lines[0].count(delimiter) + 1) if lines else 1
    n_rows = max(20, min(SAMPLE_ROWS, SAMPLE_CELLS // width))  # a few rows tell a 7,000-column file's layout
    records = iter_rows(path, "\n".join(lines[: n_rows * 2]), delimiter, first_line)
    rows = [[cell.strip() for cell in row] for _, row in records if any(cell.strip() for cell in row)]
    return rows[:n_rows]


def read_layout(path: Path, options: ReadOptions) -> tuple[CsvLayout, list[list[str]]]:
    """Header, delimiter and key columns of a CSV/TSV label file, plus its first data rows.

    Returns:
        (layout, sample): `sample` holds up to SAMPLE_ROWS non-blank data rows, as stripped cells.
    """
    head, complete = read_head(path)
    size = HEAD_BYTES
    while not complete and head.lstrip().count("\n") < 2 and size < MAX_HEADER_BYTES:  # a very wide header
        size *= 8
        head, complete = read_head(path, size)
    lines = _lines(head)
    header_line = next(i for i, line in enumerate(lines, start=1) if line.strip())  # read_head refuses blank files
    header = lines[header_line - 1]
    delimiter = _check_delimiter(path, header, header_line, options)
    columns = split_line(header, delimiter)
    _check_names(path, columns, header_line)
    path_index, group_index = key_columns(path, columns, options)
    sample = _sample_rows(path, head, complete, delimiter, header_line + 1)
    if not sample and complete:
        raise LabelFileError(
            path, f"the file has a header ({len(columns)} columns) but no data rows", fix="add one row per image"
        )
    layout = CsvLayout(delimiter, columns, header_line, path_index, group_index)
    if len(layout.other_indices()) == 0:
        raise LabelFileError(
            path,
            f"no label column: the header has only the path column {columns[path_index]!r}"
            + (f" and the group column {columns[group_index]!r}" if group_index is not None else ""),
            line=header_line,
            fix="add label columns (one-hot 0/1 columns or one tags column)",
        )
    return layout, sample


def _column_values(sample: list[list[str]], j: int) -> list[str]:
    return [row[j] for row in sample if j < len(row) and row[j]]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def find_tags_column(path: Path, layout: CsvLayout, sample: list[list[str]], options: ReadOptions) -> int | None:
    """The column holding delimited tags: `--tags-column`, the only text column, or the one named like tags."""
    if options.tags_column is not None:
        return _column_index(path, layout.columns, options.tags_column, "--tags-column")
    others = layout.other_indices()
    if len(others) == 1:
        return others[0]
    texty = [j for j in others if any(not _is_number(v) for v in _column_values(sample, j))]
    if len(texty) == 1:
        return texty[0]
    named = [j for j in (texty or others) if layout.columns[j].lower() in TAGS_COLUMN_NAMES]
    return named[0] if len(named) == 1 else None


def detect_csv_format(path: Path, options: ReadOptions) -> Literal["onehot", "tags"]:
    """'onehot' if the label columns of the first rows hold 0/1, 'tags' if one column holds text."""
    layout, sample = read_layout(path, options)
    if options.tags_column is not None:
        return "tags"
    others = layout.other_indices()
    binary = [
        j for j in others if _column_values(sample, j) and all(v in ONE_HOT_VALUES for v in _column_values(sample, j))
    ]
    # Most columns 0/1 means a one-hot file with a few bad cells: its reader names them.
    if len(others) > 1 and 2 * len(binary) >= len(others):
        return "onehot"
    if len(others) == 1 and binary:
        return "onehot"
    tags_index = find_tags_column(path, layout, sample, options)
    if tags_index is not None:
        return "tags"
    if all(_is_number(v) for j in others for v in _column_values(sample, j)):
        return "onehot"
    raise LabelFileError(
        path,
        f"cannot tell which column holds the labels: columns {', '.join(repr(layout.columns[j]) for j in others)} "
        "are neither all 0/1 (one-hot) nor a single tags column",
        line=layout.header_line,
        fix="pass --tags-column NAME for a tags file, or --format onehot (and --group-column for a text column)",
    )

"""Tags CSV/TSV label files: an image path column and one column of delimited tag names.

    Filenames,labels               img_path,tags                    image_name,tags
    1.jpg,desert                   a.jpg,sea|sunset                 x.png,"['Comedy', 'Drama']"
    4.jpg,"desert,mountains"       b.jpg,                           y.png,[]

Tags inside a cell are split on one separator chosen once per file (`--tag-sep` overrides): a
Python-style list (`['a', 'b']`, read with `ast.literal_eval`, which evaluates literals only), else
whichever of `,` `|` `;` occurs in the most cells, else space. An empty cell (or `[]`) is an image with no
labels, kept as a negative. Label names are the sorted union of the tags.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tailtag.errors import LabelFileError, OptionError
from tailtag.labels._rows import Problems, finish_table
from tailtag.labels._text import read_text
from tailtag.labels.csv_files import CsvLayout, find_tags_column, iter_rows, read_layout, show_delimiter
from tailtag.labels.options import ReadOptions
from tailtag.labels.table import LabelTable

TAG_SEPARATORS = (",", "|", ";", " ")
LIST_SEP = "list"  # the separator name for Python-style list cells
_MAX_LIST_CELL = 1 << 16  # literal_eval on a huge or deeply nested cell can exhaust memory or the stack
_RAGGED_FIX = "give every row one cell per header column"
_PATH_FIX = "give every row a non-empty image path"
_LIST_FIX = "write list cells as ['tag1', 'tag2'], or pass --tag-sep"
# A cell that opens or closes like a Python list of strings: `['sea', 'sun'` or `'sea', 'sun']` is a list
# cut short, not the tags "['sea'" and "'sun'"; so is `[1, 2]`, while a bare `[x]` stays a tag name.
_LIST_LIKE = re.compile(r"""^\[\s*(?:['"]|\]|$)|['"]\s*\]$""")


def looks_like_list(cell: str) -> bool:
    """True when a stripped tags cell opens or closes like a Python list of strings."""
    return bool(_LIST_LIKE.search(cell)) or (cell.startswith("[") and cell.endswith("]") and "," in cell)


def choose_tag_separator(cells: list[str]) -> tuple[str, str | None]:
    """The in-cell separator of a file's tag cells, and a note when the choice was not clear-cut.

    Args:
        cells: the stripped tag cells of every row.

    Returns:
        (separator, note): `separator` is LIST_SEP for Python-style lists.
    """
    filled = [cell for cell in cells if cell]
    lists = sum(looks_like_list(cell) for cell in filled)
    if filled and 2 * lists >= len(filled):
        return LIST_SEP, None
    counts = {sep: sum(sep in cell for cell in filled) for sep in TAG_SEPARATORS}
    # Spaces inside tag names ("sea water") are common: space separates only when no punctuation does.
    punctuation = TAG_SEPARATORS[:3]
    best = max(punctuation, key=lambda sep: counts[sep])  # ties go to the earlier separator
    if counts[best] == 0:
        return (" ", None) if counts[" "] else (",", None)  # one tag per cell: the separator never matters
    rivals = [sep for sep in punctuation if sep != best and any(sep in c and best not in c for c in filled)]
    if not rivals:
        return best, None
    shown = ", ".join(f"{sep!r} in {counts[sep]} cells" for sep in rivals)
    note = f"tags split on {best!r} (in {counts[best]} cells); {shown} also occur: pass --tag-sep if that is wrong"
    return best, note


def _parse_list(cell: str) -> list[str]:
    """Tags of a Python-style list cell; ValueError with a readable reason otherwise."""
    if len(cell) > _MAX_LIST_CELL:
        raise ValueError(f"the cell is {len(cell):,} characters long, too long for a list of tags")
    try:
        value = ast.literal_eval(cell)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as error:
        raise ValueError(f"{cell[:60]!r} is not a Python list of strings ({type(error).__name__})") from None
    if not isinstance(value, list | tuple | set):
        raise ValueError(f"{cell[:60]!r} is a {type(value).__name__}, not a list of tags")
    bad = [item for item in value if not isinstance(item, str | int) or isinstance(item, bool)]
    if bad:
        raise ValueError(f"{cell[:60]!r} holds {bad[0]!r}; tags must be strings")
    return [str(item).strip() for item in value if str(item).strip()]


def split_tags(cell: str, separator: str) -> list[str]:
    """Tag names of one cell (surrounding spaces and empty pieces dropped)."""
    if not cell:
        return []
    if separator == LIST_SEP:
        return _parse_list(cell)
    pieces = cell.split() if separator == " " else cell.split(separator)
    return [piece.strip() for piece in pieces if piece.strip()]


def _rows(path: Path, layout: CsvLayout, tags_index: int, problems: Problems) -> list[tuple[int, str, str, str]]:
    """(line, path, tags cell, group) of every data row."""
    width, rows = len(layout.columns), []
    for line, row in iter_rows(path, read_text(path), layout.delimiter):
        if line <= layout.header_line or not any(cell.strip() for cell in row):
            continue
        if len(row) != width:
            hint = ""
            if len(row) > width and tags_index == width - 1:
                hint = f" (quote a tags cell that contains the delimiter {show_delimiter(layout.delimiter)})"
            problems.add(line, f"row has {len(row)} cells but the header has {width}{hint}", _RAGGED_FIX)
            continue
        image = row[layout.path_index].strip()
        if not image:
            problems.add(line, f"the image path (column {layout.columns[layout.path_index]!r}) is empty", _PATH_FIX)
            continue
        group = row[layout.group_index].strip() if layout.group_index is not None else ""
        rows.append((line, image, row[tags_index].strip(), group))
    return rows


def _tags_column(path: Path, layout: CsvLayout, sample: list[list[str]], options: ReadOptions) -> int:
    index = find_tags_column(path, layout, sample, options)
    if index is None:
        others = ", ".join(repr(layout.columns[j]) for j in layout.other_indices())
        raise LabelFileError(
            path,
            f"cannot tell which column holds the tags among {others}",
            line=layout.header_line,
            fix="pass --tags-column NAME",
        )
    if index in (layout.path_index, layout.group_index):
        raise OptionError(f"--tags-column {layout.columns[index]!r} is also the path or group column; pick another")
    return index


def _parse_cells(
    rows: list[tuple[int, str, str, str]], separator: str, problems: Problems, *, detected: bool
) -> list[list[str]]:
    """Tags of every row; with a detected (not --tag-sep) separator, a list-like cell in a file of plain
    cells is a problem, since splitting it would invent tags like "['sea'"."""
    tag_lists: list[list[str]] = []
    for line, _, cell, _ in rows:
        if detected and separator != LIST_SEP and looks_like_list(cell):
            problems.add(line, f"{cell[:60]!r} looks like a Python list, but most cells are not lists", _LIST_FIX)
            tag_lists.append([])
            continue
        try:
            tag_lists.append(split_tags(cell, separator))
        except ValueError as error:
            problems.add(line, str(error), _LIST_FIX)
            tag_lists.append([])
    return tag_lists


def _multi_hot(tag_lists: list[list[str]]) -> tuple[sp.csr_matrix, list[str]]:
    """(N, L) CSR of the tag lists and the sorted names of its columns."""
    names = sorted({tag for tags in tag_lists for tag in tags})
    column = {name: j for j, name in enumerate(names)}
    indptr = np.cumsum([0] + [len(set(tags)) for tags in tag_lists])
    indices = np.array([column[t] for tags in tag_lists for t in sorted(set(tags))], dtype=np.int64)
    matrix = sp.csr_matrix((np.ones(len(indices), np.uint8), indices, indptr), shape=(len(tag_lists), len(names)))
    return matrix, names


def read_tags(path: Path, options: ReadOptions) -> LabelTable:
    """Read a tags CSV/TSV (see the module docstring) into an (N, L) table, names sorted.

    `options.tag_sep` forces the in-cell separator; the value "list" forces Python-style lists.
    """
    layout, sample = read_layout(path, options)
    tags_index = _tags_column(path, layout, sample, options)
    problems = Problems(path)
    rows = _rows(path, layout, tags_index, problems)
    problems.raise_if_any()
    notes: list[str] = []
    separator = options.tag_sep
    if separator is None:
        separator, note = choose_tag_separator([cell for _, _, cell, _ in rows])
        notes += [note] if note else []
    tag_lists = _parse_cells(rows, separator, problems, detected=options.tag_sep is None)
    problems.raise_if_any()
    ignored = [layout.columns[j] for j in layout.other_indices() if j != tags_index]
    if ignored:
        notes.append(f"ignored column(s) {', '.join(map(repr, ignored))}: only {layout.columns[tags_index]!r} has tags")
    matrix, names = _multi_hot(tag_lists)
    meta = {}
    if layout.group_index is not None:
        meta[layout.columns[layout.group_index]] = np.array([group for *_, group in rows], dtype=object)
    lines = [line for line, *_ in rows]
    return finish_table(
        np.array([image for _, image, _, _ in rows], dtype=object),
        matrix,
        names,
        where=lambda i: f"line {lines[i]}",
        source=path,
        image_root=path.parent,
        meta=meta,
        notes=notes,
        options=options,
    )

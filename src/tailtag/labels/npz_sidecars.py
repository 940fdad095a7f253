"""The files beside an NPZ label matrix: the tag list (column names) and the image list (row paths).

An NPZ holds numbers only, so its names and paths live in sibling files. When `--classes` or
`--paths` is not given, a sibling is used only when both its size and its name say what it is: the
one .txt with exactly L non-empty lines whose name has a word starting like tag/class/label/name/
vocab/categor (tags.txt, class_names.txt), the one .csv/.tsv/.txt/.lst with N rows whose name has a
word starting like path/file/image/img/id (images.csv, image_ids.txt). A file that merely has the
right number of lines (another label file, notes.txt) is never picked: several or none is refused
with the files that fit, and the flag to pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tailtag.errors import LabelFileError
from tailtag.labels._rows import Problems
from tailtag.labels._text import decode, read_bytes, read_text
from tailtag.labels.csv_files import key_columns, sniff_delimiter, split_line
from tailtag.labels.options import ReadOptions
from tailtag.labels.path_arrays import path_array

_TABLE_SUFFIXES = (".csv", ".tsv")
_LIST_SUFFIXES = (".txt", ".lst")
_MAX_SIDECAR_BYTES = 256 << 20
_BLOCK_BYTES = 1 << 20  # an image list is decoded and split this much at a time
_NAME_HINTS = ("tag", "class", "label", "name", "vocab", "categor")
_PATH_HINTS = ("path", "file", "image", "img", "id")
_WORD = re.compile(r"[a-z0-9]+")


def _count_lines(path: Path) -> int | None:
    """Non-empty lines of a text file, or None if it is too big or not text (then it is not a sidecar)."""
    try:
        if path.stat().st_size > _MAX_SIDECAR_BYTES:
            return None
        data = path.read_bytes()
        data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return sum(1 for line in data.splitlines() if line.strip())


def _named_like(path: Path, hints: tuple[str, ...]) -> bool:
    """True when a word of the file name starts with a hint: `image_ids` and `images` do, `valid` does not."""
    return any(word.startswith(hints) for word in _WORD.findall(path.stem.lower()))


def _pick(npz: Path, fitting: list[Path], hints: tuple[str, ...], what: str, flag: str) -> Path | None:
    """The one sibling of the right size whose name says it is the `what`; None when no sibling fits."""
    named = [c for c in fitting if _named_like(c, hints)]
    if len(named) > 1:
        raise LabelFileError(
            npz,
            f"several sibling files could be the {what}: {', '.join(c.name for c in named)}",
            fix=f"pass {flag} FILE",
        )
    return named[0] if named else None


def _unnamed(fitting: list[Path], what: str, flag: str) -> str:
    """A sentence about siblings of the right size that were not used because of their names."""
    if not fitting:
        return ""
    shown = ", ".join(c.name for c in fitting[:5]) + (f" and {len(fitting) - 5} more" if len(fitting) > 5 else "")
    return (
        f"; {shown} {'has' if len(fitting) == 1 else 'have'} the right size, but the name does not say {what}: "
        f"pass {flag} to use one"
    )


def _siblings(npz: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in npz.parent.iterdir() if p.suffix.lower() in suffixes and p.is_file() and p != npz)


def find_names_file(npz: Path, n_labels: int, notes: list[str]) -> Path | None:
    """The sibling .txt named like a tag list with exactly `n_labels` names (None, with a note, if none)."""
    fitting = [p for p in _siblings(npz, (".txt",)) if _count_lines(p) == n_labels]
    chosen = _pick(npz, fitting, _NAME_HINTS, "tag list", "--classes")
    if chosen is not None:
        notes.append(
            f"label names from {chosen.name} (the sibling tag list with {n_labels} lines; --classes overrides)"
        )
    elif fitting:
        notes.append("no sibling named like a tag list" + _unnamed(fitting, "it is a tag list", "--classes"))
    return chosen


def find_paths_file(npz: Path, n_images: int, notes: list[str], exclude: Path | None = None) -> Path:
    """The sibling named like an image list with `n_images` rows (CSV: header + rows; list: one a line)."""
    fitting = []
    for p in _siblings(npz, _TABLE_SUFFIXES + _LIST_SUFFIXES):
        count = _count_lines(p)
        fits = count == n_images + 1 if p.suffix.lower() in _TABLE_SUFFIXES else count in (n_images, n_images + 1)
        if fits and p != exclude:
            fitting.append(p)
    chosen = _pick(npz, fitting, _PATH_HINTS, "image list", "--paths")
    if chosen is None:
        raise LabelFileError(
            npz,
            f"no image list for the {n_images} matrix rows: no sibling .csv/.tsv/.txt/.lst named like an image list "
            f"(images.csv, paths.txt, ...) has {n_images} rows" + _unnamed(fitting, "it is an image list", "--paths"),
            fix=f"pass --paths FILE: a CSV with a path column, or a text file with {n_images} image paths, one a line",
        )
    notes.append(f"image paths from {chosen.name} (the sibling image list with {n_images} rows; --paths overrides)")
    return chosen


def _table_rows(path: Path, lines: list[str], numbers: np.ndarray, options: ReadOptions, problems: Problems):
    header = lines[numbers[0] - 1]
    delimiter = options.delimiter or sniff_delimiter(header) or ","
    columns = split_line(header, delimiter)
    path_index, group_index = key_columns(path, columns, options)
    paths, kept, groups = [], [], []
    for number in numbers[1:].tolist():
        cells = split_line(lines[number - 1], delimiter)
        if len(cells) != len(columns):
            problems.add(number, f"row has {len(cells)} cells but the header has {len(columns)}", "fix the row")
            continue
        paths.append(cells[path_index])
        kept.append(number)
        groups.append(cells[group_index] if group_index is not None else "")
    meta = {columns[group_index]: np.array(groups, dtype=object)} if group_index is not None else {}
    return np.array(paths, dtype=object), np.array(kept, dtype=np.int64), meta


def _table_file(path: Path, options: ReadOptions, problems: Problems):
    """(paths, lines, meta) of an image list with a header (see `read_paths_file`)."""
    lines = read_text(path).splitlines()
    numbers = np.flatnonzero(np.fromiter((bool(line.strip()) for line in lines), dtype=bool, count=len(lines))) + 1
    return _table_rows(path, lines, numbers, options, problems)


def _text_blocks(path: Path) -> Iterator[str]:
    """The text of a file as `read_text` gives it, a block of whole lines (about 1 MB) at a time."""
    data = read_bytes(path)
    start, line = 0, 1
    while start < len(data):
        end = data.find(b"\n", start + _BLOCK_BYTES)
        end = len(data) if end < 0 else end + 1  # cut after a line feed: no line, CR LF or UTF-8 character is split
        yield decode(data[start:end], path, base_line=line)
        line += data.count(b"\n", start, end)
        start = end


def _list_lines(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """((n,) the stripped non-blank lines as a compact array, (n,) int64 their 1-based line numbers).

    Read a block at a time, so that a million-line list is never a list of a million Python strings (64
    bytes each) or (line, text) pairs: the paths go straight into a `path_array` (16 bytes a short path).
    """
    paths, numbers, first = [], [], 1
    for text in _text_blocks(path):
        lines = text.splitlines()
        kept = np.flatnonzero(np.fromiter((bool(line.strip()) for line in lines), dtype=bool, count=len(lines)))
        paths.append(path_array([lines[k].strip() for k in kept.tolist()]))
        numbers.append(kept + first)
        first += len(lines)
    return np.concatenate(paths + [path_array([])]), np.concatenate(numbers + [np.zeros(0, dtype=np.int64)])


def read_paths_file(
    path: Path, n_images: int, options: ReadOptions, npz: Path
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Image paths of the NPZ rows, in order.

    A .csv/.tsv (or a list with `n_images` + 1 lines) has a header and a path column chosen as in
    one-hot files, plus `--group-column` if given; other files hold one path per line.

    Returns:
        (paths, lines, meta): (N,) paths, (N,) int64 their 1-based lines in `path`, and the group column if any.
    """
    if not path.is_file():
        raise LabelFileError(path, "the image list does not exist", fix="check the path given to --paths")
    problems = Problems(path)
    if path.suffix.lower() in _TABLE_SUFFIXES:
        paths, numbers, meta = _table_file(path, options, problems)
    else:
        paths, numbers = _list_lines(path)
        if len(paths) == n_images + 1:  # one line too many: a header, so the list is a table after all
            paths, numbers, meta = _table_file(path, options, problems)
        elif options.group_column is not None:
            raise LabelFileError(path, "--group-column needs a CSV image list with a header", fix="use a CSV")
        else:
            meta = {}
    for i in np.flatnonzero(paths == "").tolist():
        problems.add(int(numbers[i]), "the image path is empty", "give every row a non-empty image path")
    problems.raise_if_any()
    if len(paths) != n_images:
        raise LabelFileError(
            path,
            f"lists {len(paths)} images but the matrix in {npz.name} has {n_images} rows",
            fix="give exactly one image per matrix row, in row order (--paths)",
        )
    return paths, numbers, meta

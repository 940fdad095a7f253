"""PaddleClas multi-label list files: `image path<TAB or spaces>0,1,0,1,0` per line, no header.

This is the `train_list.txt` layout of PaddleClas' multi-label tutorial (NUS-WIDE-SCENE); see
PaddleClas `ppcls/data/dataloader/multilabel_dataset.py`. The file carries no label names: they come
from `--classes` (one name per line, in column order), else they are `label_0 .. label_{L-1}`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tailtag.errors import LabelFileError
from tailtag.labels._rows import Problems, finish_table
from tailtag.labels._text import read_name_list, read_text
from tailtag.labels.options import ReadOptions
from tailtag.labels.table import LabelTable

_VALUES = re.compile(r"[01](?:,[01])*")
_LINE_FIX = "write each line as `image_path<TAB>0,1,0,...` with one 0/1 value per label"


def looks_like_paddle(lines: list[str]) -> bool:
    """True if the first line (and most of the first 20) read `path<whitespace>0,1,...`, with no header.

    A few odd lines do not stop the detection: the reader then names them.
    """
    sample = [line.strip() for line in lines if line.strip()][:20]

    def fits(line: str) -> bool:
        parts = split_line(line)
        return parts is not None and "\t" not in parts[0] and _VALUES.fullmatch(parts[1]) is not None

    return bool(sample) and fits(sample[0]) and 2 * sum(map(fits, sample)) > len(sample)


def split_line(line: str) -> tuple[str, str] | None:
    """(path, values) of a stripped list line: the path may contain spaces, the values may not."""
    parts = line.rsplit(maxsplit=1)
    return (parts[0], parts[1]) if len(parts) == 2 else None


def _parse(path: Path, text: str, problems: Problems) -> tuple[list[str], list[int], list[list[int]], int]:
    """(paths, lines, positive columns per row, number of values per row) of a list file."""
    paths, lines, positives, width, width_line = [], [], [], None, 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        parts = split_line(line)
        if parts is None:
            problems.add(number, f"{line[:60]!r} has no label values after the image path", _LINE_FIX)
            continue
        values = parts[1].split(",")
        bad = [(k, v) for k, v in enumerate(values) if v not in ("0", "1")]
        if bad:
            k, v = bad[0]
            problems.add(number, f"value {k + 1} is {v!r}; label values must be 0 or 1", _LINE_FIX)
            continue
        if width is None:
            width, width_line = len(values), number
        elif len(values) != width:
            problems.add(number, f"{len(values)} label values, but line {width_line} has {width}", _LINE_FIX)
            continue
        paths.append(parts[0])
        lines.append(number)
        positives.append([k for k, v in enumerate(values) if v == "1"])
    return paths, lines, positives, width or 0


def _names(path: Path, width: int, options: ReadOptions, notes: list[str]) -> list[str]:
    if options.classes is None:
        notes.append(f"no --classes file given: the {width} labels are named label_0 .. label_{width - 1}")
        return [f"label_{j}" for j in range(width)]
    names = read_name_list(options.classes, "--classes")
    if len(names) != width:
        raise LabelFileError(
            options.classes,
            f"lists {len(names)} label names but the rows of {path} have {width} values",
            fix="give exactly one name per label column, in column order",
        )
    return names


def read_paddle(path: Path, options: ReadOptions) -> LabelTable:
    """Read a PaddleClas multi-label list (see the module docstring) into an (N, L) table."""
    problems = Problems(path)
    paths, lines, positives, width = _parse(path, read_text(path), problems)
    problems.raise_if_any()
    if not paths:
        raise LabelFileError(path, "the list has no image lines", fix="add one `image_path<TAB>0,1,...` line per image")
    notes: list[str] = []
    names = _names(path, width, options, notes)
    indptr = np.cumsum([0] + [len(p) for p in positives])
    indices = np.array([j for p in positives for j in p], dtype=np.int64)
    matrix = sp.csr_matrix((np.ones(len(indices), np.uint8), indices, indptr), shape=(len(paths), width))
    return finish_table(
        np.array(paths, dtype=object),
        matrix,
        names,
        where=lambda i: f"line {lines[i]}",
        source=path,
        image_root=path.parent,
        notes=notes,
        options=options,
    )

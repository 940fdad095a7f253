"""COCO instances JSON -> image-level multi-hot labels.

Format: Lin et al., "Microsoft COCO: Common Objects in Context" (ECCV 2014); the file layout is that
of `instances_*.json` (https://cocodataset.org/#format-data):

    {"images": [{"id": 1, "file_name": "a.jpg"}, ...],
     "categories": [{"id": 3, "name": "car"}, ...],
     "annotations": [{"image_id": 1, "category_id": 3, ...}, ...]}

An image has label c when at least one annotation (crowd ones included) of category c points at it.
Label names are the category names ordered by category id; images without annotations are kept as
negatives; an annotation pointing at an unknown image or category id is an error naming the id.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tailtag.errors import LabelFileError
from tailtag.labels._rows import Problems, finish_table
from tailtag.labels._text import read_text
from tailtag.labels.options import ReadOptions
from tailtag.labels.table import LabelTable

_FIX = "check the file against the COCO format (https://cocodataset.org/#format-data)"


def _is_id(value: object) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool)


def _load(path: Path) -> dict:
    try:
        document = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise LabelFileError(path, f"not valid JSON: {error.msg} (column {error.colno})", line=error.lineno) from None
    except RecursionError:
        raise LabelFileError(path, "the JSON is nested too deeply to be a COCO file", fix=_FIX) from None
    if not isinstance(document, dict) or "images" not in document or "categories" not in document:
        found = sorted(document)[:10] if isinstance(document, dict) else type(document).__name__
        raise LabelFileError(
            path, f"not a COCO instances file: expected keys 'images' and 'categories', found {found}", fix=_FIX
        )
    for key in ("images", "categories", "annotations"):
        if key in document and not isinstance(document[key], list):
            raise LabelFileError(path, f"{key!r} must be a list; it is a {type(document[key]).__name__}", fix=_FIX)
    return document


def _records(items: list, section: str, fields: tuple[str, str], problems: Problems, n_ids: int = 1) -> list[tuple]:
    """(index, first field, second field) of each well-formed entry of a section; others become problems.

    The first `n_ids` fields must be ids (integers or strings), so that they can be looked up.
    """
    out = []
    for k, item in enumerate(items):
        if not isinstance(item, dict) or any(f not in item for f in fields):
            problems.add(None, f"{section}[{k}] lacks {' or '.join(map(repr, fields))}", _FIX)
            continue
        bad = [f for f in fields[:n_ids] if not _is_id(item[f])]
        if bad:
            problems.add(None, f"{section}[{k}] has {bad[0]} {item[bad[0]]!r}; ids are integers or strings", _FIX)
        else:
            out.append((k, item[fields[0]], item[fields[1]]))
    return out


def _index(records, section: str, problems: Problems) -> dict[object, int]:
    """id -> position, with repeated ids reported."""
    position: dict[object, int] = {}
    for i, (k, key, _) in enumerate(records):
        if key in position:
            first = records[position[key]][0]
            problems.add(
                None,
                f"{section}[{k}] repeats id {key!r} of {section}[{first}]",
                f"give every {section} entry a unique id",
            )
        else:
            position[key] = i
    return position


def _categories(path: Path, document: dict, problems: Problems) -> tuple[list[str], dict[object, int]]:
    records = _records(document["categories"], "categories", ("id", "name"), problems)
    # COCO ids are integers with gaps (1..90 for 80 classes); order by id, numbers before strings.
    records.sort(key=lambda r: (isinstance(r[1], str), r[1]))
    column = _index(records, "categories", problems)
    names = [str(name).strip() for _, _, name in records]
    seen: dict[str, int] = {}
    for (k, _, _), name in zip(records, names, strict=True):
        if not name or name in seen:
            problems.add(
                None, f"categories[{k}] has an empty or repeated name {name!r}", "give categories unique names"
            )
        seen.setdefault(name, k)
    return names, column


def read_coco(path: Path, options: ReadOptions) -> LabelTable:
    """Read a COCO instances JSON (see the module docstring) into an (N, L) image-level table."""
    document = _load(path)
    problems = Problems(path)
    names, column = _categories(path, document, problems)
    images = _records(document["images"], "images", ("id", "file_name"), problems)
    row = _index(images, "images", problems)
    for k, _, file_name in images:
        if not isinstance(file_name, str) or not file_name.strip():
            problems.add(None, f"images[{k}] has file_name {file_name!r}; it must be a non-empty path", _FIX)
    notes: list[str] = []
    if "annotations" not in document:
        notes.append("the file has no 'annotations' (a test-set file?): every image is a negative")
    rows, cols = [], []
    annotations = _records(document.get("annotations", []), "annotations", ("image_id", "category_id"), problems, 2)
    for k, image_id, category_id in annotations:
        if image_id not in row:
            problems.add(None, f"annotations[{k}] points at image_id {image_id!r}, which is not in 'images'", _FIX)
        elif category_id not in column:
            problems.add(None, f"annotations[{k}] has category_id {category_id!r}, which is not in 'categories'", _FIX)
        else:
            rows.append(row[image_id])
            cols.append(column[category_id])
    problems.raise_if_any()
    matrix = sp.csr_matrix((np.ones(len(rows), np.uint8), (rows, cols)), shape=(len(images), len(names)))
    matrix.sum_duplicates()
    matrix.data[:] = 1  # several boxes of one category on an image are one label
    return finish_table(
        np.array([str(file_name).strip() for _, _, file_name in images], dtype=object),
        matrix,
        names,
        where=lambda i: f"images[{images[i][0]}] (id {images[i][1]!r})",
        source=path,
        image_root=path.parent,
        notes=notes,
        options=options,
    )

"""Pascal VOC image-level labels: `ImageSets/Main/<class>_<split>.txt`.

Format: Everingham et al., "The PASCAL Visual Object Classes (VOC) Challenge" (IJCV 2010), and the
VOC devkit documentation: one file per class and split, one line per image,

    000005 -1      (absent)
    000007  1      (present)
    000009  0      (present, but only as "difficult" objects)

LABELS may be the VOC root (`VOC2007/`), its `ImageSets/Main` folder, or one `<class>_<split>.txt`
file (its siblings are read, and its name gives the split). `ReadOptions.voc_split` picks the split
otherwise; `voc_difficult` says whether the 0 entries become negatives (the default, as in most
image-level training setups) or positives. Paths are `JPEGImages/<id><image_ext>` relative to the root.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tailtag.errors import LabelFileError, OptionError
from tailtag.labels._rows import Problems, finish_table
from tailtag.labels._text import read_text
from tailtag.labels.options import ReadOptions
from tailtag.labels.table import LabelTable

CLASS_FILE = re.compile(r"(?P<name>.+)_(?P<split>[^_]+)\.txt")
_LINE_FIX = "write each line as `<image id> <1|0|-1>`"


def locate(path: Path, split: str) -> tuple[Path, Path, str]:
    """(ImageSets/Main folder, VOC root, split) for a root folder, a Main folder or one class file."""
    if path.is_file():
        match = CLASS_FILE.fullmatch(path.name)
        if match is None:
            raise LabelFileError(path, "not a VOC class file: expected a name like 'dog_trainval.txt'")
        main, split = path.parent, match["split"]
    elif (path / "ImageSets" / "Main").is_dir():
        main = path / "ImageSets" / "Main"
    else:
        main = path
    standard = main.name == "Main" and main.parent.name == "ImageSets"
    return main, (main.parent.parent if standard else main), split


def _class_files(main: Path, split: str) -> dict[str, Path]:
    files = {}
    for file in sorted(main.glob("*.txt")):
        match = CLASS_FILE.fullmatch(file.name)
        if match is not None and match["split"] == split:
            files[match["name"]] = file
    if not files:
        splits = sorted({m["split"] for f in main.glob("*.txt") if (m := CLASS_FILE.fullmatch(f.name))})
        raise LabelFileError(
            main,
            f"no '<class>_{split}.txt' files" + (f"; the splits found are {', '.join(splits)}" if splits else ""),
            fix="pass --voc-split with one of those splits" if splits else "point to a VOC root or ImageSets/Main",
        )
    return files


def _read_class(file: Path) -> dict[str, tuple[int, int]]:
    """image id -> (value, line) of one class file."""
    entries: dict[str, tuple[int, int]] = {}
    problems = Problems(file)
    for number, line in enumerate(read_text(file).splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("1", "0", "-1"):
            problems.add(number, f"{line.strip()[:60]!r} is not `<image id> <1|0|-1>`", _LINE_FIX)
        elif parts[0] in entries:
            problems.add(
                number, f"image {parts[0]!r} is listed again (first at line {entries[parts[0]][1]})", _LINE_FIX
            )
        else:
            entries[parts[0]] = (int(parts[1]), number)
    problems.raise_if_any()
    return entries


def _check_same_ids(file: Path, entries: dict, reference: Path, ids: list[str]) -> None:
    if len(entries) == len(ids) and all(i in entries for i in ids):
        return
    missing = [i for i in ids if i not in entries]
    extra = [i for i in entries if i not in set(ids)]
    parts = [f"lacks {len(missing)} id(s) listed there (e.g. {missing[0]!r})"] if missing else []
    parts += [f"has {len(extra)} id(s) not listed there (e.g. {extra[0]!r})"] if extra else []
    raise LabelFileError(
        file,
        f"lists other images than {reference.name}: it {' and '.join(parts)}",
        fix="every <class>_<split>.txt of one split must list the same image ids",
    )


def read_voc(path: Path, options: ReadOptions) -> LabelTable:
    """Read Pascal VOC image-level labels (see the module docstring) into an (N, L) table."""
    if options.voc_difficult not in ("negative", "positive"):
        raise OptionError(f"--voc-difficult must be 'negative' or 'positive'; got {options.voc_difficult!r}")
    main, root, split = locate(path, options.voc_split)
    files = _class_files(main, split)
    names = list(files)
    reference = files[names[0]]
    table = _read_class(reference)
    ids = list(table)
    if not ids:
        raise LabelFileError(reference, "the class file lists no images", fix=_LINE_FIX)
    values = np.empty((len(ids), len(names)), dtype=np.int8)
    for j, name in enumerate(names):
        entries = table if j == 0 else _read_class(files[name])
        _check_same_ids(files[name], entries, reference, ids)
        values[:, j] = [entries[i][0] for i in ids]
    difficult = values == 0
    positive = (values == 1) | (difficult if options.voc_difficult == "positive" else False)
    n_difficult = int(np.count_nonzero(difficult))
    notes = [
        f"{n_difficult} difficult (0) entries in {int(np.count_nonzero(difficult.any(axis=0)))} classes mapped to "
        f"{options.voc_difficult} (--voc-difficult)",
        f"split {split!r}: {len(ids)} images, {len(names)} classes from {main}",
    ]
    ext = options.image_ext if options.image_ext.startswith(".") or not options.image_ext else "." + options.image_ext
    lines = [table[i][1] for i in ids]
    return finish_table(
        np.array([f"JPEGImages/{i}{ext}" for i in ids], dtype=object),
        sp.csr_matrix(positive.astype(np.uint8)),
        names,
        where=lambda i: f"{reference.name} line {lines[i]}",
        source=path,
        image_root=root,
        notes=notes,
        options=options,
    )

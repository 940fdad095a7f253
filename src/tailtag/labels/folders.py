"""Class folders: one sub-folder per class, as torchvision's `ImageFolder` reads them.

    pets/cat/1.jpg  pets/cat/more/2.png  pets/dog/3.jpg   ->  classes cat, dog (sorted)

Each image has exactly one label (`task="multiclass"`). Images are found recursively inside each
class folder by extension (case-insensitive); other files, and files lying directly in the root,
are listed in `notes` rather than silently skipped. Hidden entries (".*") are ignored, as in
torchvision. Paths are relative to the folder, which becomes `image_root`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tailtag.errors import LabelFileError
from tailtag.labels._rows import finish_table
from tailtag.labels.options import ReadOptions
from tailtag.labels.table import LabelTable

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
_SHOWN = 5


def _files(folder: Path) -> list[Path]:
    """Non-hidden files under `folder`, recursively (not into linked sub-folders), sorted by path."""
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if not entry.is_symlink():  # a linked folder inside a class could loop back on itself
                found.extend(_files(entry))
        elif entry.is_file():
            found.append(entry)
    return found


def _listing(root: Path, files: list[Path]) -> str:
    shown = ", ".join(f.relative_to(root).as_posix() for f in files[:_SHOWN])
    return shown + (f", ... ({len(files)} in all)" if len(files) > _SHOWN else "")


def _notes(root: Path, others: list[Path]) -> list[str]:
    """What was skipped: non-image files inside class folders, and files outside any class folder."""
    notes = []
    if others:
        notes.append(f"{len(others)} non-image file(s) skipped: {_listing(root, others)}")
    loose = sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
    if loose:
        notes.append(
            f"{len(loose)} file(s) directly in {root.name}/ belong to no class, skipped: {_listing(root, loose)}"
        )
    return notes


def read_folders(path: Path, options: ReadOptions) -> LabelTable:
    """Read a folder of class sub-folders (see the module docstring) into an (N, C) one-label-per-image table."""
    if not path.is_dir():
        raise LabelFileError(path, "the folders format needs a folder of class sub-folders", fix="point to the folder")
    classes = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise LabelFileError(
            path,
            "the folder has no sub-folders; the folders format needs one sub-folder per class",
            fix="put each class's images in a sub-folder named after the class, or pass the label file",
        )
    paths, labels, others = [], [], []
    for j, folder in enumerate(classes):
        files = _files(folder)
        images = [f for f in files if f.suffix.lower() in IMAGE_EXTENSIONS]
        others += [f for f in files if f.suffix.lower() not in IMAGE_EXTENSIONS]
        paths += [f.relative_to(path).as_posix() for f in images]
        labels += [j] * len(images)
    if not paths:
        raise LabelFileError(
            path,
            f"no images in its {len(classes)} class folders (extensions {', '.join(sorted(IMAGE_EXTENSIONS))})",
            fix="check the folder, or convert the images to one of those formats",
        )
    notes = _notes(path, others)
    matrix = sp.csr_matrix(
        (np.ones(len(paths), np.uint8), np.array(labels, dtype=np.int64), np.arange(len(paths) + 1)),
        shape=(len(paths), len(classes)),
    )
    return finish_table(
        np.array(paths, dtype=object),
        matrix,
        [c.name for c in classes],
        where=lambda i: repr(paths[i]),
        source=path,
        image_root=path,
        notes=notes,
        task="multiclass",
        options=options,
    )

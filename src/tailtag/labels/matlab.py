"""MATLAB `.mat` label files in the MIML layout.

The MIML data set (Zhou & Zhang, "Multi-instance multi-label learning with application to scene
classification", NIPS 2006) ships `miml data.mat` with:

    targets     (L, N) double, +1 where image n has label l, -1 (sometimes 0) where it has not
    class_name  (L, 1) cell array of label names

Images are numbered `1.jpg .. N.jpg` in column order (`ReadOptions.image_ext` sets the extension).
A (N, L) `targets` is accepted too, with a note. scipy.io.loadmat reads MATLAB v4 to v7 files;
v7.3 files are HDF5 and need re-saving with `-v7`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tailtag.errors import LabelFileError
from tailtag.labels._rows import finish_table
from tailtag.labels._text import read_name_list
from tailtag.labels.options import ReadOptions
from tailtag.labels.table import LabelTable

_V73_FIX = "re-save it in MATLAB with save('labels.mat', 'targets', 'class_name', '-v7')"


def _load(path: Path) -> dict:
    with open(path, "rb") as handle:
        head = handle.read(128)
    if head.startswith((b"MATLAB 7.3", b"\x89HDF")):
        raise LabelFileError(path, "the .mat file is MATLAB v7.3 (HDF5), which scipy cannot read", fix=_V73_FIX)
    from scipy.io import loadmat

    try:
        return loadmat(path, squeeze_me=False, chars_as_strings=True)
    except NotImplementedError as error:  # scipy's way of saying "v7.3"
        raise LabelFileError(path, f"the .mat file is MATLAB v7.3 (HDF5): {error}", fix=_V73_FIX) from None
    except Exception as error:  # loadmat raises a dozen types on damaged files; all mean "not readable"
        raise LabelFileError(
            path,
            f"scipy cannot read this .mat file ({type(error).__name__}: {error})",
            fix="check that it is a MATLAB v4-v7 .mat file, or pass --format for another format",
        ) from None


def _text_of(value: object) -> str | None:
    """The string inside a MATLAB cell element (char arrays arrive as 1-element arrays of str)."""
    while isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        value = value.reshape(-1)[0]
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, np.ndarray) and value.dtype.kind == "U" and value.size <= 1:
        return str(value.reshape(-1)[0]).strip() if value.size else ""
    return None


def class_names(path: Path, value: object) -> list[str]:
    """Label names from a `class_name` cell array (or char matrix) as loadmat returns it."""
    array = np.asarray(value)
    if array.dtype.kind == "U":  # a char matrix: one padded row per name
        names = [str(v).strip() for v in array.reshape(-1)]
    else:
        names = [_text_of(v) for v in array.reshape(-1)]
    bad = [j for j, name in enumerate(names) if not name]
    if bad:
        raise LabelFileError(
            path,
            f"class_name entry {bad[0] + 1} is not a non-empty string (found {array.reshape(-1)[bad[0]]!r})",
            fix="store class_name as a cell array of label names, e.g. {'desert'; 'sea'}",
        )
    return names


def _targets(path: Path, contents: dict) -> np.ndarray:
    if "targets" not in contents:
        found = sorted(k for k in contents if not k.startswith("__"))
        raise LabelFileError(
            path,
            f"no 'targets' variable; the file holds: {', '.join(found) or 'nothing'}",
            fix="save the label matrix as 'targets' (labels x images, 1 / -1) next to 'class_name'",
        )
    targets = contents["targets"]
    targets = targets.toarray() if sp.issparse(targets) else np.asarray(targets)
    if targets.ndim != 2 or targets.dtype.kind not in "biuf":
        raise LabelFileError(path, f"'targets' must be a 2-D numeric matrix; got {targets.dtype} {targets.shape}")
    bad = ~np.isin(targets, (1, 0, -1))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise LabelFileError(
            path,
            f"'targets' holds {np.count_nonzero(bad)} value(s) other than 1, -1 and 0, the first "
            f"{targets[row, col]:g} at ({row + 1}, {col + 1})",
            fix="use 1 for present and -1 (or 0) for absent",
        )
    return targets


def read_mat(path: Path, options: ReadOptions) -> LabelTable:
    """Read a MIML-layout `.mat` file (see the module docstring) into an (N, L) table."""
    contents = _load(path)
    targets = _targets(path, contents)
    notes: list[str] = []
    if "class_name" in contents:
        names = class_names(path, contents["class_name"])
    elif options.classes is not None:
        names = read_name_list(options.classes, "--classes")
    else:
        names = [f"label_{j}" for j in range(targets.shape[0])]
        notes.append(f"no class_name in the file and no --classes: labels are named label_0 .. label_{len(names) - 1}")
    if targets.shape[0] != len(names):
        if targets.shape[1] != len(names):
            raise LabelFileError(
                path,
                f"'targets' is {targets.shape[0]} x {targets.shape[1]} but there are {len(names)} class names",
                fix="store targets as labels x images with one class name per row",
            )
        notes.append(f"'targets' is images x labels ({targets.shape[0]} x {targets.shape[1]}); read it transposed")
        targets = targets.T
    ext = options.image_ext if options.image_ext.startswith(".") or not options.image_ext else "." + options.image_ext
    paths = np.array([f"{i}{ext}" for i in range(1, targets.shape[1] + 1)], dtype=object)
    matrix = sp.csr_matrix((targets.T == 1).astype(np.uint8))
    notes.append(f"images are numbered 1{ext} .. {targets.shape[1]}{ext} in column order of 'targets'")
    return finish_table(
        paths,
        matrix,
        names,
        where=lambda i: f"column {i + 1}",
        source=path,
        image_root=path.parent,
        notes=notes,
        options=options,
    )

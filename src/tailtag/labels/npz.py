"""NPZ label matrices: an (N, L) 0/1 array plus a tag list and an image list beside it.

The layout of tagging competitions with large vocabularies (e.g. 35,000 images x 6,941 tags):

    labels.npz   one (N, L) array (any key; `--npz-key` picks one of several), or a
                 `scipy.sparse.save_npz` file
    tags.txt     L label names, one per line, in column order (`--classes`)
    images.csv   N image paths in row order: a CSV with a header, or text one path per line (`--paths`)

Without `--classes` / `--paths`, a sibling .txt with exactly L non-empty lines / a sibling
.csv/.tsv/.txt with N rows is used when exactly one fits. A dense array is converted to CSR a few MB
of rows at a time, so reading a 243 MB uint8 matrix peaks near 243 MB plus the sparse result.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tailtag.errors import LabelFileError
from tailtag.labels._rows import finish_table
from tailtag.labels._text import read_name_list
from tailtag.labels.npz_sidecars import find_names_file, find_paths_file, read_paths_file
from tailtag.labels.options import ReadOptions
from tailtag.labels.table import LabelTable

_SPARSE_KEYS = {"format", "shape", "indices", "indptr", "data"}
_CHUNK_CELLS = 1 << 24
_VALUE_FIX = "store 1 for present and 0 for absent (e.g. np.maximum(Y, 0) maps -1 to 0)"


def _unreadable(path: Path, error: Exception) -> LabelFileError:
    return LabelFileError(
        path,
        f"numpy cannot read this .npz file ({type(error).__name__}: {error})",
        fix="write it with numpy.savez / savez_compressed or scipy.sparse.save_npz, or pass --format",
    )


def _load_sparse(path: Path) -> sp.csr_matrix:
    try:
        matrix = sp.load_npz(path).tocsr()
    except Exception as error:  # a damaged archive can fail in zipfile, zlib, numpy or scipy
        raise _unreadable(path, error) from None
    matrix.eliminate_zeros()
    if matrix.nnz and not np.all(matrix.data == 1):
        k = int(np.flatnonzero(matrix.data != 1)[0])
        row = int(np.searchsorted(matrix.indptr, k, side="right") - 1)
        raise LabelFileError(
            path,
            f"the sparse matrix holds {matrix.data[k]:g} at row {row + 1}, column {matrix.indices[k] + 1}; "
            "labels must be 0/1",
            fix=_VALUE_FIX,
        )
    return matrix


def _choose_key(path: Path, shapes: dict[str, tuple], options: ReadOptions) -> str:
    listing = ", ".join(f"{k} {shapes[k]}" for k in shapes) or "no arrays"
    if options.npz_key is not None:
        if options.npz_key not in shapes:
            raise LabelFileError(
                path, f"no array {options.npz_key!r} (given by --npz-key); it holds {listing}", fix="pass one of those"
            )
        return options.npz_key
    matrices = [k for k, shape in shapes.items() if len(shape) == 2]
    if len(matrices) != 1:
        raise LabelFileError(
            path,
            f"{'several' if matrices else 'no'} 2-D arrays to use as the label matrix; it holds {listing}",
            fix="pass --npz-key NAME to pick the (images x labels) array",
        )
    return matrices[0]


def _shape(archive, key: str) -> tuple:
    """Shape of one NPZ member from its .npy header, without reading (or decompressing) the data."""
    with archive.zip.open(key + ".npy") as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(member)[0]
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(member)[0]
    return archive[key].shape  # a newer header version: load it to learn the shape


def _load_dense(path: Path, options: ReadOptions) -> tuple[np.ndarray, str]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            shapes = {}
            for key in archive.files:
                shapes[key] = _shape(archive, key)
            key = _choose_key(path, shapes, options)
            return archive[key], key
    except LabelFileError:
        raise
    except Exception as error:  # zipfile, zlib and numpy each raise their own types on damaged files
        raise _unreadable(path, error) from None


def dense_to_csr(array: np.ndarray, path: Path, key: str) -> sp.csr_matrix:
    """(N, L) 0/1 array -> CSR uint8, a few MB of rows at a time; other values are an error with a count."""
    if array.ndim != 2 or array.dtype.kind not in "biuf":
        raise LabelFileError(path, f"array {key!r} must be 2-D numbers; got {array.dtype} {array.shape}")
    n, width = array.shape
    step = max(1, _CHUNK_CELLS // max(1, width))
    parts, n_bad, first_bad = [], 0, None
    for start in range(0, n, step):
        block = array[start : start + step]
        if block.dtype != bool:
            bad = block > 1 if block.dtype.kind == "u" else ~((block == 0) | (block == 1))  # NaN is bad too
            if bad.any():
                n_bad += int(np.count_nonzero(bad))
                if first_bad is None:
                    row, col = np.argwhere(bad)[0]
                    first_bad = (start + row, col, block[row, col])
        parts.append(sp.csr_matrix(block == 1, dtype=np.uint8))
    if first_bad is not None:
        row, col, value = first_bad
        raise LabelFileError(
            path,
            f"array {key!r} holds {n_bad} value(s) other than 0 and 1, the first {value:g} at row {row + 1}, "
            f"column {col + 1}",
            fix=_VALUE_FIX,
        )
    return sp.vstack(parts, format="csr") if parts else sp.csr_matrix((n, width), dtype=np.uint8)


def _matrix(path: Path, options: ReadOptions) -> sp.csr_matrix:
    try:
        with zipfile.ZipFile(path) as archive:
            keys = {name.removesuffix(".npy") for name in archive.namelist()}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise _unreadable(path, error) from None
    if _SPARSE_KEYS <= keys and options.npz_key is None:
        return _load_sparse(path)
    array, key = _load_dense(path, options)
    return dense_to_csr(array, path, key)


def read_npz(path: Path, options: ReadOptions) -> LabelTable:
    """Read an NPZ matrix with its tag list and image list (see the module docstring) into an (N, L) table."""
    matrix = _matrix(path, options)
    n, width = matrix.shape
    notes: list[str] = []
    names_file = options.classes or find_names_file(path, width, notes)
    if names_file is None:
        names = [f"label_{j}" for j in range(width)]
        notes.append(
            f"no --classes and no sibling tag list with {width} lines: labels are named label_0 .. label_{width - 1}"
        )
    else:
        names = read_name_list(names_file, "--classes")
        if len(names) != width:
            raise LabelFileError(
                names_file,
                f"lists {len(names)} label names but the matrix in {path.name} has {width} columns",
                fix="give exactly one name per matrix column, in column order (--classes)",
            )
    paths_file = options.paths_file or find_paths_file(path, n, notes, exclude=names_file)
    paths, lines, meta = read_paths_file(paths_file, n, options, path)
    return finish_table(
        paths,
        matrix,
        names,
        where=lambda i: f"row {i + 1} ({paths_file.name} line {lines[i]})",
        source=path,
        image_root=path.parent,
        meta=meta,
        notes=notes,
        options=options,
    )

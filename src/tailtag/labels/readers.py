"""`read_labels`: any supported label file or folder -> one `LabelTable`.

The readers form a plain dict, format name -> function(path, options) -> LabelTable. The format is
taken from `ReadOptions.format`, else detected:

    folder                         -> voc if it holds ImageSets/Main or <class>_<split>.txt files,
                                      else folders (one sub-folder per class)
    .mat / .npz / .json            -> mat / npz / coco
    any other file (text)          -> paddle if its first lines read `path<whitespace>0,1,0,...`,
                                      else CSV: onehot if the label columns hold 0/1, tags if one
                                      column holds tag names

Every reader reports user mistakes as `LabelFileError`; the boundary in `read_labels` also turns
what the parsing libraries raise on damaged files (I/O, decoding, CSV, JSON, zip) into one, so that
the CLI never shows a traceback for a bad file.

Example:
    >>> table = read_labels("miml/labels.csv")          # doctest: +SKIP
    >>> table.n_images, table.names                     # doctest: +SKIP
    (2000, ['desert', 'mountains', 'sea', 'sunset', 'trees'])
"""

from __future__ import annotations

import csv
import json
import re
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from tailtag.errors import LabelFileError, OptionError
from tailtag.labels._text import read_head
from tailtag.labels.coco import read_coco
from tailtag.labels.csv_files import detect_csv_format
from tailtag.labels.csv_onehot import read_onehot
from tailtag.labels.csv_tags import read_tags
from tailtag.labels.folders import read_folders
from tailtag.labels.matlab import read_mat
from tailtag.labels.npz import read_npz
from tailtag.labels.options import LABEL_FORMATS, ReadOptions
from tailtag.labels.paddle import looks_like_paddle, read_paddle
from tailtag.labels.table import LabelTable
from tailtag.labels.voc import read_voc

Reader = Callable[[Path, ReadOptions], LabelTable]

READERS: dict[str, Reader] = {
    "onehot": read_onehot,
    "tags": read_tags,
    "paddle": read_paddle,
    "mat": read_mat,
    "npz": read_npz,
    "coco": read_coco,
    "voc": read_voc,
    "folders": read_folders,
}
FOLDER_FORMATS = ("voc", "folders")
_GROUPED_FORMATS = ("onehot", "tags", "npz")  # the formats with a place for a group column
_SUFFIX_FORMATS = {".mat": "mat", ".npz": "npz", ".json": "coco"}
_VOC_SPLIT_FILE = re.compile(r".+_(train|val|trainval|test)\.txt")
_VOC_LINE = re.compile(r"\S+\s+(?:-1|0|1)")

# What the parsing libraries raise on a damaged or mistaken file, as opposed to a bug in tailtag.
_PARSE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    EOFError,
    UnicodeError,
    csv.Error,
    json.JSONDecodeError,
    zipfile.BadZipFile,
    zlib.error,
)


def _looks_like_voc(folder: Path) -> bool:
    if (folder / "ImageSets" / "Main").is_dir():
        return True
    return any(_VOC_SPLIT_FILE.fullmatch(p.name) for p in folder.glob("*_*.txt"))


def detect_format(path: str | Path, options: ReadOptions | None = None) -> str:
    """The format name `read_labels` would use for `path` (see the module docstring)."""
    path, options = Path(path), options or ReadOptions()
    if path.is_dir():
        return "voc" if _looks_like_voc(path) else "folders"
    if path.suffix.lower() in _SUFFIX_FORMATS:
        return _SUFFIX_FORMATS[path.suffix.lower()]
    head, complete = read_head(path, 1 << 16)
    lines = head.splitlines() if complete else head.splitlines()[:-1]
    first = [line.strip() for line in lines if line.strip()][:20]
    if _VOC_SPLIT_FILE.fullmatch(path.name) and first and all(_VOC_LINE.fullmatch(line) for line in first):
        return "voc"
    if looks_like_paddle(lines):
        return "paddle"
    return detect_csv_format(path, options)


def _check_options(path: Path, options: ReadOptions) -> None:
    if options.format is not None and options.format not in READERS:
        raise OptionError(f"--format must be one of {', '.join(LABEL_FORMATS)}; got {options.format!r}")
    if options.format == "folders" and not path.is_dir():
        raise LabelFileError(path, "--format folders needs a folder of class sub-folders, but this is a file")
    if path.is_dir() and options.format not in (None, *FOLDER_FORMATS):
        raise LabelFileError(
            path, f"--format {options.format} needs a label file, but this is a folder", fix="pass the file itself"
        )
    if options.delimiter is not None and len(options.delimiter) != 1:
        raise OptionError(f"--delimiter must be one character, e.g. ',' or '\\t'; got {options.delimiter!r}")
    if options.tag_sep is not None and not options.tag_sep:
        raise OptionError("--tag-sep must not be empty")
    for flag, file in (("--classes", options.classes), ("--paths", options.paths_file)):
        if file is not None and not Path(file).is_file():
            raise OptionError(f"{flag} {file}: no such file")


def read_labels(path: str | Path, options: ReadOptions | None = None) -> LabelTable:
    """Read a label file or folder of any supported format into a `LabelTable`.

    Args:
        path: label file (CSV/TSV, PaddleClas list, .mat, .npz, COCO .json, VOC class file) or folder
            (VOC root or ImageSets/Main, class folders).
        options: format and parsing options; None auto-detects everything.

    Returns:
        The table: `paths` (N,), `names` (L,), `matrix` (N, L) CSR uint8, `source` = str(path),
        `image_root` = the label file's folder (VOC: its root; class folders: the folder itself).

    Raises:
        LabelFileError: the file is missing, unreadable, or not valid for its format; the message
            names the file, the line or column, what was found, and the fix.
        OptionError: an option is invalid.
    """
    path = Path(path)
    options = options or ReadOptions()
    if not path.exists():
        raise LabelFileError(path, "no such file or folder", fix="check the path (and the working directory)")
    _check_options(path, options)
    name = options.format or "the detected format"
    try:
        name = options.format or detect_format(path, options)
        if options.group_column is not None and name not in _GROUPED_FORMATS:
            raise OptionError(f"--group-column applies to CSV label files and NPZ image lists, not to {name} labels")
        return READERS[name](path, options)
    except _PARSE_ERRORS as error:
        raise LabelFileError(
            path,
            f"cannot be read as {name}: {type(error).__name__}: {error}",
            fix="check that the file is complete and in the format named, or pass --format",
        ) from error

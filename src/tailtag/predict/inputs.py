"""What to tag: INPUT of `tailtag predict` (a folder, a list file or a glob) as an ordered list of images.

The order is deterministic, because resuming, sharding across torchrun processes and merging all refer to
positions in this list: a folder and a glob are sorted by their output name; a list file keeps its own order
(it is often a submission template). Each image has two strings: `paths` (what is opened, absolute for a
folder or list) and `names` (what the output's `img_path` column says: relative to the folder, as listed in a
list file, as matched by a glob).
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from tailtag.errors import LabelFileError, TailtagError
from tailtag.labels import Problems
from tailtag.labels.csv_files import PATH_COLUMN_NAMES
from tailtag.labels.folders import IMAGE_EXTENSIONS
from tailtag.labels.image_paths import fix_for, path_problem

LIST_SUFFIXES = (".txt", ".lst", ".csv")
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Inputs:
    """The images of one INPUT, in processing order.

    Attributes:
        source: INPUT as given.
        kind: "folder", "list" or "glob".
        paths: (N,) files to open.
        names: (N,) what the output calls each image (`img_path`).
    """

    source: str
    kind: str
    paths: tuple[str, ...]
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.paths)

    def digest(self) -> str:
        """sha256 of the names and paths in order: identifies the job's input list in resume state."""
        hasher = hashlib.sha256()
        for name, path in zip(self.names, self.paths, strict=True):
            hasher.update(f"{name}\0{path}\n".encode("utf-8", "surrogateescape"))
        return hasher.hexdigest()


def find_inputs(spec: str | Path, *, allow_outside: bool = False) -> Inputs:
    """The images named by `spec`: a folder (recursive), a list file (.txt/.lst/.csv) or a quoted glob.

    Folders keep files with an image extension (case-insensitive: .jpg, .JPEG, .png, ...) and skip hidden
    files and folders (a leading dot). Relative paths in a list file resolve against the list's folder, and
    must stay inside it (no `..` above it, no absolute path elsewhere) unless `allow_outside`
    (`--allow-outside-images`): a list file may come from someone else (see `tailtag.labels.image_paths`).

    Raises:
        TailtagError: INPUT does not exist, or names no image (the message names INPUT and the fix).
        LabelFileError: a list file that cannot be read (its line and the problem).
    """
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_dir():
        inputs = _folder(text, path)
    elif path.is_file():
        if path.suffix.lower() not in LIST_SUFFIXES:
            raise TailtagError(
                f"INPUT {text} is a single file with suffix {path.suffix!r}; expected a folder, a list file "
                f"({', '.join(LIST_SUFFIXES)}) or a quoted glob\n  fix: pass its folder, or a list file naming it"
            )
        inputs = _list_file(text, path, allow_outside)
    elif _GLOB_CHARS & set(text):
        inputs = _glob(text)
    else:
        raise TailtagError(
            f"INPUT {text} does not exist\n  fix: pass an image folder, a list file or a glob in quotes ('dir/*.jpg')"
        )
    return _drop_unwritable(inputs)


def _folder(text: str, root: Path) -> Inputs:
    found: list[tuple[str, str]] = []
    seen = {os.path.realpath(root)}
    for folder, subfolders, files in os.walk(root, followlinks=True):
        # Symlinked folders are followed (data sets are often assembled from links), each real folder once.
        real = [(name, os.path.realpath(os.path.join(folder, name))) for name in subfolders if not name.startswith(".")]
        subfolders[:] = [name for name, target in real if target not in seen]
        seen.update(target for _, target in real)
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                full = Path(folder) / name
                found.append((full.relative_to(root).as_posix(), str(full.resolve())))
    if not found:
        raise TailtagError(
            f"INPUT folder {text} holds no images (searched recursively for {', '.join(sorted(IMAGE_EXTENSIONS))}; "
            "hidden files skipped)\n  fix: point at the folder that holds the images"
        )
    found.sort()
    return Inputs(text, "folder", tuple(p for _, p in found), tuple(n for n, _ in found))


def _glob(pattern: str) -> Inputs:
    matches = sorted(m for m in glob.glob(os.path.expanduser(pattern), recursive=True) if os.path.isfile(m))
    images = [m for m in matches if Path(m).suffix.lower() in IMAGE_EXTENSIONS]
    if not images:
        seen = f"{len(matches)} files matched, none with an image extension" if matches else "nothing matched"
        raise TailtagError(
            f"INPUT glob {pattern!r} names no images ({seen})\n"
            "  fix: check the pattern; quote it so tailtag expands it, e.g. 'photos/**/*.jpg'"
        )
    return Inputs(pattern, "glob", tuple(images), tuple(images))


def _list_file(text: str, path: Path, allow_outside: bool) -> Inputs:
    try:
        content = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelFileError(path, f"cannot be read as UTF-8 text ({exc})", fix="save the list as UTF-8") from exc
    rows = _csv_rows(path, content) if path.suffix.lower() == ".csv" else _text_rows(content)
    if not rows:
        raise TailtagError(f"INPUT list {text} names no images (it is empty)\n  fix: one image path per line")
    _check_paths(path, rows, allow_outside)
    base = path.resolve().parent
    paths = tuple(str(base / name) if not os.path.isabs(name) else name for _, name in rows)
    names = tuple(name for _, name in rows)
    duplicates = len(names) - len(set(names))
    if duplicates:
        warnings.warn(
            f"{text}: {duplicates} paths are listed more than once; each listing gets its own row", stacklevel=3
        )
    return Inputs(text, "list", paths, names)


def _check_paths(path: Path, rows: list[tuple[int, str]], allow_outside: bool) -> None:
    """Every NUL byte and every path outside the list's folder, as one error naming their lines."""
    problems = Problems(path)
    for number, name in rows:
        problem = path_problem(name, path.parent, allow_outside=allow_outside)
        if problem is not None:
            problems.add(
                number, problem.replace("the image folder", "the list's folder"), fix_for(problem, "the list's folder")
            )
    problems.raise_if_any()


def _text_rows(content: str) -> list[tuple[int, str]]:
    """(line number, path) of each non-blank line that is not a '#' comment."""
    rows = [(number, line.strip()) for number, line in enumerate(content.splitlines(), start=1)]
    return [(number, line) for number, line in rows if line and not line.startswith("#")]


def _csv_rows(path: Path, content: str) -> list[tuple[int, str]]:
    """(line number, path) from a CSV: its img_path/path/filename column, or the only column of a headerless list."""
    records = list(csv.reader(io.StringIO(content)))
    if not records:
        return []
    header = [cell.strip().lower() for cell in records[0]]
    column = next((header.index(name) for name in PATH_COLUMN_NAMES if name in header), None)
    if column is None:
        if len(header) > 1:
            raise LabelFileError(
                path,
                f"no image path column among {records[0]}",
                line=1,
                fix=f"name the path column one of {', '.join(PATH_COLUMN_NAMES)}, or list one path per line",
            )
        # One column: a plain list, whose first cell is a header when it names no image file ("file_name").
        column, start = 0, int(Path(records[0][0].strip()).suffix.lower() not in IMAGE_EXTENSIONS)
    else:
        start = 1
    rows = []
    for number, record in enumerate(records[start:], start=start + 1):
        cell = record[column].strip() if column < len(record) else ""
        if not cell:
            if any(value.strip() for value in record):
                raise LabelFileError(
                    path,
                    f"row has no value in column {records[0][column]!r}",
                    line=number,
                    fix="give every row an image path, or delete the row",
                )
            continue
        rows.append((number, cell))
    return rows


def _drop_unwritable(inputs: Inputs) -> Inputs:
    """Leave out names with a line break: the resumable outputs keep one image per line (see `formats`)."""
    keep = [i for i, name in enumerate(inputs.names) if "\n" not in name and "\r" not in name]
    if len(keep) == len(inputs.names):
        return inputs
    first = next(name for name in inputs.names if "\n" in name or "\r" in name)
    warnings.warn(
        f"{inputs.source}: left out {len(inputs.names) - len(keep)} paths containing a line break "
        f"(first: {first!r}); rename them to tag them",
        stacklevel=3,
    )
    if not keep:
        raise TailtagError(f"INPUT {inputs.source} names no usable image paths (all contain line breaks)")
    paths, names = tuple(inputs.paths[i] for i in keep), tuple(inputs.names[i] for i in keep)
    return Inputs(inputs.source, inputs.kind, paths, names)

"""Image paths from label and list files, checked before any file is opened.

A label file is data, and may come from someone else: a path with a NUL byte cannot name a file (the OS
call raises), and `../../etc/passwd` or `/home/me/.ssh/id_rsa` would make tailtag read, and report on,
files outside the image folder. So paths are confined to the image root (`--images`, else the label
file's folder) unless `--allow-outside-images` is given:

    sea/001.jpg, ./sea/001.jpg, a/../b.jpg     inside: relative, and never climbing above the root
    ../other/001.jpg                            outside: climbs above the root
    /data/images/001.jpg                        inside when the root is /data/images (as given, or
                                                with its symbolic links resolved), else outside

The check is on the path as written, not on where symbolic links inside the image folder point: a
folder assembled from links (a common way to build a data set) is whoever owns the folder's choice,
while the paths in a label file are the label file's. A NUL byte is refused even with the flag.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

ALLOW_FLAG = "--allow-outside-images"
_LINE = re.compile(r"line (\d+)")


def _inside(path: str, root: Path | None) -> bool:
    """Whether `path` (relative to `root` unless absolute) stays inside `root`, by its written form."""
    if not os.path.isabs(path):
        parts = os.path.normpath(path).split(os.sep)
        return parts[0] != ".."
    if root is None:
        return False
    target = os.path.normpath(path)
    for base in {os.path.abspath(root), os.path.realpath(root)}:
        if target == base or target.startswith(base.rstrip(os.sep) + os.sep):
            return True
    return False


def path_problem(path: str, root: Path | None, *, allow_outside: bool = False) -> str | None:
    """Why `path` may not be opened (a NUL byte, or outside `root`), or None when it may.

    Args:
        path: an image path as written in a label or list file.
        root: the image root relative paths resolve against (None: unknown, so absolute paths are outside).
        allow_outside: accept paths outside `root` (`--allow-outside-images`); a NUL byte is still refused.
    """
    if "\0" in path:
        return f"the image path {path!r} contains a NUL byte, which no file name can hold"
    if allow_outside or _inside(path, root):
        return None
    where = f"the image folder {root}" if root is not None else "the image folder"
    how = "is absolute and outside" if os.path.isabs(path) else "climbs (with '..') out of"
    return f"the image path {path!r} {how} {where}"


def line_of(where: str) -> int | None:
    """The line number in a reader's row description ("line 7", "row 3 (images.csv line 4)"), if any."""
    match = _LINE.search(where)
    return int(match.group(1)) if match else None


def check_paths(
    paths: Sequence[str],
    root: Path | None,
    *,
    allow_outside: bool,
    where: Callable[[int], str],
    add: Callable[[int | None, str, str], None],
) -> None:
    """Report every path of a file that may not be opened through `add(line, message, fix)`.

    Args:
        paths: (N,) image paths as written.
        root: the image root (see `path_problem`).
        allow_outside: `--allow-outside-images`.
        where: row index -> where the row is in the file ("line 7").
        add: a `Problems.add`, so that all bad paths of a file are reported at once.
    """
    for i, path in enumerate(paths):
        path = str(path)
        if "\0" not in path and ".." not in path and not os.path.isabs(path):
            continue  # the common case, kept cheap for a million rows
        problem = path_problem(path, root, allow_outside=allow_outside)
        if problem is None:
            continue
        text = where(i)
        line = line_of(text) if text.startswith("line ") else None
        message = problem if line is not None else f"{text}: {problem}"
        add(line, message, fix_for(problem))


def fix_for(problem: str, relative_to: str = "the image folder (pass --images DIR to name it)") -> str:
    """The fix for a `path_problem` reason; `relative_to` says which folder paths should be relative to."""
    if "NUL byte" in problem:
        return "remove the NUL byte from the path (the file was probably damaged or not saved as text)"
    return f"give paths relative to {relative_to}, or pass {ALLOW_FLAG} if you trust this file"

"""Check a list of image files before training, find byte-identical duplicates, and apply the bad-image policy.

`check_images` reads every file once (only its header by default) in a thread pool and reports what is
wrong with each bad file; `apply_policy` then either stops with one error listing them (`fail`) or keeps
the rest and writes every skipped file with its reason to a CSV report (`skip`). Nothing is dropped
without being counted and listed.
"""

from __future__ import annotations

import csv
import hashlib
import os
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from tailtag.errors import BadImageError, OptionError, TailtagError
from tailtag.fileio import atomic_write
from tailtag.images.load import DEFAULT_MAX_PIXELS, load_image, read_header

CheckMode = Literal["header", "decode"]
OnBadImage = Literal["fail", "skip"]
ON_BAD_IMAGE: tuple[str, ...] = ("fail", "skip")
_HASH_CHUNK = 1 << 20
_SHOW_IN_ERROR = 10  # bad files spelled out in a `fail` message; the rest are counted
# JPEG DCT scaling still reads the whole entropy-coded stream, so a reduced decode finds truncation and
# corruption as surely as a full one, several times faster on photos.
_DECODE_CHECK_DRAFT = (64, 64)


@dataclass(frozen=True)
class ImageProblem:
    """One file that cannot be used.

    Attributes:
        path: the path as given to `check_images`.
        reason: why, e.g. "file is empty (0 bytes)" or "truncated JPEG: ...".
    """

    path: str
    reason: str

    @property
    def kind(self) -> str:
        """Short category for summaries: missing, empty, not an image, truncated, corrupt, too large, unreadable."""
        reason = self.reason
        for prefix, kind in _KINDS:
            if reason.startswith(prefix):
                return kind
        return "unreadable"


_KINDS = (
    ("file not found", "missing"),
    ("file is empty", "empty"),
    ("not an image", "not an image"),
    ("truncated", "truncated"),
    ("corrupt", "corrupt"),
    ("image has", "too large"),
)


@dataclass(frozen=True)
class ImageCheck:
    """Result of `check_images`.

    Attributes:
        problems: one entry per bad file, in input order.
        duplicates: groups of >= 2 distinct paths whose files have identical bytes, each group in input
            order, groups ordered by their first member. Reported, never removed: which copy to keep,
            and whether copies under different labels are a labelling error, is the user's call.
        n_checked: number of paths checked (N).
        paths: (N,) the paths as given, as strings.
    """

    problems: list[ImageProblem]
    duplicates: list[list[str]]
    n_checked: int
    paths: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.paths) != self.n_checked:
            raise ValueError(f"{len(self.paths)} paths but n_checked={self.n_checked}")

    @property
    def ok_mask(self) -> np.ndarray:
        """(N,) bool, True where the file is usable; a path listed twice gets the same answer twice."""
        bad = {problem.path for problem in self.problems}
        return np.fromiter((path not in bad for path in self.paths), dtype=bool, count=self.n_checked)

    @property
    def n_bad(self) -> int:
        """Number of input rows whose file is unusable."""
        return int(self.n_checked - self.ok_mask.sum())

    def counts_by_kind(self) -> dict[str, int]:
        """{kind: number of bad input rows}, most common first; the counts add up to `n_bad`."""
        kind_of = {problem.path: problem.kind for problem in self.problems}
        return dict(Counter(kind_of[path] for path in self.paths if path in kind_of).most_common())


def check_images(
    paths: Sequence[str | Path],
    *,
    mode: CheckMode = "header",
    find_duplicates: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    root: str | Path | None = None,
    workers: int | None = None,
) -> ImageCheck:
    """Check that every image can be used, and find byte-identical duplicates.

    Args:
        paths: (N,) image files; a path listed twice is checked once.
        mode: "header" reads only what identifies the file and its size (fast: exists, non-empty, a
            known format, within `max_pixels`); "decode" fully decodes each file with `load_image`, which
            also catches truncated and corrupt pixel data.
        find_duplicates: group files of equal size, then hash those with BLAKE2b to find identical bytes.
        max_pixels: per-image pixel limit (`--max-pixels`).
        root: folder relative paths are resolved against (e.g. `LabelTable.image_root`); reports keep
            the paths as given.
        workers: threads for file I/O and decoding; default min(16, 4 x CPUs). Pillow releases the GIL
            while decoding, so threads help in "decode" mode as well.

    Returns:
        An `ImageCheck` with `problems`, `duplicates` and `ok_mask`.
    """
    if mode not in ("header", "decode"):
        raise OptionError(f"mode must be 'header' or 'decode'; got {mode!r}")
    given = [str(path) for path in paths]
    unique = list(dict.fromkeys(given))
    files = {path: Path(root, path) if root is not None else Path(path) for path in unique}  # absolute paths win
    check_one = _header_check if mode == "header" else _decode_check
    n_workers = workers or min(16, 4 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        reasons = list(pool.map(lambda path: check_one(files[path], max_pixels), unique))
        bad = {path: reason for path, reason in zip(unique, reasons, strict=True) if reason is not None}
        readable = [path for path in unique if path not in bad or not bad[path].startswith(_NO_BYTES)]
        duplicates = _find_duplicates(readable, files, pool.map) if find_duplicates else []
    problems = [ImageProblem(path, bad[path]) for path in unique if path in bad]
    return ImageCheck(problems=problems, duplicates=duplicates, n_checked=len(given), paths=tuple(given))


# Reasons of files that have no bytes to compare, left out of the duplicate search.
_NO_BYTES = (
    "file not found",
    "file is empty",
    "is a directory",
    "is not a regular file",
    "cannot access",
    "the path contains a NUL byte",
)


def _header_check(file: Path, max_pixels: int) -> str | None:
    try:
        read_header(file, max_pixels=max_pixels)
    except BadImageError as error:
        return error.reason
    return None


def _decode_check(file: Path, max_pixels: int) -> str | None:
    try:
        load_image(file, max_pixels=max_pixels, draft_size=_DECODE_CHECK_DRAFT)
    except BadImageError as error:
        return error.reason
    return None


def _find_duplicates(paths: list[str], files: dict[str, Path], map_: Callable) -> list[list[str]]:
    """Groups of paths with identical bytes: only files sharing a size are hashed."""
    by_size: dict[int, list[str]] = defaultdict(list)
    for path, size in zip(paths, map_(lambda p: _size_or_none(files[p]), paths), strict=True):
        if size:
            by_size[size].append(path)
    candidates = [path for group in by_size.values() if len(group) > 1 for path in group]
    digests = dict(zip(candidates, map_(lambda p: _digest(files[p]), candidates), strict=True))
    by_digest: dict[bytes, list[str]] = defaultdict(list)
    order = {path: i for i, path in enumerate(paths)}
    for path in sorted(candidates, key=order.__getitem__):
        if digests[path] is not None:
            by_digest[digests[path]].append(path)
    groups = [group for group in by_digest.values() if len(group) > 1]
    return sorted(groups, key=lambda group: order[group[0]])


def _size_or_none(file: Path) -> int | None:
    try:
        return file.stat().st_size
    except OSError:
        return None


def _digest(file: Path) -> bytes | None:
    """BLAKE2b of the whole file, read in 1 MiB chunks; None if it cannot be read."""
    digest = hashlib.blake2b(digest_size=20)
    try:
        with open(file, "rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return digest.digest()


class PolicyOutcome(NamedTuple):
    """What `apply_policy` decided.

    Attributes:
        keep: (N,) bool mask over the checked paths, True for the rows to keep.
        summary: one line for the log, e.g. "skipped 3 of 2,000 images (2 truncated, 1 missing); list in FILE".
    """

    keep: np.ndarray
    summary: str


def apply_policy(check: ImageCheck, policy: OnBadImage, report_path: Path | None = None) -> PolicyOutcome:
    """Stop on bad images (`fail`) or leave them out and list them in a CSV report (`skip`).

    Args:
        check: result of `check_images`.
        policy: "fail" raises one `TailtagError` naming the first bad files and their count;
            "skip" keeps the usable rows (`--on-bad-image`).
        report_path: CSV written under "skip" with one `path,reason` row per skipped file (written, with
            just the header, even when nothing is skipped, so a pipeline can rely on it).

    Returns:
        `PolicyOutcome(keep, summary)`; `keep` is all True when nothing is bad.

    Raises:
        TailtagError: under "fail" when any file is bad, and under "skip" when no file is usable.
        OptionError: unknown `policy`.
    """
    if policy not in ON_BAD_IMAGE:
        raise OptionError(f"--on-bad-image must be one of {', '.join(ON_BAD_IMAGE)}; got {policy!r}")
    keep = check.ok_mask
    n_bad = int((~keep).sum())
    if n_bad and policy == "fail":
        raise TailtagError(_fail_message(check, n_bad))
    if n_bad == check.n_checked and n_bad:
        raise TailtagError(f"none of the {n_bad:,} images can be used ({_kinds(check)})\n  fix: {_root_hint(check)}")
    if report_path is not None and policy == "skip":
        _write_report(check, report_path)
    if not n_bad:
        return PolicyOutcome(keep, f"all {check.n_checked:,} images are readable")
    _warn_if_many_skipped(check, n_bad)
    where = f"list in {report_path}" if report_path is not None else f"first: {_first_paths(check)}"
    return PolicyOutcome(keep, f"skipped {n_bad:,} of {check.n_checked:,} images ({_kinds(check)}); {where}")


def _warn_if_many_skipped(check: ImageCheck, n_bad: int) -> None:
    if n_bad <= 0.1 * check.n_checked:
        return
    hint = ""
    if check.counts_by_kind().get("missing", 0) * 2 >= n_bad:
        # Many missing files at once usually means the wrong image folder, not many lost files.
        hint = f"; so many missing files often means a wrong image folder: {_root_hint(check)}"
    warnings.warn(
        f"skipping {n_bad:,} of {check.n_checked:,} images ({n_bad / check.n_checked:.0%}): "
        f"the rest of the data set may no longer represent every label{hint}",
        stacklevel=3,
    )


def _fail_message(check: ImageCheck, n_bad: int) -> str:
    lines = [f"{n_bad:,} of {check.n_checked:,} images cannot be used ({_kinds(check)}):"]
    lines += [f"  {problem.path}: {problem.reason}" for problem in check.problems[:_SHOW_IN_ERROR]]
    if len(check.problems) > _SHOW_IN_ERROR:
        lines.append(f"  ... and {len(check.problems) - _SHOW_IN_ERROR:,} more files")
    lines.append(
        "  fix: repair or remove these files, or pass --on-bad-image skip to train without them "
        "(they are then listed in a CSV report)"
    )
    if all(problem.kind == "missing" for problem in check.problems) and n_bad == check.n_checked:
        lines.append(f"  note: {_root_hint(check)}")
    return "\n".join(lines)


def _kinds(check: ImageCheck) -> str:
    return ", ".join(f"{count:,} {kind}" for kind, count in check.counts_by_kind().items())


def _first_paths(check: ImageCheck, n: int = 3) -> str:
    shown = ", ".join(problem.path for problem in check.problems[:n])
    rest = len(check.problems) - n
    return shown + (f" (+{rest:,} more; pass a report path to list them all)" if rest > 0 else "")


def _root_hint(check: ImageCheck) -> str:
    example = check.problems[0].path if check.problems else "?"
    return f"check that --images is the folder the label file's paths (e.g. {example!r}) are relative to"


def _write_report(check: ImageCheck, report_path: Path) -> None:
    """CSV `path,reason`, one row per distinct bad file, in input order."""
    report_path = Path(report_path)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(report_path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "reason"])
        writer.writerows([problem.path, problem.reason] for problem in check.problems)

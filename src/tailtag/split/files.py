"""Split folders on disk: what `tailtag split` writes and what `train` / `evaluate` read back.

A split folder holds `train.txt`, `val.txt`[, `test.txt`] or `fold_1.txt` .. `fold_K.txt`, each with one
image path per line exactly as written in the label file, plus `split_report.json`. Reading a folder
checks it against the label table: every path must be in the table and no image may be in two
subsets (a leak between train and evaluation data).
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from tailtag.errors import LabelFileError, OptionError
from tailtag.fileio import file_sha256, write_text
from tailtag.labels import LabelTable
from tailtag.labels.path_arrays import lookup, path_array, repeated_values

REPORT_NAME = "split_report.json"
_SPLIT_FILE = re.compile(r"^(train|val|test|fold_([1-9][0-9]*))\.txt$")
_MAX_SHOWN = 10
_READ_BYTES = 1 << 20  # a split file is read this much at a time (about 65,000 lines: a few MB of str)


def split_files(directory: str | Path) -> list[Path]:
    """Split files in `directory`, in order train, val, test, fold_1, fold_2, ... (numeric)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    rank = {"train": 0, "val": 1, "test": 2}

    def key(path: Path) -> tuple[int, int]:
        match = _SPLIT_FILE.match(path.name)
        return (3, int(match.group(2))) if match.group(2) else (rank[match.group(1)], 0)

    return sorted((p for p in directory.iterdir() if p.is_file() and _SPLIT_FILE.match(p.name)), key=key)


def write_split(
    directory: str | Path,
    table: LabelTable,
    subsets: dict[str, np.ndarray],
    report: dict[str, Any] | None = None,
    *,
    force: bool = False,
) -> list[Path]:
    """Write one `<name>.txt` per subset (paths of its rows, one a line) and `split_report.json`.

    Args:
        directory: the split folder; created if missing.
        table: the table the row indices point into.
        subsets: subset name ("train", "val", "test" or "fold_K") -> (n_j,) int row indices.
        report: JSON-serialisable report written as `split_report.json`; None writes none.
        force: replace the split files of an earlier split in `directory` (all of them, so no stale
            fold survives); without it such a folder is refused.

    Returns:
        The files written, in order.
    """
    directory = Path(directory)
    for name in subsets:
        if not _SPLIT_FILE.match(f"{name}.txt"):
            raise ValueError(f"subset name {name!r} is not train, val, test or fold_K")
    old = split_files(directory) + ([directory / REPORT_NAME] if (directory / REPORT_NAME).is_file() else [])
    if old and not force:
        shown = ", ".join(p.name for p in old[:5]) + (", ..." if len(old) > 5 else "")
        raise OptionError(
            f"--out {directory}: the folder already holds a split ({shown})\n"
            "  fix: choose another --out folder, or add --force to replace that split"
        )
    bad = [str(p) for p in table.paths if "\n" in str(p) or "\r" in str(p)]
    if bad:
        raise LabelFileError(
            table.source or "labels",
            f"{len(bad)} image paths contain a line break (first: {bad[0]!r}) and cannot be written one per line",
            fix="rename those images",
        )
    directory.mkdir(parents=True, exist_ok=True)
    for path in old:
        path.unlink()
    written = []
    for name, rows in subsets.items():
        lines = "".join(f"{p}\n" for p in table.paths[np.asarray(rows, dtype=np.int64)])
        written.append(_write_atomically(directory / f"{name}.txt", lines))
    if report is not None:
        written.append(_write_atomically(directory / REPORT_NAME, json.dumps(report, indent=2) + "\n"))
    return written


def _write_atomically(path: Path, text: str) -> Path:
    """Write via a temporary file and rename, so an interrupted run leaves no half-written split file."""
    return write_text(path, text)


def read_split(directory: str | Path, table: LabelTable) -> dict[str, np.ndarray]:
    """Read a split folder back as row indices into `table`, checking it cannot leak.

    Args:
        directory: a folder written by `write_split` / `tailtag split`.
        table: the labels the split was made from.

    Returns:
        Subset name -> (n_j,) int64 row indices into `table`, in the order of the file.

    Raises:
        LabelFileError: naming the split file and line of every path that is not in the table, is
            listed twice, or is in two subsets (all problems at once, the first few shown).
        OptionError: when the folder holds no split files.

    Warns:
        UserWarning: when the label file changed since the split was made (sha256 in the report), or
            when some images of the table are in no subset.
    """
    directory = Path(directory)
    files = split_files(directory)
    if not files:
        raise OptionError(
            f"{directory}: no split files (train.txt, val.txt, test.txt or fold_K.txt) found\n"
            f"  fix: make a split first: tailtag split LABELS --out {directory}"
        )
    _refuse_repeated_paths(table)
    # Every listed line of every file, in file then line order, as arrays (not a dict entry per image).
    listed = [_listed_lines(path) for path in files]
    sizes = [len(numbers) for _, numbers in listed]
    images = np.concatenate([images for images, _ in listed])
    numbers = np.concatenate([numbers for _, numbers in listed])
    del listed
    file_of = np.repeat(np.arange(len(files)), sizes)
    rows = lookup(table.paths, images)
    again = _listed_before(rows)
    bad = np.flatnonzero((rows < 0) | (again >= 0))
    if len(bad):
        problems = [_problem(files, images, numbers, file_of, again, table, k) for k in bad[:_MAX_SHOWN].tolist()]
        shown = "\n  ".join(problems)
        more = f"\n  ... and {len(bad) - _MAX_SHOWN} more" if len(bad) > _MAX_SHOWN else ""
        raise LabelFileError(
            directory,
            f"{len(bad)} problems in the split files:\n  {shown}{more}",
            fix="re-run `tailtag split` on this label file (with --force to replace the folder)",
        )
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    subsets = {path.stem: rows[bounds[j] : bounds[j + 1]].copy() for j, path in enumerate(files)}
    _warn_if_stale(directory, table, len(rows))
    return subsets


def _refuse_repeated_paths(table: LabelTable) -> None:
    """A table with a path twice cannot be split unambiguously."""
    twice = repeated_values(table.paths)
    if len(twice):
        raise LabelFileError(
            table.source or "labels",
            f"{len(twice)} image paths appear on more than one row (first: {str(twice[0])!r})",
            fix="merge the duplicate rows",
        )


def _listed_lines(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """((n,) image paths, (n,) 1-based line numbers) of the non-blank lines of one split file.

    Read a few MB at a time into compact arrays, so that a million-line file never becomes a list of a
    million Python strings at once. A line keeps its spaces; only the line break is removed.
    """
    chunks, numbers, first = [], [], 1
    with path.open(encoding="utf-8") as handle:
        while lines := handle.readlines(_READ_BYTES):
            images = [line.rstrip("\r\n") for line in lines]
            kept = np.flatnonzero(np.fromiter((bool(i.strip()) for i in images), dtype=bool, count=len(images)))
            chunks.append(path_array(images)[kept])
            numbers.append(kept + first)
            first += len(lines)
    if not chunks:
        return path_array([]), np.zeros(0, dtype=np.int64)
    return np.concatenate(chunks), np.concatenate(numbers)


def _listed_before(rows: np.ndarray) -> np.ndarray:
    """(n,) for each listed row, the position where the same table row was listed first; -1 for a first listing
    (and for a path not in the table)."""
    again = np.full(len(rows), -1, dtype=np.int64)
    order = np.argsort(rows, kind="stable")  # equal rows stay in file-then-line order
    ordered = rows[order]
    repeat = np.flatnonzero((ordered[1:] == ordered[:-1]) & (ordered[1:] >= 0)) + 1
    if len(repeat):
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        first = starts[np.searchsorted(starts, repeat, side="right") - 1]
        again[order[repeat]] = order[first]
    return again


def _problem(files, images, numbers, file_of, again, table: LabelTable, k: int) -> str:
    """The message for listed line `k` that is not in the table or repeats an earlier listing."""
    name, image = files[file_of[k]].name, str(images[k])
    if again[k] < 0:
        return f"{name}:{numbers[k]}: {image!r} is not in {table.source or 'the label table'}"
    first = again[k]
    where = "listed twice" if file_of[first] == file_of[k] else "also in"
    return f"{name}:{numbers[k]}: {image!r} is {where} {files[file_of[first]].name}:{numbers[first]}"


def _warn_if_stale(directory: Path, table: LabelTable, n_listed: int) -> None:
    report_path = directory / REPORT_NAME
    report: dict = {}
    if report_path.is_file():
        try:
            report = json.loads(report_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            report = {}
        report = report if isinstance(report, dict) else {}
    if report and table.source:
        labels = report.get("labels")
        recorded = labels.get("sha256") if isinstance(labels, dict) else None
        current = file_sha256(table.source)
        if recorded and current and recorded != current:
            warnings.warn(
                f"{table.source} changed since the split in {directory} was made (sha256 {current[:12]} "
                f"now, {recorded[:12]} then); re-run `tailtag split` if labels moved",
                UserWarning,
                stacklevel=3,
            )
    # a subset by design (e.g. `tailtag make-longtail`) leaves images out on purpose
    if n_listed < table.n_images and not report.get("subset_of_labels"):
        warnings.warn(
            f"{table.n_images - n_listed} of {table.n_images} images of {table.source or 'the table'} are "
            f"in none of the split files in {directory}",
            UserWarning,
            stacklevel=3,
        )

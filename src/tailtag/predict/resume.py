"""Resumable output of one prediction job (or one torchrun shard of it): partial files, state, verification.

A job writes its rows to `FILE.partial` and its unusable images to `SKIPPED.partial` (both in input order),
and flushes + fsyncs them at batch boundaries every `flush_rows` rows. `FILE.state.json`, written before
any row, holds the job's fingerprint (run files, backend, options, input list), so a rerun with anything
changed is refused instead of mixing two jobs in one file. At the end the partial files are renamed to
their final names (the skipped file first: the output's presence marks a finished job).

Resuming after a kill (even `kill -9` in the middle of a write): a torn last line is dropped; the complete
rows of both files are matched against the input names in order, and the two files are cut back to the
last *batch boundary* both cover. Restarting on the same batch grid makes the output byte-identical to an
uninterrupted run even where a backend's arithmetic depends on the batch it sees.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailtag.errors import TailtagError
from tailtag.fileio import atomic_write, replace_durably
from tailtag.predict.formats import HEADERS, Format, row_name

STATE_VERSION = 1
_ENCODING = {"encoding": "utf-8", "errors": "surrogateescape"}  # file names need not be valid UTF-8
_SYNC_SECONDS = 30.0


def skipped_path(out: Path) -> Path:
    """The skipped-images CSV beside output `out`: predictions.csv -> predictions.skipped.csv."""
    return out.with_name(f"{out.stem}.skipped.csv")


def shard_path(path: Path, rank: int, world: int) -> Path:
    """Rank `rank`'s part of `path` under `world` processes: predictions.csv.shard-0-of-2."""
    return path.with_name(f"{path.name}.shard-{rank}-of-{world}")


def partial_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.partial")


def state_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.state.json")


@dataclass(frozen=True)
class Target:
    """The files one process writes: `out` and `skipped` (shard files under torchrun), in format `fmt`."""

    out: Path
    skipped: Path
    fmt: Format

    @classmethod
    def of(cls, out: Path, fmt: Format, rank: int = 0, world: int = 1) -> Target:
        out, skipped = Path(out), skipped_path(Path(out))
        if world > 1:
            out, skipped = shard_path(out, rank, world), shard_path(skipped, rank, world)
        return cls(out, skipped, fmt)

    @property
    def state(self) -> Path:
        return state_path(self.out)

    def files(self) -> list[Path]:
        """Every file this target may leave behind, finished or not."""
        return [self.out, self.skipped, partial_path(self.out), partial_path(self.skipped), self.state]


def read_state(path: Path) -> dict[str, Any] | None:
    """The state saved at `path`, or None when it is missing or unreadable."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and state.get("version") == STATE_VERSION else None


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Write `state` atomically (temporary file, fsync, rename): a kill never leaves half a state file."""
    with atomic_write(path) as handle:
        json.dump({"version": STATE_VERSION, **state}, handle, indent=1, sort_keys=True)


def differences(saved: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """Keys (dotted) whose values differ between two fingerprints."""
    keys = sorted(set(saved) | set(wanted))
    out = []
    for key in keys:
        a, b = saved.get(key), wanted.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f"{key}.{sub}" for sub in differences(a, b)]
        elif a != b:
            out.append(key)
    return out


class Journal:
    """Appends the rows of one target so that a killed job can continue where it stopped.

    Args:
        target: the files to write.
        fingerprint: JSON-ready identity of the job; a partial output of another job is refused.
        names: (n,) `img_path` of the target's inputs, in order.
        batch_size: the batch grid (the resume point is a multiple of it).
        flush_rows: flush + fsync after at least this many rows (and at least every 30 s).
        force: delete whatever an earlier job left (finished or not) and start over.
    """

    def __init__(
        self,
        target: Target,
        fingerprint: dict,
        names: tuple[str, ...],
        batch_size: int,
        *,
        flush_rows: int = 256,
        force: bool = False,
    ):
        self.target, self.fingerprint, self.names = target, fingerprint, names
        self.batch_size, self.flush_rows, self.force = batch_size, flush_rows, force
        self.n_rows = self.n_skipped = self._unsynced = 0
        self._handles: list = []
        self._synced_at = time.monotonic()

    def open(self) -> int | None:
        """Prepare the partial files; returns how many inputs are already done, or None if the target is finished."""
        target = self.target
        if self.force:
            for path in target.files():
                path.unlink(missing_ok=True)
        if target.out.exists():
            state = read_state(target.state)
            if state is not None and state.get("complete") and state.get("fingerprint") == self.fingerprint:
                self.n_rows, self.n_skipped = int(state["n_rows"]), int(state["n_skipped"])
                return None  # a finished torchrun shard waiting for its merge
            raise TailtagError(
                f"{target.out} already exists\n  fix: pass --force to predict again and overwrite it, or another --out"
            )
        out_partial, skipped_partial = partial_path(target.out), partial_path(target.skipped)
        if not out_partial.exists():
            for path in (target.skipped, skipped_partial):
                path.unlink(missing_ok=True)
            write_state(target.state, {"fingerprint": self.fingerprint, "complete": False})
            self._open_files(0, 0)
            return 0
        self._check_state(out_partial)
        if target.skipped.exists() and not skipped_partial.exists():
            os.replace(target.skipped, skipped_partial)  # killed between the two renames of `finish`
        return self._resume(out_partial, skipped_partial)

    def _check_state(self, out_partial: Path) -> None:
        state = read_state(self.target.state)
        if state is None:
            raise TailtagError(
                f"{out_partial} exists but {self.target.state} is missing or damaged, so it cannot be resumed safely\n"
                "  fix: pass --force to start over"
            )
        changed = differences(state.get("fingerprint", {}), self.fingerprint)
        if changed:
            raise TailtagError(
                f"{out_partial} was started by a different prediction job (it differs in: {', '.join(changed)})\n"
                "  fix: rerun the original command to finish it, pass --force to start over, or choose another --out"
            )

    def _resume(self, out_partial: Path, skipped_partial: Path) -> int:
        rows = _complete_rows(out_partial, self.target.fmt)
        skipped = _complete_rows(skipped_partial, "skipped")
        done, _, _ = _walk(self.names, rows, skipped, len(self.names))
        if done < len(self.names):
            done -= done % self.batch_size  # back to the batch grid of an uninterrupted run
        _, n_rows, n_skipped = _walk(self.names, rows, skipped, done)
        for path, kept, kind in (
            (out_partial, rows[:n_rows], self.target.fmt),
            (skipped_partial, skipped[:n_skipped], "skipped"),
        ):
            _truncate(path, kept[-1][1] if kept else None, HEADERS[kind])
        self._open_files(n_rows, n_skipped)
        return done

    def _open_files(self, n_rows: int, n_skipped: int) -> None:
        self.n_rows, self.n_skipped = n_rows, n_skipped
        self._handles = []
        for path, kind in ((self.target.out, self.target.fmt), (self.target.skipped, "skipped")):
            partial = partial_path(path)
            fresh = not partial.exists()
            handle = open(partial, "a", newline="", **_ENCODING)
            if fresh:
                handle.write(HEADERS[kind])
            self._handles.append(handle)
        self.sync()

    def write(self, rows: str, n_rows: int, skipped: str, n_skipped: int) -> None:
        """Append one batch: `rows` (lines of `n_rows` images) and `skipped` (lines of `n_skipped` images)."""
        out_handle, skipped_handle = self._handles
        if rows:
            out_handle.write(rows)
        if skipped:
            skipped_handle.write(skipped)
        self.n_rows += n_rows
        self.n_skipped += n_skipped
        self._unsynced += n_rows + n_skipped
        if self._unsynced >= self.flush_rows or time.monotonic() - self._synced_at > _SYNC_SECONDS:
            self.sync()

    def sync(self) -> None:
        """Flush both files to disk (called at batch boundaries only, see the module docstring)."""
        for handle in self._handles:
            handle.flush()
            os.fsync(handle.fileno())
        self._unsynced, self._synced_at = 0, time.monotonic()

    def finish(self, keep_state: bool) -> None:
        """Rename the partial files to their final names; `keep_state` leaves a completed state for the merge."""
        self.sync()
        for handle in self._handles:
            handle.close()
        self._handles = []
        if keep_state:
            complete = {"complete": True, "n_rows": self.n_rows, "n_skipped": self.n_skipped}
            write_state(self.target.state, {"fingerprint": self.fingerprint, **complete})
        replace_durably(partial_path(self.target.skipped), self.target.skipped)
        replace_durably(partial_path(self.target.out), self.target.out)
        if not keep_state:
            self.target.state.unlink(missing_ok=True)

    def close(self) -> None:
        """Flush and close without finishing (an interrupted job leaves resumable partial files)."""
        for handle in self._handles:
            if not handle.closed:
                handle.flush()
                handle.close()
        self._handles = []


def _complete_rows(path: Path, kind: str) -> list[tuple[str, int]]:
    """(name, byte offset after its line) of each complete well-formed row past the header, up to a bad one."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    header = HEADERS[kind].encode()
    if not data.startswith(header):
        return []  # torn or foreign header: _truncate rewrites it and every row is redone
    rows, position = [], len(header)
    while (end := data.find(b"\n", position)) != -1:
        name = row_name(kind, data[position:end].decode(**_ENCODING))
        if name is None:
            break
        position = end + 1
        rows.append((name, position))
    return rows


def _walk(names: tuple[str, ...], rows: list, skipped: list, limit: int) -> tuple[int, int, int]:
    """(inputs done, output rows, skipped rows) matching `names[:limit]` in order against the two files."""
    i = a = b = 0
    while i < limit:
        if a < len(rows) and rows[a][0] == names[i]:
            a += 1
        elif b < len(skipped) and skipped[b][0] == names[i]:
            b += 1
        else:
            break
        i += 1
    return i, a, b


def _truncate(path: Path, offset: int | None, header: str) -> None:
    """Cut `path` after byte `offset`, or back to just its header when `offset` is None (rewriting a torn one)."""
    if offset is None:
        with open(path, "w", newline="", **_ENCODING) as handle:
            handle.write(header)
        return
    with open(path, "r+b") as handle:
        handle.truncate(offset)

"""Files written whole or not at all, and the hash that identifies a file's bytes.

Every artifact tailtag writes (run directory files, split lists, summaries, reports, caches) goes through
`atomic_write`: the bytes go to a temporary file in the same folder, the file is flushed and fsync'ed, renamed
over the target (`os.replace`, atomic on POSIX and Windows within one file system), and the folder is
fsync'ed so the rename itself survives a power cut. A reader therefore sees the old file or the new one,
never half of one, and a process killed while writing leaves at most a hidden `.NAME.*.tmp` file.

Example:
    >>> with atomic_write(out / "report.csv", newline="") as handle:  # doctest: +SKIP
    ...     csv.writer(handle).writerow(["epoch", "loss"])
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

_CHUNK = 1 << 20


def temporary_path(path: str | Path) -> Path:
    """A fresh hidden name beside `path` (`.NAME.<pid>.<random>.tmp`): concurrent writers never share one."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def fsync_dir(directory: str | Path) -> None:
    """Make the renames and unlinks done in `directory` durable; a no-op where folders cannot be opened."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:  # Windows cannot open a folder; its renames are durable once they return
        return
    try:
        os.fsync(handle)
    except OSError:  # some file systems (e.g. network mounts) refuse fsync on folders
        pass
    finally:
        os.close(handle)


def replace_durably(source: str | Path, target: str | Path) -> Path:
    """`os.replace(source, target)` then fsync of the target's folder; `source` must be complete and synced."""
    target = Path(target)
    os.replace(source, target)
    fsync_dir(target.parent)
    return target


@contextmanager
def atomic_write(
    path: str | Path, mode: str = "w", *, encoding: str | None = "utf-8", newline: str | None = None
) -> Iterator[IO[Any]]:
    """Open a temporary file beside `path` for writing; on a clean exit it replaces `path` durably.

    Args:
        mode: "w" (text) or "wb" (bytes).
        encoding, newline: as `open`, for text mode.
    On an exception the temporary file is removed and `path` is left as it was.
    """
    path = Path(path)
    tmp = temporary_path(path)
    # O_EXCL: never follow or reuse an existing file; mode 0o666 lets the umask decide, as `open` does.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        if "b" in mode:
            handle = os.fdopen(fd, mode)
        else:
            handle = os.fdopen(fd, mode, encoding=encoding, newline=newline)
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        replace_durably(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str, *, newline: str | None = None) -> Path:
    """Write `text` (UTF-8) to `path` atomically; returns the path."""
    with atomic_write(path, newline=newline) as handle:
        handle.write(text)
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically; returns the path."""
    with atomic_write(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def write_json(path: str | Path, data: Any, *, indent: int | None = 2, end: str = "", **dump_options: Any) -> Path:
    """Write `json.dumps(data, indent=indent, **dump_options) + end` to `path` atomically; returns the path."""
    return write_text(path, json.dumps(data, indent=indent, **dump_options) + end)


def file_sha256(path: str | Path) -> str | None:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks; None when `path` is not a file (a class-folder
    tree, say)."""
    if not Path(path).is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()

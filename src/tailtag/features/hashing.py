"""Content hashes of image files, remembered by (path, size, mtime) so unchanged files are not re-read.

The feature cache is keyed by what an image contains, not where it lives: a renamed or moved image keeps
its features, an edited one gets new ones. Hashing 100k photos reads every byte once, so the digests are
kept in a small index, `content-hashes.npz`, next to the features. An entry is trusted while the file's
path, size and modification time (ns) are unchanged.

Entries for files modified within the last `_RACY_SECONDS` are not stored: an edit in the same clock tick
as the hashing would keep size and mtime and go unnoticed (the "racy git" problem; see git's
Documentation/technical/racy-git.txt). Such files are simply hashed again next time.

The index is rewritten atomically (temp file + `os.replace`); two processes updating it at once can lose
each other's new entries, which only costs re-hashing, never a wrong digest.
"""

from __future__ import annotations

import hashlib
import os
import time
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tailtag.fileio import atomic_write
from tailtag.images import ImageProblem

INDEX_NAME = "content-hashes.npz"
_CHUNK = 1 << 20
_RACY_SECONDS = 2.0
_DIGEST_BYTES = 16  # 128-bit BLAKE2b: collisions are out of reach for any image collection


def file_digest(path: str | Path) -> str:
    """32-hex-character BLAKE2b digest of a file's bytes."""
    digest = hashlib.blake2b(digest_size=_DIGEST_BYTES)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read_index(index_file: Path) -> dict[str, tuple[int, int, str]]:
    """path -> (size, mtime_ns, digest); an unreadable index (e.g. from a crash of another tool) is ignored."""
    try:
        with np.load(index_file, allow_pickle=False) as data:
            columns = [data[name] for name in ("paths", "sizes", "mtimes", "digests")]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return {}
    return {p: (int(s), int(m), str(d)) for p, s, m, d in zip(*columns, strict=True)}


def _write_index(index_file: Path, entries: dict[str, tuple[int, int, str]]) -> None:
    paths = np.array(list(entries), dtype=str)
    sizes = np.array([entry[0] for entry in entries.values()], dtype=np.int64)
    mtimes = np.array([entry[1] for entry in entries.values()], dtype=np.int64)
    digests = np.array([entry[2] for entry in entries.values()], dtype=f"<U{2 * _DIGEST_BYTES}")
    index_file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(index_file, "wb") as out:
        np.savez(out, paths=paths, sizes=sizes, mtimes=mtimes, digests=digests)


def _stat_and_hash(path: Path, known: tuple[int, int, str] | None) -> tuple[str | None, tuple[int, int, str] | None]:
    """(digest, index entry to store or None) of one file; raises OSError for unreadable files."""
    stat = path.stat()
    if known is not None and known[0] == stat.st_size and known[1] == stat.st_mtime_ns:
        return known[2], None
    digest = file_digest(path)
    racy = time.time() - stat.st_mtime_ns / 1e9 < _RACY_SECONDS
    return digest, None if racy else (stat.st_size, stat.st_mtime_ns, digest)


def content_digests(
    paths: Sequence[str | Path], *, index_file: Path | None = None, workers: int = 4
) -> tuple[list[str | None], list[ImageProblem]]:
    """Content digest of each file, reusing and updating the index in `index_file`.

    Args:
        paths: (N,) files.
        index_file: where digests are remembered; None hashes every file.
        workers: threads reading files (hashlib releases the GIL on large buffers).

    Returns:
        (digests, problems): (N,) 32-hex digests, None for files that cannot be read, and one
        `ImageProblem` per such file (first occurrence), e.g. "file not found".
    """
    files = [Path(path) for path in paths]
    keys = [os.path.abspath(file) for file in files]
    index = _read_index(index_file) if index_file is not None else {}
    unique = list(dict.fromkeys(keys))
    where = dict(zip(keys, files, strict=True))

    def one(key: str) -> tuple[str | None, tuple | None, str | None]:
        try:
            digest, entry = _stat_and_hash(where[key], index.get(key))
        except FileNotFoundError:
            return None, None, "file not found"
        except OSError as error:
            return None, None, f"cannot access the file: {error.strerror or error}"
        return digest, entry, None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = dict(zip(unique, pool.map(one, unique), strict=True))
    new_entries = {key: entry for key, (_, entry, _) in results.items() if entry is not None}
    if index_file is not None and new_entries:
        _write_index(index_file, {**_read_index(index_file), **new_entries})
    problems = []
    reported = set()
    for key, file in zip(keys, files, strict=True):
        reason = results[key][2]
        if reason is not None and key not in reported:
            reported.add(key)
            problems.append(ImageProblem(str(file), reason))
    return [results[key][0] for key in keys], problems

"""An append-only store of feature vectors keyed by image content digest, safe against crashes and readers.

Layout of one store (one backbone + weights + preprocessing + view):

    <cache_dir>/<model>-<view>-<key hash>/
        key.json                       the full key, checked on open
        000001-<token>.npy             (n, D) float16 features of one shard (float32 if float16 would overflow);
                                       `000001-r1-<token>` when written by torchrun rank 1 (`writer`)
        000001-<token>.keys.npy        (n,) content digests of its rows: written last, so it marks the shard
                                       as complete
        .000002-<token>.npy.<...>.tmp  a shard being written (or left by a killed run): ignored

Every file is written to a temp name, flushed to disk, then renamed into place with `os.replace`, which
is atomic on POSIX and Windows. A killed extraction therefore leaves complete shards plus ignored temp
files; a reader running beside a writer sees each shard either whole or not at all; and concurrent writers
never collide, because each shard name carries a random token. Nothing is ever rewritten in place.
Features are stored as float16 (half the disk and read time; the relative rounding error, below 1e-3,
is far under the noise of a linear probe) and returned as float32.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tailtag.errors import TailtagError
from tailtag.fileio import atomic_write

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
_KEYS_SUFFIX = ".keys.npy"
_FLOAT16_MAX = 60000.0  # below float16's 65504, with room for rounding
_STALE_TMP_SECONDS = 24 * 3600  # temp files older than this are from dead writers


def _write_atomic(path: Path, write) -> None:
    """Write through `write(handle)` to a temp file in the same folder, fsync, then rename onto `path`."""
    with atomic_write(path, "wb") as out:
        write(out)


class FeatureStore:
    """Feature vectors of one cache key.

    Args:
        directory: the store's folder (created if missing).
        key: what produced the features (backbone, weights id, preprocessing, view, dimension); stored in
            key.json on creation and compared on every later open.
        dim: D, the feature dimension.
        writer: a tag put in the names of the shards this object writes (e.g. "r1" for torchrun rank 1), so
            that the shards of each process of a sharded extraction can be told apart; "" for none.
    """

    def __init__(self, directory: Path, key: dict[str, Any], dim: int, writer: str = ""):
        self.directory = Path(directory)
        self.key = key
        self.dim = int(dim)
        self.writer = writer
        self.directory.mkdir(parents=True, exist_ok=True)
        key_file = self.directory / "key.json"
        text = json.dumps(key, sort_keys=True, indent=1)
        if not key_file.exists():
            _write_atomic(key_file, lambda out: out.write(text.encode()))
        elif json.loads(key_file.read_text(encoding="utf-8")) != json.loads(text):
            raise TailtagError(
                f"feature cache {self.directory}: key.json describes other features than expected (a hash "
                "collision or a hand-edited cache)\n  fix: delete that folder; it is rebuilt on the next run"
            )

    def _shards(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """Complete shards as (name, keys (n,), features memmap (n, D)), oldest first; broken ones skipped."""
        shards = []
        for keys_file in sorted(self.directory.glob(f"[0-9]*{_KEYS_SUFFIX}")):
            name = keys_file.name[: -len(_KEYS_SUFFIX)]
            try:
                keys = np.load(keys_file, allow_pickle=False)
                values = np.load(self.directory / f"{name}.npy", mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError, EOFError) as error:
                logger.warning("feature cache: skipping unreadable shard %s (%s)", self.directory / name, error)
                continue
            if values.ndim != 2 or values.shape != (len(keys), self.dim):
                logger.warning("feature cache: skipping shard %s of shape %s", self.directory / name, values.shape)
                continue
            shards.append((name, keys, values))
        return shards

    def read(self, digests: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """Look up features by content digest.

        Args:
            digests: (N,) content digests; None entries are never found.

        Returns:
            (found, features): (N,) bool, and (N, D) float32 with the cached rows, NaN where not found.
        """
        wanted: dict[str, list[int]] = {}
        for i, digest in enumerate(digests):
            if digest is not None:
                wanted.setdefault(digest, []).append(i)
        found = np.zeros(len(digests), dtype=bool)
        features = np.full((len(digests), self.dim), np.nan, dtype=np.float32)
        for _, keys, values in reversed(self._shards()):  # newest first: a later write wins
            names = keys.tolist()
            rows = [row for row, key in enumerate(names) if key in wanted]
            if not rows:
                continue
            block = np.asarray(values[rows], dtype=np.float32)
            for row, vector in zip(rows, block, strict=True):
                for i in wanted.pop(names[row], ()):
                    found[i] = True
                    features[i] = vector
            if not wanted:
                break
        return found, features

    def write(self, digests: Sequence[str], features: np.ndarray) -> np.ndarray:
        """Append one shard of (n, D) features for `digests` (nothing for n = 0).

        Returns:
            (n, D) float32: the features as stored (rounded to float16), i.e. what a later `read` returns.
        """
        features = np.asarray(features)
        if features.shape != (len(digests), self.dim):
            raise ValueError(f"features {features.shape} do not match {len(digests)} digests x D={self.dim}")
        if not len(digests):
            return features.astype(np.float32)
        if not np.all(np.isfinite(features)):
            raise TailtagError(
                f"the backbone produced non-finite features (NaN/inf) for {int((~np.isfinite(features)).any(1).sum())}"
                " images; refusing to cache them\n  fix: check the weights file (--weights) is not corrupt"
            )
        dtype = np.float16 if np.abs(features).max() < _FLOAT16_MAX else np.float32
        stored = features.astype(dtype)
        tag = f"{self.writer}-" if self.writer else ""
        name = f"{self._next_number():06d}-{tag}{secrets.token_hex(4)}"
        keys = np.array(list(digests), dtype=str)
        _write_atomic(self.directory / f"{name}.npy", lambda out: np.save(out, stored))
        _write_atomic(self.directory / f"{name}{_KEYS_SUFFIX}", lambda out: np.save(out, keys))
        return stored.astype(np.float32)

    def _next_number(self) -> int:
        numbers = [int(p.name.split("-", 1)[0]) for p in self.directory.glob("[0-9]*-*.npy")]
        return max(numbers, default=0) + 1

    def remove_stale_temp_files(self, older_than: float = _STALE_TMP_SECONDS) -> int:
        """Delete temp files left by killed writers (only old ones: a young one may be a live writer's)."""
        removed = 0
        for tmp in self.directory.glob(".*.tmp"):
            try:
                if time.time() - tmp.stat().st_mtime > older_than:
                    tmp.unlink()
                    removed += 1
            except OSError:
                continue  # another process removed or replaced it first
        return removed

    def __len__(self) -> int:
        """Number of distinct digests stored."""
        return len({key for _, keys, _ in self._shards() for key in keys.tolist()})

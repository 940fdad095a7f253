"""Features as a folder of memory-mapped shards: one `.npy` block of rows per file, with its image paths beside it.

Layout of a shard folder (what `tailtag train --features DIR` and `predict --features DIR` read):

    DIR/
        part-r0-000000.txt      image paths of the block, one per line, in row order (written first)
        part-r0-000000.npy      (n, D) float16 or float32 features of those images (written last: marks the
                                shard complete)
        ...
        manifest.json           optional: every shard's name, rows and dimension (written once, after all)

Every file goes through `tailtag.fileio.atomic_write` (a hidden temp name, fsync, rename), so a reader never sees
half a shard, and a killed writer leaves only hidden `.*.tmp` files, which readers ignore. Under torchrun each
rank writes shards named by its rank (`part-r{rank}-...`), so ranks never share a file; rank 0 writes the
manifest after a barrier (`write_manifest`). When a manifest is present, reading checks the folder against it
(a shard missing, added, cut short or of another dimension is an error naming the file).

A shard is opened with `np.load(mmap_mode="r")` only for the rows being read and closed again (`ShardBlock`):
the pages a read touches count towards the process's resident memory only while the file is mapped, so a
training run that streams a folder larger than memory keeps one window of rows resident, not the whole folder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tailtag.errors import TailtagError
from tailtag.fileio import atomic_write

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1


class ShardBlock:
    """An (n, D) `.npy` shard read through a short-lived memory map; indexes like a read-only array.

    Args:
        path: the `.npy` file. Its header is read once here (shape, dtype); data only on indexing.

    Raises:
        ValueError / OSError: the file is not a readable `.npy` (the caller names it in its message).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        values = np.load(self.path, mmap_mode="r", allow_pickle=False)
        self.shape: tuple[int, ...] = tuple(values.shape)
        self.dtype = values.dtype
        del values  # unmap: nothing of the file stays resident

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows) -> np.ndarray:
        """A copy of the rows (a slice or ascending row numbers read fastest), the file unmapped afterwards."""
        values = np.load(self.path, mmap_mode="r", allow_pickle=False)
        try:
            return np.array(values[rows])
        finally:
            del values


def shard_name(rank: int, number: int) -> str:
    """The stem of shard `number` written by torchrun rank `rank`, e.g. `part-r0-000003`."""
    return f"part-r{rank}-{number:06d}"


def write_shard(directory: str | Path, name: str, features: np.ndarray, paths: Sequence[str]) -> Path:
    """Write one shard `name`.txt + `name`.npy atomically (paths first, so a visible `.npy` is complete).

    Args:
        directory: the shard folder (created if missing).
        name: the shard's stem (see `shard_name`).
        features: (n, D) float16 or float32.
        paths: (n,) image paths, in row order; no newlines.

    Returns:
        The `.npy` path.
    """
    features = np.asarray(features)
    if features.ndim != 2 or features.dtype not in (np.float16, np.float32) or len(paths) != len(features):
        raise ValueError(f"write_shard: need (n, D) float16/32 features and n paths, got {features.shape} "
                         f"{features.dtype} and {len(paths)} paths")  # fmt: skip
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_write(directory / f"{name}.txt", "w", newline="\n") as out:
        out.write("".join(f"{path}\n" for path in paths))
    with atomic_write(directory / f"{name}.npy", "wb") as out:
        np.save(out, features)
    return directory / f"{name}.npy"


def write_manifest(directory: str | Path) -> dict:
    """Record every complete `.npy` shard of `directory` (name, rows, dimension, dtype) in manifest.json.

    Call it once all shards are written (under torchrun: on rank 0, after a barrier). Returns the manifest.
    """
    directory = Path(directory)
    shards = []
    for path in sorted(directory.glob("[!.]*.npy")):
        block = ShardBlock(path)
        shards.append({"name": path.name, "rows": block.shape[0], "dim": block.shape[1], "dtype": str(block.dtype)})
    manifest = {"format": MANIFEST_FORMAT, "rows": sum(s["rows"] for s in shards), "shards": shards}
    with atomic_write(directory / MANIFEST) as out:
        json.dump(manifest, out, indent=1)
    return manifest


def check_manifest(directory: Path, blocks: dict[str, tuple[int, ...]]) -> None:
    """Compare the shards found in `directory` (file name -> shape) with its manifest.json, when it has one.

    Raises:
        TailtagError: naming every shard that is missing, not listed, or of another shape than recorded.
    """
    path = directory / MANIFEST
    if not path.is_file():
        return
    try:
        listed = {s["name"]: (int(s["rows"]), int(s["dim"])) for s in json.loads(path.read_text("utf-8"))["shards"]}
    except (ValueError, KeyError, TypeError) as error:
        raise TailtagError(f"{path}: not a shard manifest ({error})\n  fix: delete it, or rewrite it with "
                           "tailtag.features.shards.write_manifest") from None  # fmt: skip
    problems = [f"{name} is missing" for name in listed if name not in blocks]
    problems += [f"{name} is not in the manifest" for name in blocks if name.endswith(".npy") and name not in listed]
    problems += [
        f"{name} has shape {blocks[name]}, the manifest says {listed[name]}"
        for name in listed
        if name in blocks and tuple(blocks[name]) != listed[name]
    ]
    if problems:
        raise TailtagError(
            f"{directory}: the shards do not match {MANIFEST}: " + "; ".join(problems[:5])
            + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
            + "\n  fix: rerun the extraction that wrote this folder (a shard was lost, damaged or added later), "
            f"or delete {MANIFEST} to read the shards as they are"
        )  # fmt: skip

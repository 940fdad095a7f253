"""Feature shard folders: atomic one-block-per-file writing, short-lived memory maps, the manifest and its messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tailtag.errors import TailtagError
from tailtag.features.external import FeatureFileError, read_features
from tailtag.features.shards import MANIFEST, ShardBlock, shard_name, write_manifest, write_shard


def _folder(tmp_path: Path, sizes=(5, 3, 4), dim: int = 6, manifest: bool = True) -> tuple[Path, list[str], np.ndarray]:
    """Shards of `sizes` rows written by ranks 0 and 1 in turn; returns (folder, paths, (N, D) float16 features)
    in the order a reader sees them: by shard name, so rank 0's shards first."""
    rng = np.random.default_rng(0)
    folder, shards, first = tmp_path / "shards", {}, 0
    for number, size in enumerate(sizes):
        names = [f"img/{first + i:03d}.jpg" for i in range(size)]
        block = rng.normal(size=(size, dim)).astype(np.float16)
        name = shard_name(number % 2, number)
        write_shard(folder, name, block, names)
        shards[name], first = (names, block), first + size
    if manifest:
        write_manifest(folder)
    ordered = [shards[name] for name in sorted(shards)]
    return folder, [p for names, _ in ordered for p in names], np.concatenate([block for _, block in ordered])


def test_round_trip_in_name_order_with_manifest(tmp_path):
    folder, paths, x = _folder(tmp_path, sizes=(5, 3))
    assert sorted(p.name for p in folder.iterdir()) == [
        MANIFEST,
        "part-r0-000000.npy",
        "part-r0-000000.txt",
        "part-r1-000001.npy",
        "part-r1-000001.txt",
    ]  # no temp files left behind
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["rows"] == 8 and [s["rows"] for s in manifest["shards"]] == [5, 3]
    fs = read_features(folder)
    assert list(fs.paths) == paths and all(isinstance(b, ShardBlock) for b in fs.blocks)
    rows = np.array([7, 0, 5, 5, 2])  # across shards, repeated, unordered
    np.testing.assert_array_equal(fs.take(rows), x[rows].astype(np.float32))


def test_take_keeps_the_stored_dtype_when_asked(tmp_path):
    folder, _, x = _folder(tmp_path)
    fs = read_features(folder)
    rows = np.array([11, 0, 6, 6, 3])
    kept = fs.take(rows, dtype=None)  # what training's window reads: float16 as stored, half the memory
    assert kept.dtype == np.float16
    np.testing.assert_array_equal(kept, x[rows])
    np.testing.assert_array_equal(kept.astype(np.float32), fs.take(rows))


def test_a_read_leaves_no_shard_mapped(tmp_path):
    folder, _, x = _folder(tmp_path)
    fs = read_features(folder)
    np.testing.assert_array_equal(fs.take(np.arange(len(x))), x.astype(np.float32))
    maps = Path("/proc/self/maps")
    if maps.exists():  # Linux: no shard file stays mapped, so its pages do not stay in this process's memory
        assert str(folder) not in maps.read_text()


def test_temp_files_of_a_killed_writer_are_ignored(tmp_path):
    folder, paths, _ = _folder(tmp_path, manifest=False)
    (folder / ".part-r0-000009.npy.123.abcd.tmp").write_bytes(b"half a shard")
    assert list(read_features(folder).paths) == paths


def test_damaged_shard_is_named(tmp_path):
    folder, _, _ = _folder(tmp_path, manifest=False)
    data = (folder / "part-r1-000001.npy").read_bytes()
    (folder / "part-r1-000001.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(FeatureFileError, match=r"part-r1-000001\.npy: cannot read it as \.npy"):
        read_features(folder)


def test_shard_without_its_paths_is_named(tmp_path):
    folder, _, _ = _folder(tmp_path, manifest=False)
    (folder / "part-r0-000002.txt").unlink()
    with pytest.raises(FeatureFileError, match=r"part-r0-000002\.txt: no such paths file"):
        read_features(folder)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("remove", r"part-r1-000001\.npy is missing"),
        ("add", r"part-r0-000004\.npy is not in the manifest"),
        ("shorten", r"part-r1-000001\.npy has shape \(2, 6\), the manifest says \(3, 6\)"),
    ],
)
def test_shards_that_do_not_match_the_manifest(tmp_path, damage, message):
    folder, _, _ = _folder(tmp_path)
    if damage == "remove":
        for suffix in (".npy", ".txt"):
            (folder / f"part-r1-000001{suffix}").unlink()
    elif damage == "add":
        write_shard(folder, shard_name(0, 4), np.zeros((2, 6), np.float16), ["new/1.jpg", "new/2.jpg"])
    else:
        write_shard(folder, shard_name(1, 1), np.zeros((2, 6), np.float16), ["img/005.jpg", "img/006.jpg"])
    with pytest.raises(TailtagError, match=message + r".*\n  fix: rerun the extraction"):
        read_features(folder)


def test_write_shard_refuses_what_it_cannot_store(tmp_path):
    with pytest.raises(ValueError, match="need \\(n, D\\) float16/32 features and n paths"):
        write_shard(tmp_path, "x", np.zeros((2, 3), np.float64), ["a", "b"])
    with pytest.raises(ValueError, match="3 paths"):
        write_shard(tmp_path, "x", np.zeros((2, 3), np.float32), ["a", "b", "c"])

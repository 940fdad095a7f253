"""Memory per image of the set-up of `tailtag train LABELS --features FEATS --split S` (issue 13).

Reading the labels, the image list, the feature shards' paths and the split, and matching them, must hold
about the compact arrays it keeps (a path in 16 bytes, row numbers in 8), not Python lists, tuples and dicts
of a million strings. Measured with tracemalloc on 50,000 generated rows with the block sizes of the
readers shrunk so that the rows span many blocks, as a million rows do: about 65 bytes a row held and 155
at the peak, against 177 and 413 before; the bounds leave room for numpy and Python versions.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import scipy.sparse as sp

from tailtag.features.external import match_paths, read_features
from tailtag.labels import npz_sidecars
from tailtag.labels.options import ReadOptions
from tailtag.labels.readers import read_labels
from tailtag.split import files as split_files
from tailtag.split.files import read_split

N, SHARD = 50_000, 5_000


def _lines(paths) -> str:
    return "".join(f"{p}\n" for p in paths)


def _write_data(folder):
    rng = np.random.default_rng(0)
    paths = [f"img/{i:07d}.jpg" for i in range(N)]
    (folder / "images.txt").write_text(_lines(paths))
    (folder / "tags.txt").write_text(_lines(f"t{j}" for j in range(20)))
    labels = sp.random(N, 20, density=0.1, format="csr", random_state=0, data_rvs=np.ones)
    sp.save_npz(folder / "labels.npz", labels)
    (folder / "shards").mkdir()
    for start in range(0, N, SHARD):
        np.save(folder / f"shards/part{start:06d}.npy", rng.normal(size=(SHARD, 4)).astype(np.float16))
        (folder / f"shards/part{start:06d}.txt").write_text(_lines(paths[start : start + SHARD]))
    (folder / "split").mkdir()
    order = rng.permutation(paths)
    (folder / "split/train.txt").write_text(_lines(order[1000:]))
    (folder / "split/val.txt").write_text(_lines(order[:1000]))


def test_setup_holds_under_100_bytes_an_image(tmp_path, monkeypatch):
    _write_data(tmp_path)
    monkeypatch.setattr(npz_sidecars, "_BLOCK_BYTES", 1 << 16)
    monkeypatch.setattr(split_files, "_READ_BYTES", 1 << 16)
    options = ReadOptions(classes=tmp_path / "tags.txt", paths_file=tmp_path / "images.txt")
    tracemalloc.start()
    try:
        table = read_labels(tmp_path / "labels.npz", options)
        features = read_features(tmp_path / "shards")
        match = match_paths(table.paths, features)
        subsets = read_split(tmp_path / "split", table)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert match.n_matched == len(features) == N and len(subsets["train"]) == N - 1000
    assert held / N < 100, f"{held / N:.0f} bytes an image held after the set-up"
    assert peak / N < 250, f"{peak / N:.0f} bytes an image at the set-up's peak"

"""Training batches streamed from feature files: the reading order (windows of blocks), its determinism, DDP dealing,
per-batch targets from sparse labels, and `train --features` on a shard folder = on an in-memory .npz."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from safetensors.numpy import load_file

from tailtag.cli import main
from tailtag.features.external import FeatureSet
from tailtag.features.shards import shard_name, write_manifest, write_shard
from tailtag.sampling import create_sampler
from tailtag.train.distributed import DistInfo
from tailtag.train.feature_stream import StreamedFeatureBatches, StreamedFeatures, window_order

from .test_train_features import _data


def test_window_order_is_a_seeded_permutation_read_window_by_window():
    rows = np.repeat(np.arange(100), 2)  # every feature row drawn twice (an oversampling sampler)
    order = window_order(rows, seed=3, epoch=1, block_rows=10, window_blocks=2)
    assert sorted(order.tolist()) == list(range(200))
    np.testing.assert_array_equal(order, window_order(rows, seed=3, epoch=1, block_rows=10, window_blocks=2))
    assert not np.array_equal(order, window_order(rows, seed=4, epoch=1, block_rows=10, window_blocks=2))
    assert not np.array_equal(order, window_order(rows, seed=3, epoch=2, block_rows=10, window_blocks=2))
    # 10 blocks in windows of 2: each run of 40 draws covers exactly two blocks, all of their 40 draws
    blocks = rows[order] // 10
    windows = [set(blocks[i : i + 40].tolist()) for i in range(0, 200, 40)]
    assert all(len(w) == 2 for w in windows) and set().union(*windows) == set(range(10))
    assert not np.array_equal(blocks, np.sort(blocks))  # block order shuffled too


def _batches(world: int = 1, rank: int = 0, n: int = 50) -> tuple[StreamedFeatureBatches, np.ndarray, sp.csr_matrix]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n + 7, 4)).astype(np.float32)
    features = FeatureSet(np.array([f"{i}" for i in range(n + 7)], dtype=object), (x[:20], x[20:]), "mem")
    rows = rng.permutation(n + 7)[:n]  # training image i has feature row rows[i]
    labels = sp.csr_matrix(rng.random((n, 5)) < 0.3, dtype=np.float32)
    sampler = create_sampler("ml_ros", labels, seed=1)
    dist = DistInfo(rank=rank, world_size=world)
    stream = StreamedFeatures(features, rows)
    batches = StreamedFeatureBatches(stream, labels, sampler, 8, seed=5, dist=dist, block_rows=8, window_blocks=2)
    return batches, x[rows], labels


def test_batches_hold_the_epoch_draw_with_dense_targets_per_batch():
    batches, x, labels = _batches()
    expected = batches.epoch_rows(epoch=0)
    assert sorted(expected.tolist()) == sorted(batches.sampler.sample(0).tolist())  # the sampler's multiset
    got = list(batches(0))
    assert len(got) == batches.steps_per_epoch() and all(len(inputs) <= 8 for inputs, _ in got)
    np.testing.assert_array_equal(np.concatenate([inputs.numpy() for inputs, _ in got]), x[expected])
    np.testing.assert_array_equal(np.concatenate([t.numpy() for _, t in got]), labels[expected].toarray())
    assert got[0][1].dtype == torch.float32


def test_two_ranks_read_the_one_process_order_dealt_out():
    one, _, _ = _batches()
    ranks = [_batches(world=2, rank=r)[0] for r in (0, 1)]
    full = one.epoch_rows(epoch=2)
    for rank, batches in enumerate(ranks):
        mine = batches.epoch_rows(epoch=2)
        padded = np.concatenate([full, full[: len(full) % 2]])
        np.testing.assert_array_equal(mine, padded[rank::2])
    assert ranks[0].steps_per_epoch() == ranks[1].steps_per_epoch()


@pytest.mark.parametrize("sampler", ["none", "ml_ros"])
def test_training_on_a_shard_folder_equals_training_on_the_npz(tmp_path, sampler):
    paths, x, _ = _data(tmp_path, n=200)
    np.savez(tmp_path / "feats.npz", paths=np.array(paths), features=x.astype(np.float16))
    for number, first in enumerate(range(0, 200, 64)):  # 4 shards that do not line up with the 4096-row blocks
        write_shard(tmp_path / "shards", shard_name(0, number), x[first : first + 64].astype(np.float16),
                    paths[first : first + 64])  # fmt: skip
    write_manifest(tmp_path / "shards")
    common = ["--set", "epochs=3", "--set", "head=linear", "--set", f"sampler={sampler}", "--set", "batch_size=16"]
    for name, feats in (("npz", tmp_path / "feats.npz"), ("shards", tmp_path / "shards")):
        argv = ["train", str(tmp_path / "labels.csv"), "--features", str(feats), "--out", str(tmp_path / name)]
        assert main([*argv, *common]) == 0
    weights = [load_file(str(tmp_path / name / "model.safetensors")) for name in ("npz", "shards")]
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        np.testing.assert_array_equal(weights[0][key], weights[1][key], err_msg=key)

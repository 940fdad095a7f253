"""Sharded feature extraction under a real two-process torchrun on CPU (gloo): each rank extracts its own block
of the images into the shared cache, as its own shards; together they equal a one-process extraction."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tailtag.cli import main
from tailtag.demo import make_demo_dataset

TIMEOUT = 300


def _shards(cache: Path) -> dict[str, dict[str, np.ndarray]]:
    """Writer tag ("r0", "r1", or "" for a one-process run) -> content digest -> stored vector."""
    (store,) = [d for d in cache.iterdir() if d.is_dir()]
    out: dict[str, dict[str, np.ndarray]] = {}
    for keys_file in sorted(store.glob("*.keys.npy")):
        name = keys_file.name[: -len(".keys.npy")]
        parts = name.split("-")
        writer = parts[1] if len(parts) == 3 else ""
        values = np.load(store / f"{name}.npy")
        rows = out.setdefault(writer, {})
        for key, vector in zip(np.load(keys_file).tolist(), values, strict=True):
            assert key not in rows, f"{key} written twice by {writer or 'one process'}"
            rows[key] = vector
    return out


@pytest.mark.slow
def test_two_ranks_extract_disjoint_blocks_equal_to_one_process(tmp_path, child_env, train_argv):
    labels = make_demo_dataset(tmp_path / "data", n_images=40, size=64)

    def argv(name: str) -> list[str]:
        sets = ("top_blocks=0", "epochs=1", "feature_batch_size=8")
        return train_argv(labels, tmp_path / name / "run", *sets, cache=tmp_path / name / "cache")

    assert main(argv("one")) == 0
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    done = subprocess.run(
        [*torchrun, "-m", "tailtag", *argv("two")], capture_output=True, text=True, env=child_env, timeout=TIMEOUT
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "features: extracted by 2 processes" in done.stdout + done.stderr

    one, two = _shards(tmp_path / "one" / "cache"), _shards(tmp_path / "two" / "cache")
    assert set(one) == {""} and set(two) == {"r0", "r1"}  # every shard names the rank that wrote it
    r0, r1 = two["r0"], two["r1"]
    assert r0 and r1 and not set(r0) & set(r1)  # both ranks worked, on disjoint images
    assert set(r0) | set(r1) == set(one[""])  # together: every image, complete
    for key, vector in {**r0, **r1}.items():  # float16 as stored; batches of other sizes may round differently
        np.testing.assert_allclose(vector.astype(np.float32), one[""][key].astype(np.float32), rtol=1e-2, atol=1e-3)
    # The two-process run trained on all of them: the same number of images in the same split.
    for name in ("train.txt", "val.txt"):
        assert (tmp_path / "two" / "run" / "split" / name).read_text() == (
            tmp_path / "one" / "run" / "split" / name
        ).read_text()

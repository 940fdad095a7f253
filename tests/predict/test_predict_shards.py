"""Sharded prediction: blocks of whole batches, real torchrun on two CPU processes, and --merge of shard files."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tailtag.cli import main
from tailtag.errors import TailtagError
from tailtag.predict import PredictOptions, find_inputs, predict_files, shard_block, tagger_for
from tailtag.predict.shards import merge_shards

TIMEOUT = 300


@pytest.mark.parametrize(("n", "world", "batch"), [(10, 2, 4), (100, 3, 8), (5, 4, 2), (0, 2, 4), (64, 2, 32)])
def test_shard_blocks_tile_the_input_in_whole_batches(n, world, batch):
    blocks = [shard_block(n, rank, world, batch) for rank in range(world)]
    assert blocks[0][0] == 0 and blocks[-1][1] == n
    assert all(blocks[r][1] == blocks[r + 1][0] for r in range(world - 1))
    assert all((end - start) % batch == 0 for start, end in blocks if end < n)  # only the last block ends short
    assert shard_block(10, 0, 2, 4) == (0, 8) and shard_block(10, 1, 2, 4) == (8, 10)


def _folder(demo_images: Path, folder: Path) -> Path:
    """The 80 demo images plus two bad files, so every shard has both kinds of rows."""
    shutil.copytree(demo_images, folder)
    (folder / "0010b.jpg").write_bytes(b"")
    (folder / "0070b.jpg").write_text("<html>not found</html>")
    return folder


def test_merge_of_shard_files_equals_the_one_process_file(small_run, demo_images, tmp_path, capsys):
    folder = _folder(demo_images, tmp_path / "images")
    assert main(["predict", str(small_run), str(folder), "--out", str(tmp_path / "one.csv"), "--quiet"]) == 0
    tagger, inputs = tagger_for(small_run), find_inputs(folder)
    options = PredictOptions(batch_size=32, progress=False)
    out = tmp_path / "nodes" / "p.csv"
    out.parent.mkdir()
    for rank in (1, 0, 2):  # separate jobs on three nodes, in any order
        predict_files(tagger, inputs, out, options, rank=rank, world=3)
    out.touch()
    with pytest.raises(TailtagError, match=r"p.csv already exists\n  fix: pass --force to merge again"):
        merge_shards(out)
    out.unlink()
    assert main(["predict", "--merge", str(out)]) == 0
    assert "merged 3 shards into" in capsys.readouterr().out
    assert out.read_bytes() == (tmp_path / "one.csv").read_bytes()
    assert (tmp_path / "nodes" / "p.skipped.csv").read_bytes() == (tmp_path / "one.skipped.csv").read_bytes()
    assert sorted(p.name for p in out.parent.iterdir()) == ["p.csv", "p.skipped.csv"]


def test_merge_refuses_missing_or_mixed_shards(small_run, demo_images, tmp_path, capsys):
    tagger, inputs = tagger_for(small_run), find_inputs(demo_images)
    out = tmp_path / "p.csv"
    predict_files(tagger, inputs, out, PredictOptions(batch_size=16, progress=False), rank=0, world=2)
    assert main(["predict", "--merge", str(out)]) == 2
    assert "shard 1 is missing" in capsys.readouterr().err
    predict_files(tagger, inputs, out, PredictOptions(batch_size=16, max_tags=1, progress=False), rank=1, world=2)
    assert main(["predict", "--merge", str(out)]) == 2
    assert "its shards come from different prediction jobs" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_torchrun_two_processes_write_the_one_process_file(small_run, demo_images, tmp_path, child_env):
    folder = _folder(demo_images, tmp_path / "images")
    common = ["predict", str(small_run), str(folder), "--batch-size", "8"]
    assert main([*common, "--out", str(tmp_path / "one" / "p.csv"), "--quiet"]) == 0
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    out = tmp_path / "two" / "p.csv"
    done = subprocess.run(
        [*torchrun, "-m", "tailtag", *common, "--out", str(out)],
        capture_output=True,
        text=True,
        env=child_env,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("wrote ") == 1 and "80 images tagged, 2 skipped" in done.stdout
    for name in ("p.csv", "p.skipped.csv"):
        assert (out.parent / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
    assert sorted(p.name for p in out.parent.iterdir()) == ["p.csv", "p.skipped.csv"]

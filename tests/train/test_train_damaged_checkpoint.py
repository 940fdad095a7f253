"""A damaged checkpoint.pt on the rerun of `tailtag train`: exit 2 naming the file, why, and --restart; never a
traceback, and nothing of the run is touched until --restart starts it over."""

from __future__ import annotations

import argparse
import shutil

import pytest
import torch

from tailtag.cli import main


@pytest.fixture(scope="module")
def finished(tmp_path_factory, demo_labels, feature_cache):
    """(run directory of a finished 1-epoch run, the argv that trains it minus --out)."""
    sets = (f"cache_dir={feature_cache}", "image_size=64", "num_workers=0", "warmup_epochs=0", "batch_size=16")
    sets += ("epochs=1", "top_blocks=0")
    argv = ["train", str(demo_labels), *[a for key in sets for a in ("--set", key)]]
    run = tmp_path_factory.mktemp("damaged-checkpoint") / "run"
    assert main([*argv, "--out", str(run)]) == 0
    return run, argv


def _zero_bytes(path):
    path.write_bytes(b"")


def _truncated(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path):
    path.write_bytes(b"garbage, not a checkpoint")


def _python_object(path):  # weights_only=True refuses classes outside its allow-list
    torch.save({"config": {}, "state": {}, "model": {}, "optimizer": {}, "x": argparse.Namespace(a=1)}, path)


def _a_tensor(path):
    torch.save(torch.zeros(3), path)


def _foreign_dict(path):
    torch.save({"state_dict": {"w": torch.zeros(2)}}, path)


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (_zero_bytes, "the file is empty (0 bytes)"),
        (_truncated, "it is truncated or not a torch file (RuntimeError: "),
        (_garbage, "it is not a torch file (unrecognised pickle data)"),
        (_python_object, "it holds Python objects besides tensors, refused since unpickling them can run code"),
        (_a_tensor, "it holds a Tensor, not a tailtag training checkpoint"),
        (_foreign_dict, "it lacks config, state, model, optimizer, so it was not written by tailtag train"),
    ],
)
def test_damaged_checkpoint_exits_2_with_restart_as_the_fix(finished, tmp_path, capsys, damage, why):
    source, argv = finished
    run = tmp_path / "run"
    shutil.copytree(source, run)
    damage(run / "checkpoint.pt")
    before = {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()}
    capsys.readouterr()
    assert main([*argv, "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"{run / 'checkpoint.pt'}: the training checkpoint cannot be read: {why}" in err
    assert "fix: rerun the same command with --restart" in err and "Traceback" not in err
    assert {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()} == before


def test_restart_starts_a_damaged_run_over(finished, tmp_path, capsys):
    source, argv = finished
    run = tmp_path / "run"
    shutil.copytree(source, run)
    _truncated(run / "checkpoint.pt")
    assert main([*argv, "--out", str(run), "--restart"]) == 0
    assert (run / "checkpoint.pt").read_bytes() != b""
    assert main([*argv, "--out", str(run)]) == 0  # the new checkpoint reads back: a finished run, outputs rewritten
    assert "already holds this finished run" in capsys.readouterr().err


def test_checkpoint_refused_on_a_torch_older_than_2_6(finished, tmp_path, capsys, monkeypatch):
    source, argv = finished
    run = tmp_path / "run"
    shutil.copytree(source, run)
    monkeypatch.setattr(torch, "__version__", "2.5.1")
    assert main([*argv, "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert "PyTorch 2.5.1 is installed" in err and "CVE-2025-32434" in err and "Traceback" not in err

"""kill -9 in the middle of an epoch, rerun the same command: the run ends exactly as an uninterrupted one.

The child is a real `python -m tailtag train` process killed with SIGKILL (no handler runs, no file is
closed), so this checks the atomic checkpoint writes and that every epoch is a pure function of
(seed, epoch, state at its start): sampler order, view and flip draws, dropout masks, EMA, plateau state.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from tailtag.cli import main
from tailtag.demo import make_demo_dataset

# 120 training images in batches of 2: 60 steps an epoch through the trained last stage, about a second.
LONG_EPOCHS = (
    "top_blocks=1",
    "batch_size=2",
    "epochs=3",
    "views=center,flip",
    "ema_decay=0.9",
    "schedule=plateau",
    "plateau_patience=0",
    "head=mlp",
    "hidden=64",
)
FIRST_EPOCH_TIMEOUT = 180.0
RUN_TIMEOUT = 300


def _csv_rows(run: Path) -> list[dict]:
    try:
        with open(run / "metrics.csv", newline="") as handle:
            return list(csv.DictReader(handle))
    except FileNotFoundError:
        return []


def _without_seconds(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def _kill_mid_epoch(command: list[str], run: Path, env: dict, log: Path) -> int:
    """Start `command`, SIGKILL it about 40% into the epoch after the first finished one; returns the number of
    epochs metrics.csv listed at the kill."""
    with open(log, "wb") as output:
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + FIRST_EPOCH_TIMEOUT
            while not (rows := _csv_rows(run)):
                if child.poll() is not None:
                    pytest.fail(f"training exited ({child.returncode}) before its first epoch:\n{log.read_text()}")
                if time.monotonic() > deadline:
                    pytest.fail(f"no epoch finished within {FIRST_EPOCH_TIMEOUT:.0f} s:\n{log.read_text()}")
                time.sleep(0.02)
            time.sleep(0.4 * float(rows[-1]["seconds"]))  # an epoch lasts about as long as the last one
            os.kill(child.pid, signal.SIGKILL)
            assert child.wait(timeout=30) == -signal.SIGKILL
            return len(_csv_rows(run))
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=30)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_rerun_equals_an_uninterrupted_run(tmp_path, train_argv, run_files, child_env):
    labels = make_demo_dataset(tmp_path / "data", n_images=160, size=64)
    cache = tmp_path / "cache"
    reference = tmp_path / "reference"
    assert main(train_argv(labels, reference, *LONG_EPOCHS, cache=cache)) == 0  # in process; fills the cache

    run = tmp_path / "run"
    command = [sys.executable, "-m", "tailtag", *train_argv(labels, run, *LONG_EPOCHS, cache=cache)]
    done_at_kill = _kill_mid_epoch(command, run, child_env, tmp_path / "killed.log")
    assert 1 <= done_at_kill < 3 and (run / "checkpoint.pt").exists()
    assert not (run / "model.safetensors").exists() and not (run / "metrics.json").exists()

    rerun = subprocess.run(command, capture_output=True, text=True, env=child_env, timeout=RUN_TIMEOUT)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming from {run / 'checkpoint.pt'} after epoch {done_at_kill}" in rerun.stderr
    assert {path.name for path in run.iterdir()} == run_files

    ours, ref = (json.loads((path / "metrics.json").read_text()) for path in (run, reference))
    ours["history"], ref["history"] = _without_seconds(ours["history"]), _without_seconds(ref["history"])
    assert ours == ref  # every number, per class and history included, bit for bit
    assert _without_seconds(_csv_rows(run)) == _without_seconds(_csv_rows(reference))
    weights, ref_weights = load_file(str(run / "model.safetensors")), load_file(str(reference / "model.safetensors"))
    assert weights.keys() == ref_weights.keys()
    assert all(np.array_equal(weights[k].numpy(), ref_weights[k].numpy()) for k in ref_weights)

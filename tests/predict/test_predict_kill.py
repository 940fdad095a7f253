"""`kill -9` in the middle of `tailtag predict`, then the same command again: the uninterrupted run's bytes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tailtag.cli import main

TIMEOUT = 300
KILL_AFTER_ROWS = 40


def _many_images(demo_images: Path, folder: Path, copies: int) -> None:
    """`copies` x the 80 demo JPEGs in sub-folders, plus an empty and a truncated file among them."""
    for c in range(copies):
        shutil.copytree(demo_images, folder / f"part{c}")
    (folder / "part1" / "empty.jpg").write_bytes(b"")
    data = (demo_images / "0005.jpg").read_bytes()
    (folder / f"part{copies - 1}" / "cut.jpg").write_bytes(data[: len(data) // 3])


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_kill_9_and_rerun_gives_the_uninterrupted_bytes(small_run, demo_images, tmp_path, child_env):
    folder = tmp_path / "images"
    _many_images(demo_images, folder, copies=4)  # 322 inputs: several seconds of work for the child
    common = ["predict", str(small_run), str(folder), "--batch-size", "8", "--flush-every", "8", "--workers", "0"]
    assert main([*common, "--out", str(tmp_path / "ref" / "p.jsonl"), "--quiet"]) == 0

    out = tmp_path / "job" / "p.jsonl"
    command = [sys.executable, "-m", "tailtag", *common, "--out", str(out)]
    child = subprocess.Popen(command, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    partial, deadline = out.with_name("p.jsonl.partial"), time.monotonic() + TIMEOUT
    while _lines(partial) < KILL_AFTER_ROWS and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert child.poll() is None, "the child finished before it could be killed: " + child.stdout.read().decode()
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    rows_at_kill = _lines(partial)
    assert KILL_AFTER_ROWS <= rows_at_kill < 322 and not out.exists()

    again = subprocess.run(command, env=child_env, capture_output=True, text=True, timeout=TIMEOUT)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resumed after" in again.stdout and "320 images tagged, 2 skipped" in again.stdout
    for name in ("p.jsonl", "p.skipped.csv"):
        assert (out.parent / name).read_bytes() == (tmp_path / "ref" / name).read_bytes(), name
    assert sorted(p.name for p in out.parent.iterdir()) == ["p.jsonl", "p.skipped.csv"]

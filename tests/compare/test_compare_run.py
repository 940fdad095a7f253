"""`tailtag compare` end to end on generated demo data: files written, parallel workers, resumability (also
after kill -9), and a best.yaml that `tailtag train` accepts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tailtag.cli import main
from tailtag.compare import OUTPUT_FILES, compare, load_compare_config
from tailtag.compare.runner import CELLS_FILE, read_cells


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def test_cli_end_to_end_with_two_jobs(write_grid, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compare", str(write_grid()), "--out", str(out), "--jobs", "2", "--quiet"]) == 0
    assert {p.name for p in out.iterdir()} == set(OUTPUT_FILES)
    cells = read_cells(out / CELLS_FILE)
    assert len(cells) == 2 * 2 * 2  # losses x seeds x rules
    assert {r["rule"] for r in cells.values()} == {"fixed 0.5", "temperature + per_class_f1"}
    for record in cells.values():
        assert 0.0 <= record["metrics"]["macro_f1"] <= 1.0 and record["metrics"]["mAP"] > 0.2
    summary = _summary(out)
    assert summary["trained_now"] == 4 and len(summary["rows"]) == 4
    assert summary["baseline"] == {"loss": "bce", "sampler": "none", "head": "linear", "rule": "fixed 0.5"}
    printed = capsys.readouterr().out
    assert "best by mean macro_f1" in printed
    assert "best vs baseline bce | none | linear | fixed 0.5" in printed or "the baseline bce" in printed
    page = (out / "leaderboard.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 2 and "<script" not in page and "http" not in page


def test_rerun_trains_nothing_and_missing_cells_are_recomputed(write_grid, tmp_path):
    config = load_compare_config(write_grid())
    out = tmp_path / "out"
    first = compare(config, out, jobs=1, quiet=True)
    board = (out / "leaderboard.csv").read_text(encoding="utf-8")
    assert first["trained"] == 4
    again = compare(config, out, jobs=1, quiet=True)
    assert again["trained"] == 0
    assert (out / "leaderboard.csv").read_text(encoding="utf-8") == board
    # drop one cell (of one training) and tear the last line, as a crash mid-write would
    lines = (out / CELLS_FILE).read_text(encoding="utf-8").splitlines()
    (out / CELLS_FILE).write_text("\n".join(lines[1:-1]) + "\n" + lines[-1][:25], encoding="utf-8")
    resumed = compare(config, out, jobs=1, quiet=True)
    assert resumed["trained"] == 2
    assert (out / "leaderboard.csv").read_text(encoding="utf-8") == board


def test_grid_change_trains_only_new_points(write_grid, tmp_path):
    out = tmp_path / "out"
    compare(load_compare_config(write_grid()), out, jobs=1, quiet=True)
    bigger = load_compare_config(write_grid("bigger.yaml", samplers=["none", "class_aware"]))
    assert compare(bigger, out, jobs=1, quiet=True)["trained"] == 4


@pytest.mark.slow  # a second worker pool: ~6 s on 2 cores
def test_results_do_not_depend_on_jobs(write_grid, tmp_path):
    config = load_compare_config(write_grid(losses=["bce"]))
    compare(config, tmp_path / "one", jobs=1, quiet=True)
    compare(config, tmp_path / "two", jobs=2, quiet=True)
    one, two = read_cells(tmp_path / "one" / CELLS_FILE), read_cells(tmp_path / "two" / CELLS_FILE)
    assert one.keys() == two.keys()
    assert all(one[k]["metrics"] == two[k]["metrics"] for k in one)


def test_best_yaml_loads_and_trains(write_grid, compare_demo, compare_cache, tmp_path):
    from tailtag.config import load_config
    from tailtag.labels.readers import read_labels
    from tailtag.train.run import train

    out = tmp_path / "out"
    result = compare(load_compare_config(write_grid()), out, jobs=1, quiet=True)
    text = (out / "best.yaml").read_text(encoding="utf-8")
    assert "tailtag evaluate RUN --strategy" in text
    config = load_config(out / "best.yaml", overrides=["epochs=1"])
    best = result["rows"][0].config
    assert config.loss == best["loss"].split("(")[0] and config.head == "linear" and config.top_blocks == 0
    metrics = train(read_labels(compare_demo), out=tmp_path / "run", config=config)
    assert 0.0 <= metrics["macro_f1"] <= 1.0
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_missing_label_file_is_a_user_error(write_grid, tmp_path, capsys):
    grid = write_grid(data={"labels": str(tmp_path / "nope.csv")})
    assert main(["compare", str(grid), "--out", str(tmp_path / "out")]) == 2
    assert "nope.csv" in capsys.readouterr().err


@pytest.mark.slow
def test_kill_9_then_rerun_equals_uninterrupted(write_grid, tmp_path):
    grid = write_grid(samplers=["none", "class_aware"], train={"epochs": 6, "image_size": 64, "num_workers": 0,
                      "warmup_epochs": 0, "batch_size": 16, "cache_dir": str(tmp_path / "cache")})  # fmt: skip
    command = [sys.executable, "-m", "tailtag", "compare", str(grid), "--jobs", "1", "--quiet", "--out"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([*command, str(tmp_path / "whole")], check=True, env=env, capture_output=True)
    killed = tmp_path / "killed"
    process = subprocess.Popen([*command, str(killed)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(read_cells(killed / CELLS_FILE)) < 4:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    n_before = len(read_cells(killed / CELLS_FILE))
    assert 4 <= n_before < 16, "the kill should land mid-grid"
    subprocess.run([*command, str(killed)], check=True, env=env, capture_output=True)
    assert _summary(killed)["trained_now"] < 8
    assert (killed / "leaderboard.csv").read_text() == (tmp_path / "whole" / "leaderboard.csv").read_text()

"""finetune mode with `input_pipeline: device` on the CPU: the same run directory, draws that depend only on
(seed, epoch), and `auto` keeping the PIL pipeline on a CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tailtag.cli import main
from tailtag.data.device_pipeline import use_device_pipeline
from tailtag.demo import make_demo_dataset

TINY = [
    "mode=finetune",
    "backbone=test_efficientnet",
    "weights=none",
    "image_size=32",
    "epochs=2",
    "batch_size=8",
    "num_workers=0",
    "warmup_epochs=0",
    "lr=0.01",
    "input_pipeline=device",
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "data", n_images=40, size=64)


def _train(labels: Path, out: Path, *overrides: str) -> int:
    sets = [arg for key in (*TINY, *overrides) for arg in ("--set", key)]
    return main(["train", str(labels), "--out", str(out), *sets])


def _history(run: Path) -> list[dict]:
    rows = json.loads((run / "metrics.json").read_text())["history"]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def test_device_pipeline_trains_and_does_not_depend_on_the_worker_layout(demo, tmp_path, capsys, run_files):
    assert _train(demo, tmp_path / "a") == 0
    assert "device input pipeline" in capsys.readouterr().err
    assert {path.name for path in (tmp_path / "a").iterdir()} == run_files
    assert _train(demo, tmp_path / "b", "num_workers=1") == 0
    assert _history(tmp_path / "a") == _history(tmp_path / "b")


def test_auto_uses_the_device_pipeline_only_on_cuda(demo, tmp_path, capsys):
    assert _train(demo, tmp_path / "run", "input_pipeline=auto", "epochs=1") == 0
    assert "cpu input pipeline" in capsys.readouterr().err
    assert use_device_pipeline("auto", "cuda") and not use_device_pipeline("auto", "cpu")
    assert use_device_pipeline("device", "cpu") and not use_device_pipeline("cpu", "cuda")

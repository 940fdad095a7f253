"""A small trained head-mode run (real ImageNet Lite0 at 64 px, top_blocks=1, two views) shared by the tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tailtag.cli import main
from tailtag.demo import make_demo_dataset

SETTINGS = (
    "image_size=64", "num_workers=0", "warmup_epochs=0", "batch_size=16", "epochs=2",
    "top_blocks=1", "views=[center,full]",
)  # fmt: skip


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> Path:
    """`tailtag train` on 80 generated scenes; returns the run directory (with data.json and thresholds)."""
    root = tmp_path_factory.mktemp("inference-run")
    labels = make_demo_dataset(root / "data", n_images=80, size=64)
    sets = [a for key in (f"cache_dir={root / 'cache'}", *SETTINGS) for a in ("--set", key)]
    torch.set_num_threads(1)
    status = main(["train", str(labels), "--images", str(labels.parent), "--out", str(root / "run"), *sets])
    assert status == 0
    return root / "run"

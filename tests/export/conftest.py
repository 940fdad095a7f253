"""Small trained runs shared by the export tests: real ImageNet Lite0 at 64 px on generated demo scenes.

`small_run`: head mode, top_blocks=1 (the mirrored-map averaging inside the view scorer), two views.
`powerset_run`: head mode, top_blocks=0 (pooled features, no top), label-powerset loss (softmax marginals).
"""

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
POWERSET = ("image_size=64", "num_workers=0", "warmup_epochs=0", "batch_size=16", "epochs=2", "top_blocks=0",
            "loss=powerset")  # fmt: skip


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _train(root: Path, settings: tuple[str, ...]) -> Path:
    labels = make_demo_dataset(root / "data", n_images=80, size=64)
    sets = [a for key in (f"cache_dir={root / 'cache'}", *settings) for a in ("--set", key)]
    torch.set_num_threads(1)
    status = main(["train", str(labels), "--images", str(labels.parent), "--out", str(root / "run"), *sets])
    assert status == 0
    return root / "run"


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> Path:
    """`tailtag train` on 80 generated scenes; returns the run directory (with data.json and thresholds)."""
    return _train(tmp_path_factory.mktemp("export-run"), SETTINGS)


@pytest.fixture(scope="session")
def powerset_run(tmp_path_factory) -> Path:
    """A top_blocks=0 run trained with the label-powerset loss (probabilities are softmax marginals)."""
    return _train(tmp_path_factory.mktemp("export-powerset"), POWERSET)

"""Fixtures of the head-mode training tests: one torch thread, a small demo set, a shared feature cache, and the
command line of a small, fast run (ImageNet Lite0 at 64 px: real features, offline, about 0.3 s an epoch)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tailtag.demo import make_demo_dataset
from tailtag.train import loop

FAST = (
    "backbone=tf_efficientnet_lite0",
    "weights=imagenet",
    "image_size=64",
    "num_workers=0",
    "warmup_epochs=0",
    "batch_size=16",
    "epochs=2",
)
_RUN_FILES = {
    "best.safetensors",
    "calibration.json",
    "checkpoint.pt",
    "config.yaml",
    "curves.png",
    "data.json",
    "labels.json",
    "metrics.csv",
    "metrics.json",
    "model.json",
    "model.safetensors",
    "split",
    "tensorboard",
    "thresholds.json",
}


@pytest.fixture(scope="session")
def demo_labels(tmp_path_factory) -> Path:
    """96 generated 64 px scenes with 10 long-tailed labels (the rarest with 0-2 images); returns labels.csv."""
    return make_demo_dataset(tmp_path_factory.mktemp("train-demo") / "data", n_images=96, size=64)


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory) -> Path:
    """One feature cache for the whole session: after the first run of a backbone, later runs read it warm."""
    return tmp_path_factory.mktemp("feature-cache")


@pytest.fixture
def train_argv(feature_cache) -> Callable[..., list[str]]:
    """`train_argv(labels, out, *overrides, cache=None, extra=())` -> the argv of `tailtag train` for a FAST
    run; later overrides win over FAST, `extra` goes after the --set flags (e.g. ("--split", DIR))."""

    def argv(labels: Path, out: Path, *overrides: str, cache: Path | None = None, extra=()) -> list[str]:
        sets = (f"cache_dir={cache or feature_cache}", *FAST, *overrides)
        return ["train", str(labels), "--out", str(out), *[a for key in sets for a in ("--set", key)], *extra]

    return argv


@pytest.fixture
def run_files() -> set[str]:
    """The exact entries of a complete head-mode run directory (no skipped_images.csv without --on-bad-image skip)."""
    return set(_RUN_FILES)


@pytest.fixture
def interrupt_second_epoch(monkeypatch) -> Callable[[], None]:
    """Call it to make training runs stop with KeyboardInterrupt (exit 130) when their second epoch starts;
    `monkeypatch.undo()` lets them run through again."""
    real_epoch = loop.train_one_epoch

    def interrupted(*args, epoch, **kwargs):
        if epoch == 1:
            raise KeyboardInterrupt
        return real_epoch(*args, epoch=epoch, **kwargs)

    return lambda: monkeypatch.setattr(loop, "train_one_epoch", interrupted)

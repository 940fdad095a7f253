"""Fixtures of the compare tests: a small generated demo set (64 px), a shared feature cache, and a writer of
grid configs that train in a fraction of a second per cell."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tailtag.demo import make_demo_dataset

FAST_TRAIN = {
    "image_size": 64,
    "num_workers": 0,
    "epochs": 3,
    "warmup_epochs": 0,
    "batch_size": 16,
}


@pytest.fixture(scope="session")
def compare_demo(tmp_path_factory) -> Path:
    """labels.csv of 120 generated 64 px scenes with 10 long-tailed labels."""
    return make_demo_dataset(tmp_path_factory.mktemp("compare-demo") / "data", n_images=120, size=64)


@pytest.fixture(scope="session")
def compare_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("compare-cache")


@pytest.fixture
def write_grid(compare_demo, compare_cache, tmp_path) -> Callable[..., Path]:
    """`write_grid(**sections)` -> path of a compare YAML on the demo set; sections replace the defaults
    (2 losses x 1 sampler x 2 rules x 2 seeds = 4 trainings, 8 cells)."""

    def write(name: str = "grid.yaml", **sections) -> Path:
        raw = {
            "data": {"labels": str(compare_demo), "split_seed": 0},
            "train": {**FAST_TRAIN, "cache_dir": str(compare_cache)},
            "losses": ["bce", {"name": "focal", "params": {"gamma": 2.0}}],
            "samplers": ["none"],
            "heads": ["linear"],
            "thresholds": ["fixed", {"strategy": "per_class_f1", "calibration": "temperature"}],
            "seeds": [0, 1],
        }
        raw.update(sections)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        return path

    return write

"""Collapse guard: the three collapsed shapes are named, healthy predictions pass, and training prints it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tailtag.cli import main
from tailtag.config import make_config
from tailtag.train.collapse import collapse_warnings
from tailtag.train.distributed import DistInfo
from tailtag.train.logs import RunLog
from tailtag.train.loop import fit

RNG = np.random.default_rng(0)
HEALTHY = RNG.uniform(0, 1, (30, 4))


@pytest.mark.parametrize(
    ("probabilities", "expected"),
    [
        (np.full((30, 4), 0.5), "collapsed to ~0.5 for every image and label"),
        (0.5 + RNG.uniform(-0.04, 0.04, (30, 4)), "collapsed to ~0.5"),  # varies, but never leaves 0.5 +- 0.05
        (RNG.uniform(0, 0.009, (30, 4)), "collapsed to ~0 for every image and label"),
        (np.zeros((30, 4)), "collapsed to ~0"),  # ~0 wins over identical: it names the likelier cause
        (np.tile([0.9, 0.2, 0.7, 0.05], (30, 1)), "identical for every image (per-label std < 0.001)"),
        (np.tile([0.9, 0.2, 0.7, 0.05], (30, 1)) + RNG.normal(0, 1e-4, (30, 4)), "identical for every image"),
    ],
)
def test_collapsed_predictions_get_one_warning(probabilities, expected):
    found = collapse_warnings(probabilities)
    assert len(found) == 1 and expected in found[0]


@pytest.mark.parametrize(
    "probabilities",
    [
        HEALTHY,
        np.column_stack([HEALTHY[:, :3], np.full(30, 1e-4)]),  # one label never predicted: not a collapse
        np.column_stack([np.full((30, 3), 0.5), HEALTHY[:, 3]]),  # one label still tracks the image
        HEALTHY[:1],  # one image cannot show that outputs ignore the input
        np.zeros((0, 4)),
    ],
)
def test_healthy_or_too_few_predictions_pass(probabilities):
    assert collapse_warnings(probabilities) == []


def test_tolerance_sets_what_counts_as_identical():
    nearly = np.tile([0.9, 0.2], (30, 1)) + np.random.default_rng(3).normal(0, 1e-4, (30, 2))
    assert collapse_warnings(nearly, tolerance=1e-3) and collapse_warnings(nearly, tolerance=1e-6) == []
    assert "std < 1e-06" in collapse_warnings(np.tile([0.9, 0.2], (30, 1)), tolerance=1e-6)[0]


def _fit_with(validate_probabilities, tmp_path, epochs: int = 2) -> None:
    """Two epochs of a 3-label linear model on 16 random samples, validated by a stand-in `validate`."""
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    inputs, targets = torch.randn(16, 5), (torch.rand(16, 3) < 0.3).float()
    val_targets = (np.random.default_rng(1).uniform(size=(30, 3)) < 0.3).astype(np.uint8)
    fit(
        model,
        nn.BCEWithLogitsLoss(),
        batches=lambda epoch: iter([(inputs[:8], targets[:8]), (inputs[8:], targets[8:])]),
        steps_per_epoch=2,
        validate=lambda module: (val_targets, validate_probabilities),
        config=make_config({"epochs": epochs, "warmup_epochs": 0}),
        run_dir=tmp_path,
        dist=DistInfo(),
        log=RunLog(None, progress=False),
        save_best=lambda module, metrics: None,
    )


def test_loop_prints_the_warning_of_each_collapsed_validation(tmp_path, capsys):
    _fit_with(np.full((30, 3), 0.5), tmp_path)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(lines) == 2 and all("collapsed to ~0.5" in line for line in lines)
    assert lines[0].startswith("warning: epoch 1: ") and lines[1].startswith("warning: epoch 2: ")


def test_loop_is_quiet_when_predictions_track_the_images(tmp_path, capsys):
    _fit_with(np.random.default_rng(2).uniform(size=(30, 3)), tmp_path)
    err = capsys.readouterr().err
    assert "warning" not in err and "epoch   2" in err


def test_training_on_features_that_ignore_the_image_prints_the_warning(demo_labels, train_argv, tmp_path, capsys):
    # Randomly initialised test_efficientnet pools to nearly the same vector for every image (std ~1e-3), so
    # the trained head's outputs are the same for every image: the "ignores its input" collapse.
    random_features = ("backbone=test_efficientnet", "weights=none", "top_blocks=0", "epochs=1")
    assert main(train_argv(demo_labels, tmp_path / "dead", *random_features, cache=tmp_path / "cache")) == 0
    assert "warning: epoch 1: predictions are identical for every image" in capsys.readouterr().err
    assert main(train_argv(demo_labels, tmp_path / "alive", "top_blocks=0", "epochs=1")) == 0
    assert "warning: epoch 1: predictions" not in capsys.readouterr().err  # ImageNet features: healthy

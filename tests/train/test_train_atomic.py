"""A `train` that fails before its first checkpoint leaves no partial run directory (issue 15, item 14), and
the training unit `train_head` works on in-memory features alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tailtag.cli import main
from tailtag.config import make_config
from tailtag.train.head import HeadData, train_head


def _with_broken_image(demo_labels: Path, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(demo_labels.parent, data)
    first = data.joinpath(demo_labels.read_text().splitlines()[1].split(",")[0])
    first.write_bytes(b"not an image at all")
    return data / demo_labels.name


def test_failed_train_leaves_no_run_directory(demo_labels, train_argv, tmp_path, capsys):
    labels = _with_broken_image(demo_labels, tmp_path)
    run = tmp_path / "runs" / "new"
    assert main(train_argv(labels, run, cache=tmp_path / "cache")) == 2
    assert "fix:" in capsys.readouterr().err
    assert not run.exists()


def test_failed_train_in_an_existing_folder_removes_only_what_it_wrote(demo_labels, train_argv, tmp_path, capsys):
    labels = _with_broken_image(demo_labels, tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    assert main(train_argv(labels, run, cache=tmp_path / "cache")) == 2
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]


def test_train_head_on_in_memory_features():
    rng = np.random.default_rng(0)
    labels = (rng.uniform(size=(60, 3)) < 0.4).astype(np.uint8)
    features = (labels @ rng.normal(size=(3, 8)) + 0.1 * rng.normal(size=(60, 8))).astype(np.float32)[None]
    data = HeadData(features[:, :40], sp.csr_matrix(labels[:40]), features[:, 40:], labels[40:])
    config = make_config({"epochs": 3, "batch_size": 8, "warmup_epochs": 0, "head": "linear", "top_blocks": 0})
    trained = train_head(data, config)
    assert trained.state["epoch"] == 3 and 0 <= trained.state["best_epoch"] < 3
    probabilities = trained.probabilities(features[:, 40:])
    assert probabilities.shape == (20, 3)
    np.testing.assert_allclose(probabilities, train_head(data, config).probabilities(features[:, 40:]))

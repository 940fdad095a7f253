"""A run's config.yaml that is empty or not a mapping is refused, not read as all defaults (issue 15, item 5)."""

from __future__ import annotations

import json

import pytest

from tailtag.config import TrainConfig, save_config
from tailtag.errors import TailtagError
from tailtag.inference import read_run


def _fake_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    save_config(TrainConfig(), run / "config.yaml")
    head = {"name": "linear", "in_features": 8, "n_outputs": 2, "hidden": 512, "dropout": 0.0}
    (run / "model.json").write_text(json.dumps({"backbone": {"name": "x"}, "head": head, "output": "sigmoid"}))
    (run / "labels.json").write_text(json.dumps({"names": ["a", "b"]}))
    (run / "model.safetensors").write_bytes(b"")
    return run


def test_complete_config_reads(tmp_path):
    files = read_run(_fake_run(tmp_path))
    assert files.config == TrainConfig() and files.model.head.n_outputs == 2


@pytest.mark.parametrize("content", ["", "# only a comment\n", "- a list\n", "just text\n"])
def test_empty_or_non_mapping_config_is_refused(tmp_path, content):
    run = _fake_run(tmp_path)
    (run / "config.yaml").write_text(content)
    with pytest.raises(TailtagError, match=r"config.yaml: .*(empty|mapping)"):
        read_run(run)

"""head mode end to end through `tailtag train`: the run directory, the warm feature cache, config errors,
and what happens when --out already holds a run of another config."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
import yaml
from safetensors.torch import load_file

from tailtag.cli import main
from tailtag.config import load_config
from tailtag.features import cache as feature_cache_module
from tailtag.features import compute_features
from tailtag.models import create_backbone, create_head
from tailtag.train.head_mode import split_backbone

METRIC_KEYS = ("macro_f1", "micro_f1", "mAP", "label_accuracy", "subset_accuracy")


def _names(labels: Path) -> list[str]:
    return labels.read_text().splitlines()[0].split(",")[1:]


def _history(run: Path) -> list[dict]:
    rows = json.loads((run / "metrics.json").read_text())["history"]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def test_run_directory_of_the_default_top_blocks_path(demo_labels, train_argv, run_files, tmp_path, capsys):
    run = tmp_path / "run"
    overrides = ("top_blocks=1", "head=mlp", "hidden=32")
    assert main(train_argv(demo_labels, run, *overrides)) == 0
    assert {path.name for path in run.iterdir()} == run_files
    names = _names(demo_labels)

    metrics = json.loads((run / "metrics.json").read_text())
    for key in METRIC_KEYS:
        assert 0.0 <= metrics[key] <= 1.0, key
    assert set(metrics["per_class"]) == set(names)
    assert {"ap", "f1", "precision", "recall"} <= set(metrics["per_class"][names[0]])
    assert [row["epoch"] for row in metrics["history"]] == [1, 2] and metrics["epoch"] in (1, 2)
    selected = metrics["history"][metrics["epoch"] - 1]
    assert all(metrics[key] == selected[key] for key in METRIC_KEYS)  # metrics.json is the selected epoch
    assert metrics["n_train"] + metrics["n_val"] == 96 and metrics["select_metric"] == "macro_f1"
    with open(run / "metrics.csv", newline="") as handle:
        assert [int(row["epoch"]) for row in csv.DictReader(handle)] == [1, 2]

    labels = json.loads((run / "labels.json").read_text())
    assert labels["names"] == names and labels["task"] == "multilabel"
    assert set(labels["buckets"]) == set(names) and len(labels["train_counts"]) == len(names)
    argv_config = train_argv(demo_labels, run, *overrides)
    assert load_config(run / "config.yaml") == load_config(None, argv_config[5::2])  # every --set value

    train = (run / "split" / "train.txt").read_text().split()
    val = (run / "split" / "val.txt").read_text().split()
    assert not set(train) & set(val) and len(train) + len(val) == 96
    assert (len(train), len(val)) == (metrics["n_train"], metrics["n_val"])
    err = capsys.readouterr().err
    assert err.count("epoch   1 ") == 1 and "selected epoch" in err


def test_saved_model_is_a_timm_backbone_with_a_trained_top_stage(demo_labels, train_argv, tmp_path):
    run = tmp_path / "run"
    assert main(train_argv(demo_labels, run, "top_blocks=1", "epochs=1")) == 0
    weights = load_file(str(run / "model.safetensors"))
    assert {key.split(".")[0] for key in weights} == {"backbone", "head"}
    backbone = {k.removeprefix("backbone."): v for k, v in weights.items() if k.startswith("backbone.")}
    fresh = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0)
    fresh.load_state_dict(backbone, strict=True)
    head = create_head("linear", 1280, 10)
    head.load_state_dict({k.removeprefix("head."): v for k, v in weights.items() if k.startswith("head.")})

    imagenet = create_backbone("tf_efficientnet_lite0", "imagenet").model.state_dict()
    trunk = [k for k in imagenet if not k.startswith(("blocks.6.", "conv_head.", "bn2."))]
    assert all(torch.equal(backbone[k], imagenet[k]) for k in trunk)  # the cached trunk never changes
    assert not torch.equal(backbone["blocks.6.0.conv_pw.weight"], imagenet["blocks.6.0.conv_pw.weight"])
    assert not torch.equal(backbone["conv_head.weight"], imagenet["conv_head.weight"])
    model_info = json.loads((run / "model.json").read_text())
    assert model_info["head"]["n_outputs"] == 10 and model_info["output"] == "sigmoid"
    assert model_info["backbone"]["preprocess"]["input_size"] == [64, 64]


def test_second_run_reads_the_feature_cache_warm(demo_labels, train_argv, tmp_path, monkeypatch, capsys):
    # Random weights ('none') are seeded by the config: the second run builds the same backbone, so it finds
    # the cache (keyed by a digest of the weights) and trains to the same numbers.
    cache = tmp_path / "cache"
    random_backbone = ("backbone=test_efficientnet", "weights=none", "top_blocks=0")
    assert main(train_argv(demo_labels, tmp_path / "first", *random_backbone, cache=cache)) == 0
    assert "features (test_efficientnet, center): 96 images" in capsys.readouterr().err

    def no_backbone_pass(*args, **kwargs):
        raise AssertionError("the feature cache was cold: images went through the backbone again")

    monkeypatch.setattr(feature_cache_module, "_run_backbone", no_backbone_pass)
    assert main(train_argv(demo_labels, tmp_path / "second", *random_backbone, cache=cache)) == 0
    assert "features (" not in capsys.readouterr().err
    assert _history(tmp_path / "second") == _history(tmp_path / "first")

    torch.manual_seed(0)
    backbone = create_backbone("test_efficientnet", None, input_size=64)
    paths = sorted((demo_labels.parent / "images").glob("*.jpg"))
    result = compute_features(backbone, paths, cache_dir=cache, num_workers=0, progress=False)
    assert (result.n_computed, result.n_cached) == (0, 96) and result.ok.all()


def test_top_blocks_cache_holds_the_maps_entering_the_last_stage(demo_labels, train_argv, tmp_path):
    cache = tmp_path / "cache"
    assert main(train_argv(demo_labels, tmp_path / "run", "top_blocks=2", "epochs=1", cache=cache)) == 0
    trunk, top, map_shape = split_backbone(create_backbone("tf_efficientnet_lite0", input_size=64), 2)
    assert map_shape == (112, 4, 4) and trunk.num_features == 112 * 4 * 4
    paths = sorted((demo_labels.parent / "images").glob("*.jpg"))
    result = compute_features(trunk, paths[:8], cache_dir=cache, num_workers=0, progress=False)
    assert result.n_computed == 0 and result.features.shape == (1, 8, 112 * 4 * 4)
    with torch.no_grad():  # the top (last 2 stages + conv_head) maps the cached activations to pooled features
        pooled = top(torch.from_numpy(result.features[0]))
    assert pooled.shape == (8, 1280) and torch.isfinite(pooled).all()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("lr=-1", "'lr' must be > 0, got -1"),
        ("epochs=two", "config key 'epochs': must be a whole number; got 'two'"),
        ("loss=asll", "'loss' must be one of bce, "),
        ("sampler=oversample", "'sampler' must be one of none, random, "),
        ("optimizer=adam", "config key 'optimizer': must be one of adamw, sgd"),
        ("top_blocks=9", "config key 'top_blocks': tf_efficientnet_lite0 has 7 stages; got 9"),
        ("learning_rate=0.1", "unknown config key(s) learning_rate; valid keys: mode, "),
    ],
)
def test_bad_config_value_exits_2_naming_the_key(override, message, demo_labels, train_argv, tmp_path, capsys):
    assert main(train_argv(demo_labels, tmp_path / "run", override)) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    if not override.startswith("top_blocks"):  # caught while reading the options, before anything is written
        assert not (tmp_path / "run").exists()


def test_other_config_is_refused_until_restart(
    demo_labels, train_argv, tmp_path, monkeypatch, capsys, interrupt_second_epoch
):
    run, first = tmp_path / "run", ("top_blocks=0", "lr=0.001")
    interrupt_second_epoch()
    assert main(train_argv(demo_labels, run, *first)) == 130
    monkeypatch.undo()
    checkpoint = (run / "checkpoint.pt").read_bytes()
    config = (run / "config.yaml").read_text()
    capsys.readouterr()

    assert main(train_argv(demo_labels, run, "top_blocks=0", "lr=0.01")) == 2
    err = capsys.readouterr().err
    assert f"--out {run} holds an unfinished run with a different config (lr: 0.001 -> 0.01)" in err
    assert "--restart to start over" in err and "features (" not in err  # refused before any work
    assert (run / "checkpoint.pt").read_bytes() == checkpoint and (run / "config.yaml").read_text() == config

    assert main(train_argv(demo_labels, run, "top_blocks=0", "lr=0.01", extra=("--restart",))) == 0
    assert "resuming" not in capsys.readouterr().err
    assert yaml.safe_load((run / "config.yaml").read_text())["lr"] == 0.01
    assert main(train_argv(demo_labels, tmp_path / "fresh", "top_blocks=0", "lr=0.01")) == 0
    assert _history(run) == _history(tmp_path / "fresh")  # started over: nothing of the lr=0.001 epoch left

    capsys.readouterr()
    assert main(train_argv(demo_labels, run, *first)) == 2
    assert "holds a finished run with a different config (lr: 0.01 -> 0.001)" in capsys.readouterr().err


def test_interrupted_run_resumes_with_the_same_config(
    demo_labels, train_argv, tmp_path, monkeypatch, capsys, interrupt_second_epoch
):
    run, overrides = tmp_path / "run", ("top_blocks=0", "epochs=3")
    interrupt_second_epoch()
    assert main(train_argv(demo_labels, run, *overrides)) == 130
    assert not (run / "model.safetensors").exists()
    monkeypatch.undo()
    assert main(train_argv(demo_labels, run, *overrides)) == 0
    assert f"resuming from {run / 'checkpoint.pt'} after epoch 1" in capsys.readouterr().err
    assert main(train_argv(demo_labels, tmp_path / "ref", *overrides)) == 0
    assert _history(run) == _history(tmp_path / "ref")
    ours, ref = load_file(str(run / "model.safetensors")), load_file(str(tmp_path / "ref" / "model.safetensors"))
    assert ours.keys() == ref.keys() and all(np.array_equal(ours[k].numpy(), ref[k].numpy()) for k in ref)

"""Every loss and sampler of the registries is selectable by name from the CLI and trains to a complete run.

One epoch each on pooled Lite0 features (top_blocks=0) read from the session's warm feature cache.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml

from tailtag.cli import main
from tailtag.losses import LOSSES, MULTICLASS_LOSSES, MULTILABEL_LOSSES
from tailtag.sampling import SAMPLERS

ONE_EPOCH = ("top_blocks=0", "epochs=1")
CLASSES = ("mountain", "other", "sea")


@pytest.fixture(scope="module")
def class_folders(demo_labels, tmp_path_factory) -> Path:
    """The demo images sorted into one folder per class (sea, else mountain, else other): a single-label table
    whose images, byte for byte the demo's, hit the warm feature cache."""
    root = tmp_path_factory.mktemp("classes")
    with open(demo_labels, newline="") as handle:
        for row in csv.DictReader(handle):
            name = "sea" if row["sea"] == "1" else "mountain" if row["mountain"] == "1" else "other"
            (root / name).mkdir(exist_ok=True)
            shutil.copy(demo_labels.parent / row["path"], root / name / Path(row["path"]).name)
    return root


def _check_complete(run: Path, run_files: set[str], names: list[str]) -> dict:
    """The run directory is complete and its metrics are finite; returns metrics.json."""
    assert {path.name for path in run.iterdir()} == run_files
    metrics = json.loads((run / "metrics.json").read_text())
    assert all(math.isfinite(metrics[key]) for key in ("macro_f1", "micro_f1", "mAP", "label_accuracy"))
    assert list(metrics["per_class"]) == names
    assert [row["epoch"] for row in metrics["history"]] == [1] and math.isfinite(metrics["history"][0]["train_loss"])
    return metrics


def test_help_lists_every_loss_and_sampler(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    for name, info in LOSSES.items():
        assert re.search(rf"^  {name} +{info.task} ", out, re.MULTILINE), name
    listed = re.search(r"samplers \(config key 'sampler'\): (.+)", out).group(1)
    assert listed.split(", ") == list(SAMPLERS)


@pytest.mark.parametrize("name", MULTILABEL_LOSSES)
def test_multilabel_loss_by_name(name, demo_labels, train_argv, run_files, tmp_path):
    run = tmp_path / "run"
    assert main(train_argv(demo_labels, run, f"loss={name}", *ONE_EPOCH)) == 0
    names = json.loads((run / "labels.json").read_text())["names"]
    metrics = _check_complete(run, run_files, names)
    assert yaml.safe_load((run / "config.yaml").read_text())["loss"] == name
    model_info = json.loads((run / "model.json").read_text())
    assert model_info["loss"] == name
    if name == "powerset":  # one logit per label combination, read out as per-label marginals
        labelsets = model_info["labelsets"]
        assert model_info["output"] == "powerset_marginals" and model_info["head"]["n_outputs"] == len(labelsets)
        assert len(labelsets) != len(names) and all(len(row) == len(names) for row in labelsets)
        assert all(0.0 <= metrics["per_class"][label]["recall"] <= 1.0 for label in names)
    else:
        assert model_info["output"] == "sigmoid" and model_info["head"]["n_outputs"] == len(names)


@pytest.mark.parametrize("name", MULTICLASS_LOSSES)
def test_multiclass_loss_by_name(name, class_folders, train_argv, run_files, tmp_path):
    run = tmp_path / "run"
    assert main(train_argv(class_folders, run, f"loss={name}", *ONE_EPOCH)) == 0
    _check_complete(run, run_files, list(CLASSES))
    labels, metrics = (json.loads((run / name).read_text()) for name in ("labels.json", "metrics.json"))
    assert labels["task"] == "multiclass" and sum(labels["train_counts"]) == metrics["n_train"]  # one label each
    model_info = json.loads((run / "model.json").read_text())
    assert (model_info["loss"], model_info["output"], model_info["head"]["n_outputs"]) == (name, "softmax", 3)


@pytest.mark.filterwarnings("ignore:ml_ros. cloned:UserWarning")  # MeanIR stops the cloning early on this set
@pytest.mark.parametrize("name", SAMPLERS)
def test_sampler_by_name(name, demo_labels, train_argv, run_files, tmp_path):
    run = tmp_path / "run"
    assert main(train_argv(demo_labels, run, f"sampler={name}", *ONE_EPOCH)) == 0
    _check_complete(run, run_files, json.loads((run / "labels.json").read_text())["names"])
    assert yaml.safe_load((run / "config.yaml").read_text())["sampler"] == name


def test_loss_and_sampler_params_reach_them(demo_labels, train_argv, tmp_path):
    # ASL with both focusing exponents 0 and no clipping is BCE (Ridnik et al. 2021): same training, same numbers.
    asl = ("loss=asl", "loss_params={gamma_pos: 0, gamma_neg: 0, clip: 0}", *ONE_EPOCH)
    assert main(train_argv(demo_labels, tmp_path / "asl", *asl)) == 0
    assert main(train_argv(demo_labels, tmp_path / "bce", "loss=bce", *ONE_EPOCH)) == 0
    assert main(train_argv(demo_labels, tmp_path / "asl4", "loss=asl", *ONE_EPOCH)) == 0
    rows = {run: json.loads((tmp_path / run / "metrics.json").read_text())["history"][0] for run in ("asl", "bce")}
    assert rows["asl"]["train_loss"] == pytest.approx(rows["bce"]["train_loss"], rel=1e-5)
    assert rows["asl"]["mAP"] == pytest.approx(rows["bce"]["mAP"], abs=1e-6)
    default_asl = json.loads((tmp_path / "asl4" / "metrics.json").read_text())["history"][0]
    assert abs(default_asl["train_loss"] - rows["bce"]["train_loss"]) > 0.05  # the defaults (gamma_neg 4) act

    # ml_ros reports the percentage it was given when MeanIR stops the cloning early (as on this set).
    grown = ("sampler=ml_ros", "sampler_params={percentage: 100}", *ONE_EPOCH)
    with pytest.warns(UserWarning, match=r"ml_ros: cloned \d+ of the \d+ images asked \(percentage=100\)"):
        assert main(train_argv(demo_labels, tmp_path / "ros", *grown)) == 0
    config = yaml.safe_load((tmp_path / "ros" / "config.yaml").read_text())
    assert config["sampler_params"] == {"percentage": 100}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("loss=ce",), "loss 'ce': a multi-class loss needs exactly one label per image"),
        (("loss=focal", "loss_params={gama: 2}"), "'loss_params' of loss 'focal' has no parameter(s) gama; valid: "),
        (("loss=bce", "loss_params={reduction: sum}"), "'loss_params' of loss 'bce' has no parameter(s) reduction"),
        (("sampler=ml_ros", "sampler_params={pct: 5}"), "'sampler_params' of sampler 'ml_ros' has no parameter(s) pct"),
        (("sampler=repeat_factor", "sampler_params={threshold: -1}"), "threshold"),
    ],
)
def test_bad_loss_or_sampler_setting_exits_2(overrides, message, demo_labels, train_argv, tmp_path, capsys):
    assert main(train_argv(demo_labels, tmp_path / "run", *overrides, *ONE_EPOCH)) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("mode", ["head", "finetune"])
def test_powerset_epoch_too_large_for_memory_fails_before_feature_extraction(mode, tmp_path, capsys):
    # 1,000 images of label "a", and 300 more that each have a label combination of their own: raising every
    # combination to the largest would need about 200x the training set per epoch. No image file exists, so
    # reaching feature extraction would fail differently.
    rows = ["path,tags", *(f"img{i}.jpg,a" for i in range(1000)), *(f"u{j}.jpg,a b{j}" for j in range(300))]
    labels = tmp_path / "labels.csv"
    labels.write_text("\n".join(rows) + "\n", encoding="utf-8")
    argv = [
        "train",
        str(labels),
        "--images",
        str(tmp_path),
        "--out",
        str(tmp_path / "run"),
        "--set",
        "sampler=powerset_ros",
    ]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "would make an epoch of" in captured.err and "sampler_params={target_size: " in captured.err
    assert "features (" not in captured.out + captured.err and "Traceback" not in captured.err
    assert not (tmp_path / "run").exists()  # nothing written either


@pytest.mark.parametrize(
    ("overrides", "warns"),
    [
        (("loss=cb_bce", "top_blocks=0"), True),
        (("loss=focal", "loss_params={class_weight: inverse_freq}", "top_blocks=0", "head=scaled"), True),
        (("loss=cb_bce", "top_blocks=0", "optimizer=sgd"), False),  # SGD steps scale with the weights
        (("loss=cb_bce", "top_blocks=0", "head=mlp"), False),  # the hidden layer is shared by every label
        (("loss=cb_bce", "top_blocks=1"), False),  # the trained last stage is shared
    ],
)
def test_class_weights_that_adamw_cancels_are_warned_about(overrides, warns, demo_labels, train_argv, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(train_argv(demo_labels, tmp_path / "run", *ONE_EPOCH, *overrides)) == 0
    found = [w for w in caught if "do not depend on that factor" in str(w.message)]
    assert bool(found) == warns


def test_cli_prints_warnings_as_plain_lines(demo_labels, train_argv, tmp_path, child_env):
    argv = train_argv(demo_labels, tmp_path / "run", *ONE_EPOCH, "loss=cb_bce")
    done = subprocess.run(
        [sys.executable, "-m", "tailtag", *argv], env=child_env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "warning: loss cb_bce: its class weights multiply each label's whole loss" in done.stderr
    assert "UserWarning" not in done.stderr and ".py:" not in done.stderr

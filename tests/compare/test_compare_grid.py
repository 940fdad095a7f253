"""Grid parsing, expansion and the up-front validation errors of `tailtag compare` CONFIG files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tailtag.compare import load_compare_config, parse_compare_config
from tailtag.compare.grid import Choice, Rule, cell_key, training_key
from tailtag.errors import OptionError

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def _raw(**sections) -> dict:
    raw = {
        "data": {"labels": "labels.csv"},
        "losses": ["bce", {"name": "focal", "params": {"gamma": 2.0}}, "asl"],
        "samplers": ["none", "class_aware"],
        "heads": ["linear", "mlp"],
        "thresholds": ["fixed", {"strategy": "per_class_f1", "calibration": "temperature"}],
        "seeds": [0, 1, 2],
    }
    raw.update(sections)
    return raw


def test_expansion_counts_and_order():
    config = parse_compare_config(_raw())
    trainings = config.trainings()
    assert len(trainings) == 3 * 2 * 2 * 3
    assert config.n_cells() == 36 * 2
    assert [t.seed for t in trainings[:3]] == [0, 1, 2]  # seeds innermost
    assert trainings[3].head == "mlp"
    assert trainings[0].loss == Choice("bce")
    assert config.losses[1].label == "focal(gamma=2.0)"
    assert [r.name for r in config.rules] == ["fixed 0.5", "temperature + per_class_f1"]
    assert config.rules[0] == Rule("fixed 0.5", "fixed", {"value": 0.5}, "none")
    assert config.train == {"mode": "head", "top_blocks": 0}


def test_train_values_merge_base_and_grid_point():
    config = parse_compare_config(_raw(train={"epochs": 5}))
    values = config.train_values(config.trainings()[3 * 2 * 2 + 1])  # focal, none, linear, seed 1
    assert values["loss"] == "focal" and values["loss_params"] == {"gamma": 2.0}
    assert values["sampler"] == "none" and values["head"] == "linear" and values["seed"] == 1
    assert values["epochs"] == 5 and values["top_blocks"] == 0


def test_keys_are_stable_and_distinct():
    config = parse_compare_config(_raw())
    keys = [training_key(config, t, "data1") for t in config.trainings()]
    assert len(set(keys)) == len(keys)
    again = parse_compare_config(_raw())
    assert keys == [training_key(again, t, "data1") for t in again.trainings()]
    assert training_key(config, config.trainings()[0], "data2") != keys[0]
    changed = parse_compare_config(_raw(train={"epochs": 7}))
    assert training_key(changed, changed.trainings()[0], "data1") != keys[0]
    cells = {cell_key(keys[0], rule) for rule in config.rules}
    assert len(cells) == 2


@pytest.mark.parametrize(
    ("sections", "match"),
    [
        ({"losses": ["bce", "focall"]}, r"'losses\[1\]' \(focall\): 'loss' must be one of bce, .*focal"),
        (
            {"losses": [{"name": "focal", "params": {"gama": 2}}]},
            r"'losses\[0\]'.*no parameter\(s\) gama; valid:.*gamma",
        ),
        (
            {"samplers": ["none", "clas_aware"]},
            r"'samplers\[1\]' \(clas_aware\): 'sampler' must be one of .*class_aware",
        ),
        ({"heads": ["linear", "big"]}, r"'heads\[1\]': 'head' must be one of linear, mlp, scaled, got 'big'"),
        ({"thresholds": ["per_class"]}, r"'thresholds\[0\]': unknown strategy 'per_class'; valid strategies: fixed,"),
        (
            {"thresholds": [{"strategy": "fixed", "calibration": "isotonic"}]},
            r"calibration': unknown method 'isotonic'",
        ),
        ({"seeds": [0, 0]}, r"'seeds' must be a list of distinct integers"),
        ({"seeds": [3]}, r"'seeds' has 1 seed\(s\); the noise statement needs >= 2"),
        ({"grid": 1}, r"unknown key\(s\) grid; valid keys: data, train, losses"),
        ({"train": {"loss": "bce"}}, r"'train' sets loss, which the grid sets per cell"),
        ({"train": {"mode": "finetune"}}, r"'train.mode' is 'finetune'; compare trains on cached features"),
        ({"train": {"top_blocks": 1}}, r"'train.top_blocks' is 1; compare trains heads on pooled features"),
        ({"train": {"epochz": 3}}, r"'train'.*unknown config key\(s\) epochz"),
        ({"data": {"labels": "x.csv", "fractions": [0.5, 0.5]}}, r"'data.fractions' must be 3 positive numbers"),
        ({"rank_by": "f1"}, r"'rank_by' must be one of macro_f1, micro_f1"),
        ({"baseline": {"loss": "ce"}}, r"'baseline.loss' is 'ce', which is not in the grid"),
        ({"losses": ["bce", "bce"]}, r"'losses' lists bce more than once"),
    ],
)
def test_validation_errors_name_the_key(sections, match):
    with pytest.raises(OptionError, match=match):
        parse_compare_config(_raw(**sections), source="grid.yaml")


def test_all_problems_reported_at_once():
    with pytest.raises(OptionError) as caught:
        parse_compare_config(_raw(losses=["nope"], samplers=["nada"], thresholds=["zilch"]), source="g.yaml")
    message = str(caught.value)
    assert message.startswith("g.yaml: bad compare config:")
    assert "losses[0]" in message and "samplers[0]" in message and "thresholds[0]" in message


def test_file_errors(tmp_path):
    with pytest.raises(OptionError, match=r"CONFIG .*missing.yaml: file not found"):
        load_compare_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(OptionError, match=r"expected a mapping with keys data, train"):
        load_compare_config(bad)


@pytest.mark.parametrize(("name", "n_cells"), [("compare-miml.yaml", 48 * 3), ("compare-demo.yaml", None)])
def test_recipes_are_valid(name, n_cells):
    config = load_compare_config(RECIPES / name)
    if n_cells is not None:
        assert config.n_cells() == n_cells
    assert len(config.seeds) >= 2


def test_import_does_not_load_torch():
    import subprocess
    import sys

    code = "import sys, tailtag.compare, tailtag.commands.compare; print('torch' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )

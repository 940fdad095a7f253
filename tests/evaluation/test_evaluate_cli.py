"""`tailtag evaluate` end to end on a small trained run: the JSON contract, the files, held-out decisions,
other data sets, refitting, and the loud warnings of a collapsed model."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from tailtag.cli import main
from tailtag.evaluation import evaluate_run
from tailtag.inference import read_run

STABLE_KEYS = {
    "macro_f1", "micro_f1", "mAP", "label_accuracy", "hamming_loss", "subset_accuracy", "per_class", "baselines",
    "buckets", "warnings",
}  # fmt: skip


def _evaluate_json(capsys, *argv) -> dict:
    capsys.readouterr()
    assert main(["evaluate", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_contract_and_files(small_run, capsys, tmp_path):
    summary = _evaluate_json(capsys, small_run, "--out", tmp_path / "ev")
    assert STABLE_KEYS <= set(summary)
    names = read_run(small_run).names
    thresholds = json.loads((small_run / "thresholds.json").read_text())["thresholds"]
    assert list(summary["per_class"]) == names
    for name, threshold in zip(names, thresholds, strict=True):
        row = summary["per_class"][name]
        assert {"precision", "recall", "f1", "ap", "support", "threshold"} <= set(row)
        assert row["threshold"] == pytest.approx(threshold)
    assert set(summary["baselines"]) == {"prior", "all_negative"}
    assert summary["baselines"]["all_negative"]["macro_f1"] == 0.0
    assert summary["split"] == "val" and "cross-fitting" in summary["threshold_gain"]["how"]
    assert summary["threshold_gain"]["macro_f1"] == pytest.approx(summary["macro_f1"] - summary["at_0_5"]["macro_f1"])
    # calibration is one monotone map per label: ranking metrics cannot move
    assert summary["mAP"] == pytest.approx(summary["at_0_5"]["mAP"], abs=1e-6)
    for bucket in summary["buckets"].values():
        assert {"mAP", "macro_f1"} <= set(bucket)
    written = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert written["macro_f1"] == summary["macro_f1"]
    rows = list(csv.DictReader((tmp_path / "ev" / "per_class.csv").open()))
    assert [row["label"] for row in rows] == names
    html = (tmp_path / "ev" / "report.html").read_text()
    assert "<table" in html and names[0] in html


def test_val_decisions_are_out_of_fold_and_test_data_uses_the_saved_decision(small_run):
    on_val = evaluate_run(small_run, progress=False)
    saved = read_run(small_run)
    from tailtag.thresholds.decision import load_decision

    decision = load_decision(saved.path)
    arrays = on_val.arrays
    # cross-fitted decisions come from thresholds fitted without each image: not the saved ones everywhere
    assert not np.array_equal(arrays.decisions, decision.predict(arrays.raw))
    table = saved.training_table()
    on_all = evaluate_run(small_run, table=table, progress=False)
    assert on_all.summary["split"] == "all" and on_all.summary["n_images"] == table.n_images
    assert np.array_equal(on_all.arrays.decisions, decision.predict(on_all.arrays.raw))


def test_other_data_with_missing_labels_is_refused(small_run, tmp_path, capsys):
    table = read_run(small_run).training_table()
    labels = tmp_path / "fewer.csv"
    with labels.open("w") as handle:
        handle.write("img_path,tags\n")
        for path in table.paths[:10]:
            handle.write(f"{path},sea\n")
    status = main(["evaluate", str(small_run), "--data", str(labels), "--images", str(table.image_root)])
    assert status == 2
    err = capsys.readouterr().err
    assert "lacks" in err and "fix:" in err


def test_refit_with_another_strategy_rewrites_thresholds(small_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    summary = _evaluate_json(capsys, run, "--strategy", "top_k", "--strategy-param", "max_tags=2", "--no-report")
    saved = json.loads((run / "thresholds.json").read_text())
    assert saved["strategy"] == "top_k" and saved["params"]["max_tags"] == 2
    assert summary["threshold_strategy"] == "top_k"
    status = main(["evaluate", str(run), "--strategy", "nope"])
    assert status == 2 and "valid strategies" in capsys.readouterr().err


def test_a_collapsed_model_is_called_out(small_run, tmp_path, capsys):
    run = tmp_path / "collapsed"
    shutil.copytree(small_run, run)
    state = load_file(str(run / "model.safetensors"))
    state = {k: torch.zeros_like(v) if k.startswith("head.") else v for k, v in state.items()}
    save_file(state, str(run / "model.safetensors"))
    summary = _evaluate_json(capsys, run, "--refit", "--no-report")
    text = " ".join(summary["warnings"])
    assert "collapsed to ~0.5" in text
    assert "does not beat the prior baseline" in text

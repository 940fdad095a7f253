"""`tailtag make-longtail` end to end: files written, reports, split folder readable, user errors exit 2."""

import json
import warnings

import numpy as np
import pytest

from tailtag.cli import main
from tailtag.labels.readers import read_labels
from tailtag.split import read_split

NAMES = ["sky", "tree", "sea", "boat", "moon"]


def write_onehot(folder, n=400, seed=0, sites=False):
    """One-hot CSV, label j on ~ 0.6 / (j + 1) of the images (every image has >= 1 label), optional site."""
    rng = np.random.default_rng(seed)
    dense = (rng.random((n, len(NAMES))) < 0.6 / np.arange(1, len(NAMES) + 1)).astype(int)
    dense[dense.sum(axis=1) == 0, 0] = 1
    header = "filename," + ",".join(NAMES) + (",site" if sites else "")
    rows = [
        f"im{i:04d}.jpg," + ",".join(map(str, row)) + (f",s{i // 5}" if sites else "")
        for i, row in enumerate(dense.tolist())
    ]
    path = folder / "labels.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def run(capsys, *argv):
    status = main(["make-longtail", *map(str, argv)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_writes_split_folder_and_report(tmp_path, capsys):
    labels = write_onehot(tmp_path)
    out = tmp_path / "lt"
    status, stdout, err = run(
        capsys, labels, "--out", out, "--test-per-class", 8, "--val-per-class", 4, "--imbalance-factor", 10
    )
    assert status == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "longtail_report.json",
        "split_report.json",
        "test.txt",
        "train.txt",
        "val.txt",
    ]
    table = read_labels(labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a long-tailed subset leaves images out on purpose: no warning
        subsets = read_split(out, table)
    assert set(subsets) == {"train", "val", "test"}
    assert not set(subsets["train"].tolist()) & set(subsets["test"].tolist())
    assert not set(subsets["train"].tolist()) & set(subsets["val"].tolist())
    report = json.loads((out / "longtail_report.json").read_text())
    assert report["method"] == "longtail" and report["asked"]["imbalance_factor"] == 10.0
    per_label = report["per_label"]
    assert [row["rank"] for row in per_label] == list(range(5))
    assert per_label[0]["label"] == "sky"  # the most frequent label is the head
    assert all(row["test"] >= 8 and row["val"] >= 4 for row in per_label)
    trained = table.matrix[subsets["train"]].sum(axis=0).A1
    assert [row["train"] for row in per_label] == [int(trained[NAMES.index(r["label"])]) for r in per_label]
    assert report["splits"]["train"]["n_images"] == len(subsets["train"])
    assert json.loads((out / "split_report.json").read_text())["subset_of_labels"] is True
    assert report["achieved_imbalance_factor"] == pytest.approx(trained.max() / trained.min(), abs=1e-3)
    assert "sky" in stdout and "imbalance factor asked 10, achieved" in stdout and "Traceback" not in err


def test_same_seed_same_files_other_seed_differs_no_val_note(tmp_path, capsys):
    labels = write_onehot(tmp_path)
    texts = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        status, _, err = run(capsys, labels, "--out", tmp_path / name, "--test-per-class", 5, "--seed", seed)
        assert status == 0, err
        assert "no val.txt" in err and not (tmp_path / name / "val.txt").exists()
        texts.append((tmp_path / name / "train.txt").read_text() + (tmp_path / name / "test.txt").read_text())
    assert texts[0] == texts[1] and texts[0] != texts[2]


def test_ratios_pareto_and_named_order(tmp_path, capsys):
    labels = write_onehot(tmp_path)
    status, _, err = run(
        capsys, labels, "--out", tmp_path / "r", "--test-per-class", 5, "--ratios", "5:4:3:2:1", "--head-count", 20
    )
    assert status == 0, err
    report = json.loads((tmp_path / "r" / "longtail_report.json").read_text())
    assert report["asked"]["order"] == "given" and report["asked"]["ratios"] == [5, 4, 3, 2, 1]
    assert [row["target"] for row in report["per_label"]] == [20, 16, 12, 8, 4]
    status, _, err = run(
        capsys, labels, "--out", tmp_path / "p", "--test-per-class", 5, "--profile", "pareto",
        "--order", "moon,boat,sea,tree,sky", "--imbalance-factor", 4, "--head-count", 8,
    )  # fmt: skip
    assert status == 0, err
    per_label = json.loads((tmp_path / "p" / "longtail_report.json").read_text())["per_label"]
    assert [row["label"] for row in per_label] == ["moon", "boat", "sea", "tree", "sky"]
    assert per_label[0]["target"] == 8 and per_label[-1]["target"] == 2


def test_group_column_from_the_label_file(tmp_path, capsys):
    labels = write_onehot(tmp_path, sites=True)
    out = tmp_path / "g"
    status, stdout, err = run(capsys, labels, "--out", out, "--test-per-class", 5, "--group-column", "site")
    assert status == 0, err
    site = {f"im{i:04d}.jpg": f"s{i // 5}" for i in range(400)}
    train = {site[p] for p in (out / "train.txt").read_text().split()}
    test = {site[p] for p in (out / "test.txt").read_text().split()}
    assert test and not train & test
    assert "left out of train (group in val/test)" in stdout


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--test-per-class", "5", "--imbalance-factor", "0.5"], "--imbalance-factor: must be >= 1"),
        (["--test-per-class", "500"], "--test-per-class 500 + --val-per-class 0: 5 labels have no more than 500"),
        (["--test-per-class", "5", "--ratios", "3,2,1"], "--ratios: expected one ratio per label (5); got 3"),
        (["--test-per-class", "5", "--ratios", "3,two,1"], "--ratios: expected comma-separated numbers"),
        (["--test-per-class", "5", "--order", "sky,tree"], "--order: expected frequency, random, given or all 5"),
        (["--test-per-class", "5", "--min-count", "0"], "--min-count: must be >= 1"),
    ],
)
def test_user_errors_exit_2_with_the_flag_and_fix(tmp_path, capsys, argv, match):
    labels = write_onehot(tmp_path)
    status, _, err = run(capsys, labels, "--out", tmp_path / "x", *argv)
    assert status == 2
    assert match in err and "fix:" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_existing_split_needs_force(tmp_path, capsys):
    labels = write_onehot(tmp_path)
    assert run(capsys, labels, "--out", tmp_path / "s", "--test-per-class", 5)[0] == 0
    status, _, err = run(capsys, labels, "--out", tmp_path / "s", "--test-per-class", 5)
    assert status == 2 and "already holds a split" in err and "--force" in err
    assert run(capsys, labels, "--out", tmp_path / "s", "--test-per-class", 6, "--force")[0] == 0
    assert json.loads((tmp_path / "s" / "longtail_report.json").read_text())["asked"]["test_per_class"] == 6

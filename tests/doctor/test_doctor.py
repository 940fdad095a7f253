"""tailtag doctor: detection of injected noise, planted duplicates and leaks, and the CLI end to end."""

from __future__ import annotations

import csv
import json

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import average_precision_score

from tailtag.doctor.duplicates import find_duplicates
from tailtag.doctor.issues import find_issues
from tailtag.doctor.oof import as_table, oof_probabilities


def test_injected_noise_is_ranked_far_above_chance(noisy_data):
    from tailtag.config import make_config
    from tailtag.doctor.oof import head_values

    features, noisy, injected = noisy_data()
    values = head_values(
        make_config({"epochs": 20, "lr": 0.01, "warmup_epochs": 0, "batch_size": 32, "num_workers": 0})
    )
    probs, fold = oof_probabilities(features[None], as_table(noisy, list("abcde")), values, folds=3, seed=0)
    assert sorted(np.bincount(fold).tolist()) == [133, 133, 134]
    issues = find_issues(sp.csr_matrix(noisy), probs)
    ap = average_precision_score(injected.ravel(), issues.pair_scores.ravel())
    assert ap >= 0.5 and ap >= 5 * injected.mean()
    assert injected[issues.rows, issues.cols].mean() >= 0.5  # most flagged pairs are injected ones
    assert set(issues.kind()[issues.given == 1]) <= {"wrong"}


def test_planted_duplicates_and_leaks():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 16)).astype(np.float32)
    x[10] = x[3] + 0.01 * rng.normal(size=16)
    x[40] = x[20] * 2.0  # same direction: cosine 1
    paths = np.array([f"{i}.jpg" for i in range(50)], dtype=object)
    pairs = find_duplicates(x, paths, [["5.jpg", "6.jpg"]], 0.95)
    assert {(int(a), int(b)) for a, b in zip(pairs.a, pairs.b, strict=True)} == {(3, 10), (20, 40), (5, 6)}
    assert pairs.exact.tolist().count(True) == 1
    from tailtag.doctor.duplicates import duplicate_table

    part = np.array(["train"] * 25 + ["test"] * 25, dtype=object)
    leaks = [(r["img_path_a"], r["img_path_b"]) for r in duplicate_table(pairs, paths, part) if r["leak"]]
    assert leaks == [("20.jpg", "40.jpg")]


def test_cli_end_to_end(tmp_path):
    from tailtag.cli import main
    from tailtag.demo import make_demo_dataset
    from tailtag.labels.readers import read_labels

    labels = make_demo_dataset(tmp_path / "data", n_images=60, size=64)
    sets = ["image_size=64", "num_workers=0", "epochs=3", "warmup_epochs=0", f"cache_dir={tmp_path / 'cache'}"]
    out, fixed = tmp_path / "out", tmp_path / "fixed.csv"
    argv = ["doctor", str(labels), "--images", str(labels.parent), "--out", str(out), "--folds", "2"]
    argv += [a for s in sets for a in ("--set", s)] + ["--fix", str(fixed), "--fix-top", "3"]
    assert main(argv) == 0
    names = {"label_issues.csv", "image_issues.csv", "duplicates.csv", "doctor.json", "doctor.html", "changes.csv"}
    assert {p.name for p in out.iterdir()} == names
    with open(out / "label_issues.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["img_path", "label", "issue", "given", "score", "rank"]
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    assert all(r["issue"] == ("wrong" if r["given"] == "1" else "missing") for r in rows)
    data = json.loads((out / "doctor.json").read_text())
    assert data["counts"]["label_issues"] == len(rows) and data["fix"]["changes"] == min(3, len(rows))
    assert "<img src='data:image/jpeg;base64," in (out / "doctor.html").read_text()
    before, after = read_labels(labels), read_labels(fixed)
    assert (before.matrix != after.matrix).nnz == data["fix"]["changes"]


def test_cli_user_errors_exit_2(tmp_path, capsys):
    from tailtag.cli import main

    labels = tmp_path / "l.csv"
    labels.write_text("img,a\n1.jpg,1\n", encoding="utf-8")
    assert main(["doctor", str(labels), "--out", str(tmp_path / "o"), "--folds", "1"]) == 2
    assert "--folds must be >= 2" in capsys.readouterr().err
    assert main(["doctor", str(labels), "--out", str(tmp_path / "o"), "--fix", str(tmp_path / "f.csv")]) == 2

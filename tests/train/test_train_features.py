"""`tailtag train --features`: training, evaluation and prediction from embeddings computed elsewhere, no images."""

from __future__ import annotations

import csv
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from tailtag.cli import main

LABELS = ("cat", "dog", "sea", "sun", "tree", "rare")


def _data(tmp_path, n: int = 240, dim: int = 16, seed: int = 0):
    """A tags CSV of n images and an .npz of their features: each label adds its own direction, plus noise, so a
    linear head can learn them (the last label is a tail label of a few positives)."""
    rng = np.random.default_rng(seed)
    prevalence = np.array([0.4, 0.35, 0.3, 0.25, 0.2, 0.04])
    y = rng.random((n, len(LABELS))) < prevalence
    directions = rng.normal(size=(len(LABELS), dim)) * 2.0
    x = (y @ directions + rng.normal(size=(n, dim))).astype(np.float32)
    paths = [f"img/{i:04d}.jpg" for i in range(n)]
    with open(tmp_path / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["img_path", "tags"])
        for path, row in zip(paths, y, strict=True):
            writer.writerow([path, "|".join(name for name, on in zip(LABELS, row, strict=True) if on)])
    return paths, x, y


def _cli(*argv: str) -> int:
    return main(list(argv))


def test_train_evaluate_predict_from_npz(tmp_path, capsys):
    paths, x, _ = _data(tmp_path)
    # absolute feature paths written elsewhere (a cluster's layout) plus rows the labels do not know
    extra = [f"/cluster/set/img/x{i}.jpg" for i in range(5)]
    feats = tmp_path / "feats.npz"
    np.savez(feats, paths=np.array(["/cluster/set/" + p for p in paths] + extra),
             features=np.concatenate([x, np.zeros((5, x.shape[1]), np.float32)]).astype(np.float16))  # fmt: skip
    run = tmp_path / "run"
    assert _cli("train", str(tmp_path / "labels.csv"), "--features", str(feats), "--out", str(run),
                "--set", "epochs=20", "--set", "head=linear", "--set", "lr=0.03") == 0  # fmt: skip
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "features: 240 of 240 label rows matched (suffix paths); 5 of 245 feature rows have no label row" in out
    model = json.loads((run / "model.json").read_text())
    assert model["backbone"]["kind"] == "features" and model["backbone"]["num_features"] == 16
    assert json.loads((run / "data.json").read_text())["features"]["path"] == str(feats.resolve())
    assert (run / "thresholds.json").is_file() and (run / "calibration.json").is_file()

    assert _cli("evaluate", str(run), "--json", "--no-report") == 0  # no images anywhere: data.json's features
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["n_images"] > 0
    macro = summary["metrics"]["macro_f1"] if "metrics" in summary else summary["macro_f1"]
    assert macro > 0.8  # a linear signal: far above the prior's macro-F1 (0, or about 0.4 for "all positive")

    pred = tmp_path / "pred.csv"
    assert _cli("predict", str(run), "--features", str(feats), "--out", str(pred), "--max-tags", "2") == 0
    rows = list(csv.reader(pred.open()))
    assert rows[0] == ["img_path", "tags"] and len(rows) == 1 + 245
    assert all(len([t for t in r[1].split(",") if t]) <= 2 for r in rows[1:])
    assert {t for r in rows[1:] for t in r[1].split(",") if t} <= set(LABELS)


def test_npy_with_feature_paths_and_parquet_shards(tmp_path, capsys):
    paths, x, _ = _data(tmp_path, n=120)
    shards = tmp_path / "shards"
    shards.mkdir()
    np.save(shards / "part-0.npy", x[:60])
    (shards / "part-0.txt").write_text("\n".join(paths[:60]))
    pq.write_table(pa.table({"path": paths[60:], "v": list(map(list, x[60:]))}), shards / "part-1.parquet")
    run = tmp_path / "run"
    assert _cli("train", str(tmp_path / "labels.csv"), "--features", str(shards), "--out", str(run),
                "--set", "epochs=3", "--set", "sampler=repeat_factor", "--set", "loss=asl") == 0  # fmt: skip
    captured = capsys.readouterr()
    assert "120 of 120 label rows matched (exact paths)" in captured.out + captured.err
    np.save(tmp_path / "all.npy", x)
    (tmp_path / "all.txt").write_text("\n".join(paths))
    pred = tmp_path / "pred.jsonl"
    assert _cli("predict", str(run), "--features", str(tmp_path / "all.npy"), "--feature-paths",
                str(tmp_path / "all.txt"), "--out", str(pred)) == 0  # fmt: skip
    first = json.loads(pred.read_text().splitlines()[0])
    assert first["img_path"] == paths[0] and set(first["probabilities"]) == set(LABELS)


def test_no_match_and_finetune_are_refused_before_any_work(tmp_path, capsys):
    _data(tmp_path, n=40)
    feats = tmp_path / "f.npz"
    np.savez(feats, paths=np.array(["other/1.jpg", "other/2.jpg"]), features=np.zeros((2, 4), np.float32))
    run = tmp_path / "run"
    assert _cli("train", str(tmp_path / "labels.csv"), "--features", str(feats), "--out", str(run)) == 2
    err = capsys.readouterr().err
    assert "none of the 40 image paths" in err and "img/0000.jpg" in err and "other/1.jpg" in err and "fix:" in err
    assert not run.exists()
    assert _cli("train", str(tmp_path / "labels.csv"), "--features", str(feats), "--out", str(run),
                "--mode", "finetune") == 2  # fmt: skip
    assert "fix: leave mode at 'head'" in capsys.readouterr().err


def test_a_features_run_refuses_images_with_the_fix(tmp_path, capsys):
    paths, x, _ = _data(tmp_path, n=80)
    feats = tmp_path / "f.npz"
    np.savez(feats, paths=np.array(paths), features=x)
    run = tmp_path / "run"
    assert _cli("train", str(tmp_path / "labels.csv"), "--features", str(feats), "--out", str(run),
                "--set", "epochs=2") == 0  # fmt: skip
    capsys.readouterr()
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (32, 32), "red").save(tmp_path / "imgs" / "a.jpg")
    assert _cli("predict", str(run), str(tmp_path / "imgs"), "--out", str(tmp_path / "p.csv")) == 2
    assert "trained on features computed elsewhere" in capsys.readouterr().err
    assert _cli("export", str(run), "--out", str(tmp_path / "m.onnx")) == 2
    assert "fix: tailtag predict" in capsys.readouterr().err
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, paths=np.array(paths), features=np.zeros((80, 3), np.float32))
    assert _cli("predict", str(run), "--features", str(wrong), "--out", str(tmp_path / "q.csv")) == 2
    assert "vectors of 3 values, but the run's head takes 16" in capsys.readouterr().err


@pytest.mark.parametrize("override", [True, False])
def test_evaluate_features_override(tmp_path, capsys, override):
    paths, x, _ = _data(tmp_path, n=80)
    feats = tmp_path / "f.npz"
    np.savez(feats, paths=np.array(paths), features=x)
    run = tmp_path / "run"
    assert _cli("train", str(tmp_path / "labels.csv"), "--features", str(feats), "--out", str(run),
                "--set", "epochs=2") == 0  # fmt: skip
    moved = tmp_path / "moved.npz"
    feats.rename(moved)
    capsys.readouterr()
    argv = ["evaluate", str(run), "--json"] + (["--features", str(moved)] if override else [])
    if override:
        assert _cli(*argv) == 0
        report = (run / "eval-val" / "report.html").read_text()
        assert "No thumbnails: this run was trained on features computed elsewhere" in report
    else:
        assert _cli(*argv) == 2
        assert "which no longer exist" in capsys.readouterr().err


def test_scoring_from_features_in_one_batch_equals_the_scorer(tmp_path):
    import torch

    from tailtag.features.external import read_features
    from tailtag.inference import load_model, score_features

    paths, x, _ = _data(tmp_path, n=120)
    feats = tmp_path / "feats.npz"
    np.savez(feats, paths=np.array(paths), features=x)
    run = tmp_path / "run"
    assert _cli("train", str(tmp_path / "labels.csv"), "--features", str(feats), "--out", str(run),
                "--set", "epochs=2", "--set", "head=linear") == 0  # fmt: skip
    model, features = load_model(run), read_features(feats)
    wanted = paths[::-1][:50]
    one = score_features(model, features, wanted)  # one batch: its output is the result, sigmoid in place
    with torch.inference_mode():
        expected = model.feature_scorer()(torch.from_numpy(x[[paths.index(p) for p in wanted]])).numpy()
    assert one.ok.all() and not one.problems
    np.testing.assert_array_equal(one.probabilities, expected)
    batched = score_features(model, features, wanted, batch_size=16)
    np.testing.assert_allclose(batched.probabilities, expected, rtol=0, atol=1e-6)
    missing = score_features(model, features, [*wanted[:3], "img/nowhere.jpg"])  # the batched path, with a gap
    np.testing.assert_array_equal(missing.ok, [True, True, True, False])
    assert np.isnan(missing.probabilities[3]).all() and "nowhere" in missing.problems[0].path
    np.testing.assert_allclose(missing.probabilities[:3], expected[:3], rtol=0, atol=1e-6)

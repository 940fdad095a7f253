"""`tailtag predict` on a real trained run: the saved decision, bad images, formats, the Python API, errors."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import tailtag
from tailtag.cli import main
from tailtag.errors import OptionError
from tailtag.evaluation import evaluate_run
from tailtag.inference import read_run
from tailtag.predict import PredictOptions, find_inputs, predict_files, tagger_for


def _rows(path: Path) -> dict[str, list[str]]:
    with open(path, newline="") as handle:
        return {row["img_path"]: row["tags"].split(",") if row["tags"] else [] for row in csv.DictReader(handle)}


def _predict(*argv) -> int:
    return main(["predict", *map(str, argv), "--quiet"])


def _listing(demo_images: Path, folder: Path, n: int) -> Path:
    """A list file of the first `n` demo images, through a link beside it (list paths stay in the list's folder)."""
    link = folder / "demo_images"
    if not link.exists():
        link.symlink_to(demo_images, target_is_directory=True)
    listing = folder / f"first{n}.txt"
    listing.write_text("".join(f"demo_images/{i:04d}.jpg\n" for i in range(1, n + 1)))
    return listing


def test_csv_tags_are_evaluates_thresholded_decisions(small_run, demo_images, tmp_path):
    assert _predict(small_run, demo_images, "--out", tmp_path / "p.csv") == 0
    rows = _rows(tmp_path / "p.csv")
    assert list(rows) == sorted(p.name for p in demo_images.iterdir())  # img_path relative to INPUT
    arrays = evaluate_run(small_run, table=read_run(small_run).training_table(), split="all", progress=False).arrays
    decided = zip(arrays.paths, arrays.decisions, strict=True)
    expected = {Path(p).name: {arrays.names[j] for j in np.flatnonzero(d)} for p, d in decided}
    assert {name: set(tags) for name, tags in rows.items()} == expected
    assert sum(map(len, rows.values())) > 0  # the comparison is not between two empty outputs
    assert (tmp_path / "p.skipped.csv").read_text() == "path,reason\n"


def _run_with_thresholds(small_run, tmp_path, value: float) -> Path:
    run = tmp_path / f"run-{value}"
    shutil.copytree(small_run, run, ignore=shutil.ignore_patterns("eval-*"))
    saved = json.loads((run / "thresholds.json").read_text())
    saved["thresholds"] = [value] * len(saved["thresholds"])
    (run / "thresholds.json").write_text(json.dumps(saved))
    return run


def test_the_runs_thresholds_file_decides_the_tags(small_run, demo_images, tmp_path):
    names = read_run(small_run).names
    listing = _listing(demo_images, tmp_path, 10)
    everything = _run_with_thresholds(small_run, tmp_path, 0.0)
    assert _predict(everything, listing, "--out", tmp_path / "all.csv") == 0
    assert all(set(tags) == set(names) for tags in _rows(tmp_path / "all.csv").values())
    nothing = _run_with_thresholds(small_run, tmp_path, 1.01)
    assert _predict(nothing, listing, "--out", tmp_path / "none.csv") == 0
    assert all(tags == [] for tags in _rows(tmp_path / "none.csv").values())
    assert _predict(nothing, listing, "--out", tmp_path / "two.jsonl", "--min-tags", "2") == 0
    for line in (tmp_path / "two.jsonl").read_text().splitlines():
        record = json.loads(line)
        best = sorted(record["probabilities"], key=lambda n: -record["probabilities"][n])[:2]
        assert record["tags"] == best  # exactly the two best labels, best first
    assert _predict(everything, listing, "--out", tmp_path / "cap.csv", "--max-tags", "3") == 0
    assert {len(tags) for tags in _rows(tmp_path / "cap.csv").values()} == {3}


def _bad_images(folder: Path, source: Path) -> None:
    folder.mkdir()
    data = (source / "0001.jpg").read_bytes()
    for name in ("0002.jpg", "0003.jpg"):
        shutil.copy(source / name, folder / name)
    Image.open(source / "0004.jpg").convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "html.jpg").write_text("<!DOCTYPE html><html>404</html>")
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])


def test_bad_images_never_stop_the_batch_and_are_listed_with_reasons(small_run, demo_images, tmp_path, capsys):
    _bad_images(tmp_path / "mixed", demo_images)
    assert main(["predict", str(small_run), str(tmp_path / "mixed"), "--out", str(tmp_path / "p.csv")]) == 0
    assert list(_rows(tmp_path / "p.csv")) == ["0002.jpg", "0003.jpg", "cmyk.jpg"]
    with open(tmp_path / "p.skipped.csv", newline="") as handle:
        reasons = {row["path"]: row["reason"] for row in csv.DictReader(handle)}
    assert list(reasons) == ["corrupt.jpg", "empty.jpg", "html.jpg", "truncated.jpg"]
    assert reasons["empty.jpg"] == "file is empty (0 bytes)"
    assert reasons["truncated.jpg"].startswith("truncated JPEG")
    assert reasons["corrupt.jpg"].startswith("corrupt JPEG")
    assert reasons["html.jpg"].startswith("not an image") and "HTML" in reasons["html.jpg"]
    captured = capsys.readouterr()
    assert "3 images tagged, 4 skipped" in captured.out
    assert "warning: skipped 4 of 7 images that could not be used" in captured.err


def test_a_cmyk_jpeg_is_tagged_like_its_rgb_original(small_run, demo_images, tmp_path):
    folder = tmp_path / "cmyk"
    folder.mkdir()
    for i in range(1, 9):
        Image.open(demo_images / f"{i:04d}.jpg").convert("CMYK").save(folder / f"{i:04d}.jpg", quality=100)
    tagger = tagger_for(small_run)
    original = [np.array(list(t.probabilities.values())) for t in tagger.predict(sorted(demo_images.iterdir())[:8])]
    converted = [np.array(list(t.probabilities.values())) for t in tagger.predict(sorted(folder.iterdir()))]
    np.testing.assert_allclose(converted, original, atol=0.05)  # JPEG re-encoding noise, not inverted colours


def test_jsonl_probabilities_are_the_python_apis(small_run, demo_images, tmp_path):
    inputs = find_inputs(demo_images)
    tagger = tailtag.load(small_run)
    summary = predict_files(tagger, inputs, tmp_path / "p.jsonl", PredictOptions(batch_size=7, progress=False))
    assert (summary.n_rows, summary.n_skipped, summary.n_resumed) == (80, 0, 0)
    records = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    direct = tagger.predict(list(inputs.paths[:20]), batch_size=7)
    for record, tags in zip(records, direct, strict=False):
        assert record["tags"] == tags.tags
        assert list(record["probabilities"]) == tagger.names
        np.testing.assert_allclose(list(record["probabilities"].values()), list(tags.probabilities.values()), atol=1e-6)


def test_batch_size_and_decode_processes_do_not_change_the_tags(small_run, demo_images, tmp_path, monkeypatch):
    listing = _listing(demo_images, tmp_path, 24)
    assert _predict(small_run, listing, "--out", tmp_path / "a.csv", "--batch-size", "1", "--workers", "0") == 0
    # two DataLoader processes even on a small CPU machine (where a prefetch thread is used otherwise)
    monkeypatch.setattr("tailtag.predict.batch.decode_workers", lambda requested, device: requested)
    assert _predict(small_run, listing, "--out", tmp_path / "b.csv", "--batch-size", "5", "--workers", "2") == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_an_interrupted_job_resumes_and_refuses_other_options(small_run, demo_images, tmp_path, monkeypatch, capsys):
    images = _listing(demo_images, tmp_path.parent, 40)
    out = tmp_path / "p.csv"
    assert _predict(small_run, images, "--out", tmp_path / "ref.csv", "--batch-size", "8") == 0
    calls = {"n": 0}
    real = tailtag.inference.Tagger.decide

    def interrupted(self, raw):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(self, raw)

    monkeypatch.setattr(tailtag.inference.Tagger, "decide", interrupted)
    assert _predict(small_run, images, "--out", out, "--batch-size", "8", "--flush-every", "1") == 130
    monkeypatch.undo()
    assert (tmp_path / "p.csv.partial").read_text().count("\n") == 1 + 3 * 8
    assert _predict(small_run, images, "--out", out, "--batch-size", "8", "--min-tags", "1") == 2
    assert "differs in: options.min_tags" in capsys.readouterr().err
    assert main(["predict", str(small_run), str(images), "--out", str(out), "--batch-size", "8"]) == 0
    assert "resumed after 24" in capsys.readouterr().out
    assert out.read_bytes() == (tmp_path / "ref.csv").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "p.skipped.csv", "ref.csv", "ref.skipped.csv"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["predict", "RUN", "IMAGES"], r"missing --out\n  fix: tailtag predict RUN INPUT --out predictions.csv"),
        (["predict", "RUN", "IMAGES", "--out", "p.txt"], r"unknown output extension '.txt'"),
        (["predict", "RUN", "IMAGES", "--out", "p.csv", "--min-tags", "3", "--max-tags", "2"], r"--max-tags must be"),
        (["predict", "RUN", "IMAGES", "--out", "p.csv", "--min-tags", "99"], r"--min-tags 99 is more than the run's"),
        (["predict", "RUN", "nowhere", "--out", "p.csv"], r"INPUT nowhere does not exist"),
        (["predict", "RUN", "--merge", "p.csv"], r"--merge FILE takes no RUN or INPUT"),
        (["predict", "--merge", "p.csv"], r"no shard files of p.csv found"),
    ],
)
def test_command_errors_exit_2_with_the_fix(small_run, demo_images, tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    argv = [str(small_run) if a == "RUN" else str(demo_images) if a == "IMAGES" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("tailtag predict: error: ")
    assert re.search(message, err), err


def test_list_paths_outside_its_folder_exit_2_unless_allowed(small_run, demo_images, tmp_path, capsys):
    listing = tmp_path / "list.txt"
    listing.write_text(f"{demo_images}/0001.jpg\nx\0.jpg\n")
    assert _predict(small_run, listing, "--out", tmp_path / "p.csv") == 2
    err = capsys.readouterr().err
    assert f"{listing}:1: 2 problems:" in err and "is absolute and outside the list's folder" in err
    assert "line 2: the image path 'x\\x00.jpg' contains a NUL byte" in err and "Traceback" not in err
    listing.write_text(f"{demo_images}/0001.jpg\n")
    assert _predict(small_run, listing, "--out", tmp_path / "p.csv", "--allow-outside-images") == 0
    assert list(_rows(tmp_path / "p.csv")) == [f"{demo_images}/0001.jpg"]


def test_onnx_backend_gives_the_same_csv(small_run, demo_images, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(small_run, run, ignore=shutil.ignore_patterns("eval-*", "model.onnx*"))
    assert _predict(run, demo_images, "--out", tmp_path / "early.csv", "--backend", "onnx") == 2
    assert "tailtag export" in capsys.readouterr().err
    assert main(["export", str(run), "--format", "onnx"]) == 0
    assert _predict(run, demo_images, "--out", tmp_path / "torch.csv") == 0
    assert _predict(run, demo_images, "--out", tmp_path / "onnx.csv", "--backend", "onnx") == 0
    assert (tmp_path / "onnx.csv").read_bytes() == (tmp_path / "torch.csv").read_bytes()
    some = sorted(demo_images.iterdir())[:6]
    assert [t.tags for t in tailtag.load(run, "onnx").predict(some)] == [
        t.tags for t in tailtag.load(run).predict(some)
    ]


def test_unknown_backend_and_missing_gpu_are_option_errors(small_run):
    with pytest.raises(OptionError, match=r"unknown backend 'tensorrt' \(--backend\); valid backends: torch, onnx"):
        tailtag.load(small_run, "tensorrt")
    if not torch.cuda.is_available():
        with pytest.raises(OptionError, match=r"--device cuda: no CUDA device is visible\n  fix: use --device cpu"):
            tagger_for(small_run, device="cuda")

"""`tailtag split` end to end: files written, report contents, summary table, and user errors."""

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from tailtag.cli import main
from tailtag.labels import LabelTable
from tailtag.split import read_split

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def skewed_rows(n=120, seed=0):
    """(path, labels) rows: 'common' on most images, 'rare' on 4, pairs in between."""
    rng = np.random.default_rng(seed)
    dense = (rng.random((n, 4)) < [0.6, 0.3, 0.1, 0.0]).astype(int)
    dense[:4, 3] = 1
    return [(f"im{i:03d}.jpg", *row) for i, row in enumerate(dense.tolist())]


def write_onehot(folder, rows, extra=None):
    path = folder / "labels.csv"
    header = "filename,common,mid,low,rare" + (",site" if extra else "")
    body = "".join(",".join(map(str, row + ((extra[i],) if extra else ()))) + "\n" for i, row in enumerate(rows))
    path.write_text(header + "\n" + body)
    return path


@pytest.fixture
def fake_reader(monkeypatch):
    """Read the one-hot CSV written above without depending on the label readers' auto-detection."""

    def load(args):
        lines = Path(args.labels).read_text().splitlines()
        header = lines[0].split(",")
        cells = [line.split(",") for line in lines[1:]]
        has_site = header[-1] == "site"
        names = header[1:-1] if has_site else header[1:]
        dense = np.array([[int(c) for c in row[1 : 1 + len(names)]] for row in cells], dtype=np.uint8)
        meta = {"site": np.array([row[-1] for row in cells], dtype=object)} if has_site else {}
        if args.group_column and args.group_column not in meta:
            meta = {}
        return LabelTable(
            np.array([row[0] for row in cells], dtype=object),
            names,
            sp.csr_matrix(dense),
            source=str(args.labels),
            meta=meta,
        )

    monkeypatch.setattr("tailtag.commands.split.load_table", load)


def run(capsys, *argv):
    status = main(["split", *map(str, argv)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_writes_exactly_the_split_files_and_report(tmp_path, capsys, fake_reader):
    labels = write_onehot(tmp_path, skewed_rows())
    status, out, err = run(capsys, labels, "--out", tmp_path / "split", "--seed", 3)
    assert status == 0, err
    assert sorted(p.name for p in (tmp_path / "split").iterdir()) == [
        "split_report.json",
        "test.txt",
        "train.txt",
        "val.txt",
    ]
    report = json.loads((tmp_path / "split" / "split_report.json").read_text())
    assert report["fractions_asked"] == [0.7, 0.15, 0.15]
    assert report["fractions_got"] == [0.7, 0.15, 0.15]
    assert report["seed"] == 3 and report["order"] == 1 and report["folds"] is None
    assert report["labels"]["sha256"] and len(report["labels"]["sha256"]) == 64
    assert {name: s["n_images"] for name, s in report["splits"].items()} == {"train": 84, "val": 18, "test": 18}
    assert set(report["label_proportion"]) == {"all", "train", "val", "test"}
    assert len(report["label_proportion"]["val"]) == 4
    iterative, chance = report["deviation"]["iterative"], report["deviation"]["random"]
    assert iterative["mean_abs_proportion_deviation"] < chance["mean_abs_proportion_deviation"]
    # the summary table shows sizes and both columns; 'rare' (4 images) can be in all 3 splits: no warning
    assert "train" in out and "84" in out and "iterative" in out and "random" in out
    assert "mean |label proportion - whole set|" in out
    assert "warning:" not in err
    lines = (tmp_path / "split" / "train.txt").read_text().splitlines()
    assert len(lines) == 84 and all(line.startswith("im") and line.endswith(".jpg") for line in lines)


def test_folds_and_second_order(tmp_path, capsys, fake_reader):
    labels = write_onehot(tmp_path, skewed_rows())
    status, _, err = run(capsys, labels, "--out", tmp_path / "f", "--folds", 5, "--order", 2)
    assert status == 0, err
    assert sorted(p.name for p in (tmp_path / "f").glob("fold_*.txt")) == [f"fold_{i}.txt" for i in range(1, 6)]
    assert "fewer images than the 5 subsets" in err and "'rare' (4)" in err
    report = json.loads((tmp_path / "f" / "split_report.json").read_text())
    assert report["folds"] == 5 and report["order"] == 2
    assert report["deviation"]["iterative"]["label_pair_distribution"] is not None


def test_group_column_keeps_sites_together(tmp_path, capsys, fake_reader):
    rows = skewed_rows()
    sites = [f"s{i // 6}" for i in range(len(rows))]
    labels = write_onehot(tmp_path, rows, extra=sites)
    status, _, err = run(capsys, labels, "--out", tmp_path / "g", "--group-column", "site", "--fractions", "0.8,0.2")
    assert status == 0, err
    site_of = dict(zip((r[0] for r in rows), sites, strict=True))
    train = {site_of[p] for p in (tmp_path / "g" / "train.txt").read_text().split()}
    val = {site_of[p] for p in (tmp_path / "g" / "val.txt").read_text().split()}
    assert train and val and not train & val


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--fractions", "0.7,0.2"], "--fractions: the fractions must sum to 1"),
        (["--fractions", "0.6,0.2,0.1,0.1"], "--fractions: expected 2 (train,val) or 3"),
        (["--fractions", "a,b"], "--fractions: expected comma-separated numbers"),
        (["--folds", "1"], "--folds: expected an integer >= 2"),
        (["--group-column", "site"], "--group-column: "),
    ],
)
def test_user_errors_exit_2_with_the_flag(tmp_path, capsys, fake_reader, argv, match):
    labels = write_onehot(tmp_path, skewed_rows())
    status, _, err = run(capsys, labels, "--out", tmp_path / "x", *argv)
    assert status == 2
    assert match in err and "Traceback" not in err and "fix:" in err
    assert not (tmp_path / "x").exists()


def test_fractions_and_folds_together_are_refused(tmp_path, capsys, fake_reader):
    status, _, err = run(
        capsys, write_onehot(tmp_path, skewed_rows()), "--out", tmp_path / "x", "--folds", "3", "--fractions", "0.5,0.5"
    )
    assert status == 2 and "not allowed with argument" in err


def test_existing_split_needs_force(tmp_path, capsys, fake_reader):
    labels = write_onehot(tmp_path, skewed_rows())
    assert run(capsys, labels, "--out", tmp_path / "s", "--folds", "4")[0] == 0
    status, _, err = run(capsys, labels, "--out", tmp_path / "s")
    assert status == 2 and "already holds a split" in err and "--force" in err
    assert run(capsys, labels, "--out", tmp_path / "s", "--force")[0] == 0
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "split_report.json",
        "test.txt",
        "train.txt",
        "val.txt",
    ]  # no stale fold_*.txt left


def test_with_the_real_label_reader(tmp_path, capsys):
    from tailtag.labels import readers
    from tailtag.labels.options import ReadOptions

    labels = write_onehot(tmp_path, skewed_rows())
    status, _, err = run(capsys, labels, "--out", tmp_path / "r")
    assert status == 0, err
    table = readers.read_labels(labels, ReadOptions())
    subsets = read_split(tmp_path / "r", table)
    assert sum(len(rows) for rows in subsets.values()) == table.n_images == 120


@pytest.mark.dataset
def test_miml_split_is_even_and_leak_free(tmp_path, capsys):
    labels = DATA / "miml" / "labels.csv"
    if not labels.is_file():
        pytest.skip(f"MIML data not found under {DATA}")
    status, out, err = run(capsys, labels, "--images", DATA / "miml" / "images", "--out", tmp_path / "m")
    assert status == 0, err
    report = json.loads((tmp_path / "m" / "split_report.json").read_text())
    assert [s["n_images"] for s in report["splits"].values()] == [1400, 300, 300]
    iterative, chance = report["deviation"]["iterative"], report["deviation"]["random"]
    assert iterative["max_abs_proportion_deviation"] < 0.01  # at most 3 images of 300 off for any label
    assert iterative["label_distribution"] < chance["label_distribution"]


def _folder_with_one_broken_image(tmp_path):
    from PIL import Image

    rows = []
    for i in range(12):
        Image.new("RGB", (8, 8), (i * 20, 0, 0)).save(tmp_path / f"{i}.png")
        rows.append(f"{i}.png,{i % 2},{int(i % 3 == 0)}")
    (tmp_path / "5.png").write_bytes(b"")  # zero bytes: unusable
    labels = tmp_path / "labels.csv"
    labels.write_text("path,a,b\n" + "\n".join(rows) + "\n")
    return labels


def test_bad_image_fails_by_default_naming_the_file(tmp_path, capsys):
    labels = _folder_with_one_broken_image(tmp_path)
    assert main(["split", str(labels), "--images", str(tmp_path), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "5.png" in err and "--on-bad-image skip" in err


def test_bad_image_skipped_and_reported(tmp_path, capsys):
    labels = _folder_with_one_broken_image(tmp_path)
    out = tmp_path / "s"
    argv = ["split", str(labels), "--images", str(tmp_path), "--out", str(out), "--on-bad-image", "skip"]
    assert main(argv) == 0
    assert "skipped 1 of 12 images" in capsys.readouterr().err
    report = (out / "skipped_images.csv").read_text().splitlines()
    assert report[0] == "path,reason" and report[1].startswith("5.png,")
    listed = [line for name in ("train", "val", "test") for line in (out / f"{name}.txt").read_text().split()]
    assert sorted(listed) == sorted(f"{i}.png" for i in range(12) if i != 5)

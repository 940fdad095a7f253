"""Issue 5's acceptance check on the real MIML scenes: predict's CSV tags are evaluate's thresholded decisions."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tailtag.cli import main
from tailtag.evaluation import evaluate_run
from tailtag.inference import read_run

MIML = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "miml"
# 64 px keeps the test near 20 s on 2 cores; `benchmarks/` and the README cover the default 224 px.
SETTINGS = ("image_size=64", "num_workers=0", "warmup_epochs=0", "batch_size=32", "epochs=2")


@pytest.mark.dataset
@pytest.mark.slow
def test_predict_on_the_miml_folder_equals_evaluates_decisions(tmp_path):
    if not (MIML / "labels.csv").is_file():
        pytest.skip(f"MIML data not found at {MIML}")
    sets = [a for key in (f"cache_dir={tmp_path / 'cache'}", *SETTINGS) for a in ("--set", key)]
    run = tmp_path / "run"
    assert main(["train", str(MIML / "labels.csv"), "--images", str(MIML / "images"), "--out", str(run), *sets]) == 0
    assert main(["predict", str(run), str(MIML / "images"), "--out", str(tmp_path / "p.csv"), "--quiet"]) == 0
    with open(tmp_path / "p.csv", newline="") as handle:
        rows = {row["img_path"]: set(row["tags"].split(",")) - {""} for row in csv.DictReader(handle)}
    assert len(rows) == 2000 and (tmp_path / "p.skipped.csv").read_text() == "path,reason\n"
    arrays = evaluate_run(run, table=read_run(run).training_table(), split="all", progress=False).arrays
    decided = zip(arrays.paths, arrays.decisions, strict=True)
    expected = {Path(p).name: {arrays.names[j] for j in np.flatnonzero(d)} for p, d in decided}
    wrong = [name for name in expected if rows[name] != expected[name]]
    assert not wrong, f"{len(wrong)} of 2000 images differ, e.g. {wrong[:5]}"
    assert sum(map(len, rows.values())) > 1000  # the run tags most images: the comparison has content

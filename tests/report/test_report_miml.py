"""A MIML-sized report (500 images x 5 labels) with real JPEG thumbnails stays small and fast to write."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import pytest

from tailtag.report import ReportData, write_report

MIML = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "miml"

pytestmark = pytest.mark.dataset


@pytest.fixture(scope="module")
def miml() -> tuple[list[str], list[str], np.ndarray]:
    if not (MIML / "labels.csv").is_file():
        pytest.skip(f"MIML data not found at {MIML.resolve()} (see ../shared/data/README.md)")
    with open(MIML / "labels.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    names, body = rows[0][1:], rows[1:]
    # files are grouped by class in blocks of 400: take a spread of rows, not the first 500
    picked = np.random.default_rng(0).choice(len(body), size=500, replace=False)
    paths = [str((MIML / "images" / body[i][0]).resolve()) for i in picked]
    targets = np.array([[int(v) for v in body[i][1:]] for i in picked], dtype=np.uint8)
    return names, paths, targets


def test_miml_sized_report(tmp_path, miml):
    names, paths, targets = miml
    rng = np.random.default_rng(1)
    scores = (1 / (1 + np.exp(-(rng.normal(-1.5, 1.3, targets.shape) + 3.0 * targets)))).astype(np.float32)
    thresholds = np.full(len(names), 0.5)
    predicted = scores >= thresholds
    errors = {}
    for j, name in enumerate(names):
        fp = np.flatnonzero(predicted[:, j] & (targets[:, j] == 0))
        fn = np.flatnonzero(~predicted[:, j] & (targets[:, j] > 0))
        errors[name] = {
            "false_positives": [{"row": int(i), "path": paths[i], "score": float(scores[i, j])} for i in fp[:10]],
            "false_negatives": [{"row": int(i), "path": paths[i], "score": float(scores[i, j])} for i in fn[:10]],
        }
    data = ReportData(
        names=names,
        paths=paths,
        targets=targets,
        raw_scores=scores,
        scores=scores,
        thresholds=thresholds,
        train_counts=targets.sum(axis=0) * 3,
        buckets=["head"] * len(names),
        history=[],
        task="multilabel",
    )
    start = time.perf_counter()
    path = write_report(tmp_path / "report.html", {"run": "miml", "errors": errors}, data)
    seconds = time.perf_counter() - start
    html = path.read_text(encoding="utf-8")
    assert html.count("data:image/jpeg;base64,") == 40  # 5 classes x (4 false positives + 4 false negatives)
    assert 'class="missing"' not in html
    assert path.stat().st_size < 3_000_000
    assert seconds < 20  # ~2.5 s on a shared 2-core machine; the bound only catches a pathological slowdown

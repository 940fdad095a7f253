"""The report's building blocks: label selection, reliability bins, thumbnails, ReportData validation."""

from __future__ import annotations

import base64
import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tailtag.errors import TailtagError
from tailtag.report import ReportData, reliability_bins, select_curve_labels
from tailtag.report import reliability as reliability_module
from tailtag.report.thumbnails import MAX_PER_KIND, error_gallery, thumbnail_uri

# --- curve label selection -------------------------------------------------------------------------------------


def test_selection_takes_every_label_up_to_twelve():
    chosen = select_curve_labels(np.array([5, 0, 3]), np.array([1, 0, 2]), np.array([0.5, 0.0, 0.1]))
    assert [(c.index, c.reason) for c in chosen] == [(0, "all labels"), (1, "all labels"), (2, "all labels")]


def test_selection_golden_k40():
    k = 40
    train = np.arange(k, 0, -1) * 10  # column 0 most frequent, column 39 rarest
    support = np.full(k, 3)
    f1 = np.linspace(0.9, 0.5, k)
    f1[25] = 0.01  # the worst label sits between the median group and the rare group
    chosen = select_curve_labels(train, support, f1)
    assert [c.index for c in chosen] == [0, 1, 2, 3, 18, 19, 20, 21, 36, 37, 38, 39, 25]
    assert [c.reason for c in chosen][::4] == ["most frequent", "median frequency", "rarest", "worst F1"]


def test_selection_skips_labels_without_positives_and_merges_worst():
    k = 30
    train = np.arange(k, 0, -1)
    support = np.ones(k, dtype=int)
    support[-3:] = 0  # the three rarest have no evaluation positive: no PR curve possible
    f1 = np.full(k, 0.8)
    f1[26] = 0.0  # rarest label that has positives, and the worst
    chosen = select_curve_labels(train, support, f1)
    indices = [c.index for c in chosen]
    assert not {27, 28, 29} & set(indices)
    assert indices[8:] == [23, 24, 25, 26] and len(indices) == len(set(indices)) == 12
    assert chosen[-1].reason == "rarest, worst F1"


def test_selection_ties_break_by_support_then_column():
    train = np.zeros(14, dtype=int)
    support = np.array([1] * 13 + [9])
    chosen = select_curve_labels(train, support, np.full(14, np.nan))
    assert chosen[0].index == 13  # no training counts: evaluation positives decide
    assert all(c.reason != "worst F1" for c in chosen)  # NaN F1 never counts as worst


# --- reliability bins ------------------------------------------------------------------------------------------


def test_reliability_bins_golden():
    targets = np.array([[1, 0], [0, 0], [1, 1]])
    scores = np.array([[0.95, 0.05], [0.55, 0.0], [1.0, 0.45]])
    bins = reliability_bins(targets, scores, n_bins=4)
    np.testing.assert_array_equal(bins.count, [2, 1, 1, 2])
    np.testing.assert_allclose(bins.mean_score, [0.025, 0.45, 0.55, 0.975])
    np.testing.assert_allclose(bins.frequency, [0.0, 1.0, 0.0, 1.0])
    expected = (2 * 0.025 + 1 * 0.55 + 1 * 0.55 + 2 * 0.025) / 6
    assert bins.ece == pytest.approx(expected)


def test_reliability_bins_do_not_depend_on_chunking(monkeypatch):
    rng = np.random.default_rng(3)
    targets, scores = (rng.random((97, 13)) < 0.2).astype(np.uint8), rng.random((97, 13)).astype(np.float32)
    whole = reliability_bins(targets, scores)
    monkeypatch.setattr(reliability_module, "_CHUNK_CELLS", 50)  # 3 rows a chunk
    chunked = reliability_bins(targets, scores)
    np.testing.assert_array_equal(whole.count, chunked.count)
    np.testing.assert_allclose(whole.mean_score, chunked.mean_score)
    assert whole.count.sum() == 97 * 13
    assert whole.ece == pytest.approx(chunked.ece)


def test_reliability_empty_bins_are_nan():
    bins = reliability_bins(np.array([[1]]), np.array([[0.99]]), n_bins=10)
    assert np.isnan(bins.mean_score[:9]).all() and bins.count[9] == 1
    assert bins.ece == pytest.approx(0.01)
    assert np.isnan(reliability_bins(np.zeros((0, 3)), np.zeros((0, 3))).ece)


# --- thumbnails ------------------------------------------------------------------------------------------------


def _decode(uri: str) -> Image.Image:
    assert uri.startswith("data:image/jpeg;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def test_thumbnail_honours_exif_orientation_and_size(tmp_path):
    path = tmp_path / "sideways.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated by 90 degrees: portrait
    Image.new("RGB", (400, 200), (200, 30, 30)).save(path, exif=exif)
    thumb = _decode(thumbnail_uri(str(path)))
    assert thumb.size == (48, 96)


def _write_errors(tmp_path, n_classes: int, per_kind: int) -> tuple[dict, list[str]]:
    paths = []
    for i in range(6):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (30, 20), (i * 40, 0, 0)).save(path)
        paths.append(str(path))
    (tmp_path / "broken.jpg").write_bytes(b"<html>not an image</html>")
    paths += [str(tmp_path / "broken.jpg"), str(tmp_path / "missing.jpg")]
    entries = [{"row": i % len(paths), "score": 0.9 - 0.1 * i} for i in range(per_kind)]
    errors = {f"c{j}": {"false_positives": entries, "false_negatives": entries[::-1]} for j in range(n_classes)}
    return errors, paths


def test_gallery_caps_classes_and_thumbnails(tmp_path):
    errors, paths = _write_errors(tmp_path, n_classes=20, per_kind=8)
    gallery, notes = error_gallery(errors, paths, priority=["c19", "nope", "c3"], max_classes=12, max_thumbnails=52)
    assert [c.name for c in gallery][:3] == ["c19", "c3", "c0"] and len(gallery) == 12
    total = sum(len(c.false_positives) + len(c.false_negatives) for c in gallery)
    assert total <= 52 and len(gallery[0].false_positives) == 2 and gallery[0].n_false_positives == 8
    assert any("12 of 20 classes" in n for n in notes)


def test_gallery_fails_soft_on_bad_images(tmp_path):
    errors, paths = _write_errors(tmp_path, n_classes=1, per_kind=8)
    gallery, notes = error_gallery(errors, paths)
    thumbs = gallery[0].false_positives
    assert len(thumbs) == MAX_PER_KIND  # one class: the budget allows the per-kind maximum
    assert all(t.uri for t in thumbs[:4])
    fn = {t.path.rsplit("/", 1)[-1]: t for t in gallery[0].false_negatives}
    assert fn["broken.jpg"].uri is None and "HTML" in fn["broken.jpg"].problem
    assert fn["missing.jpg"].uri is None and "not found" in fn["missing.jpg"].problem
    assert any("2 image(s) could not be read" in n for n in notes)


def test_gallery_ignores_malformed_entries():
    errors = {"a": {"false_positives": [{"row": 99, "score": "high"}, "junk"]}, "b": "junk", "c": {}}
    gallery, _ = error_gallery(errors, paths=["x.jpg"])
    assert len(gallery) == 1 and gallery[0].false_positives[0].problem == "no image path in the summary"
    assert gallery[0].false_positives[0].score is None
    assert error_gallery(None, []) == ([], [])


# --- ReportData ------------------------------------------------------------------------------------------------


def _arrays(n: int = 4, k: int = 3) -> dict:
    rng = np.random.default_rng(0)
    scores = rng.random((n, k)).astype(np.float32)
    return dict(
        names=[f"l{j}" for j in range(k)],
        paths=[f"/img/{i}.jpg" for i in range(n)],
        targets=(scores > 0.5).astype(np.uint8),
        raw_scores=scores,
        scores=scores,
        thresholds=np.full(k, 0.5),
        train_counts=np.arange(k),
        buckets=["tail"] * k,
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"targets": np.zeros((4, 2))}, r"targets must have shape \(N, K\) = \(4, 3\); got \(4, 2\)"),
        ({"paths": ["a"]}, "paths must hold one path per row of targets \\(4\\); got 1"),
        (
            {"scores": np.full((4, 3), 3.0)},
            r"scores must be probabilities in \[0, 1\]; got values in \[3, 3\] \(logits\?\)",
        ),
        ({"raw_scores": np.full((4, 3), np.nan)}, "raw_scores has 12 NaN or infinite cells"),
        ({"thresholds": np.ones(2)}, r"thresholds must have shape \(3,\); got \(2,\)"),
        ({"train_counts": np.array([1, -1, 0])}, "train_counts must be >= 0"),
        ({"targets": np.full((4, 3), 2)}, "targets must hold only 0 and 1"),
        ({"task": "ranking"}, "task must be one of \\['multilabel', 'multiclass'\\]; got 'ranking'"),
    ],
)
def test_report_data_errors_name_the_field(change, message):
    with pytest.raises(TailtagError, match=message):
        ReportData(**(_arrays() | change))


def test_report_data_converts_and_reports_calibration():
    arrays = _arrays()
    data = ReportData(**(arrays | {"scores": np.clip(arrays["scores"] + 0.00001, 0, 1.00001)}))
    assert data.scores.dtype == np.float32 and data.scores.max() <= 1.0
    assert data.calibrated and not ReportData(**arrays).calibrated
    assert data.targets.dtype == np.uint8 and data.support().tolist() == arrays["targets"].sum(axis=0).tolist()


def test_report_does_not_import_torch():
    code = "import sys, tailtag.report; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)

"""The parity check: golden comparisons on fake scorers, and a broken export that must fail with nothing written."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import torch

from tailtag.calibration import calibration_from_dict
from tailtag.cli import main
from tailtag.export import ParityError, ParitySample, compare_scorers
from tailtag.thresholds import thresholds_from_dict
from tailtag.thresholds.decision import Decision

NAMES = ["a", "b", "c", "d"]
VIEWS = ("center", "full")


def _decision(threshold: float = 0.5) -> Decision:
    calibration = {"version": 1, "method": "none", "params": {}, "n_labels": 4, "names": None}
    thresholds = {"version": 1, "strategy": "global", "params": {}, "thresholds": [threshold] * 4, "names": None}
    return Decision(calibration_from_dict(calibration), thresholds_from_dict(thresholds))


def _sample() -> ParitySample:
    # 3 images x 2 views; the fake scorers read the probabilities off the first pixels
    images = torch.zeros(3, 2, 3, 8, 8)
    rng = np.random.default_rng(0)
    images[:, :, 0, 0, :4] = torch.from_numpy(rng.uniform(0.05, 0.4, (3, 2, 4)).astype(np.float32))
    return ParitySample(images, ["img0", "img1", "img2"], "validation")


def _reference(images: torch.Tensor) -> np.ndarray:
    return images[:, 0, 0, :4].numpy().copy()


def _shifted(view: int, image: int, label: int, delta: float):
    """A candidate scorer equal to the reference except one cell of one view."""
    calls = {"n": 0}

    def score(images: torch.Tensor) -> np.ndarray:
        out = _reference(images)
        if calls["n"] == view:  # compare_scorers walks the views in order, one batch each here
            out[image, label] += delta
        calls["n"] += 1
        return out

    return score


def test_identical_scorers_pass_with_zero_difference():
    report = compare_scorers(_reference, _reference, _sample(), _decision(), NAMES, VIEWS)
    assert report.ok and report.max_diff == 0.0 and report.n_images == 3 and not report.mismatches
    assert "tags identical on 3/3 images" in report.describe("onnx")


def test_the_worst_cell_is_named():
    report = compare_scorers(_reference, _shifted(1, 2, 2, 3e-4), _sample(), _decision(), NAMES, VIEWS)
    assert not report.ok
    assert report.max_diff == pytest.approx(3e-4, rel=1e-3)
    assert report.worst == ("img2", "c", "full")
    text = report.describe("onnx")
    assert "max |p_onnx - p_torch| = 3.00e-04" in text and "label 'c' of img2 (full view)" in text


def test_a_difference_within_tolerance_that_flips_a_tag_fails():
    sample = _sample()
    sample.images[1, :, 0, 0, 3] = 0.49996  # both views just under the 0.5 threshold
    report = compare_scorers(_reference, _shifted(0, 1, 3, 9e-5), sample, _decision(), NAMES, VIEWS)
    assert report.max_diff < report.tolerance
    assert not report.ok
    assert report.mismatches == [("img1", [], ["d"])]
    assert "tags differ on 1/3 images, e.g. img1: torch [], onnx ['d']" in report.describe("onnx")


def test_nan_output_fails_without_raising():
    report = compare_scorers(_reference, _shifted(0, 0, 1, np.nan), _sample(), _decision(), NAMES, VIEWS)
    assert not report.ok and report.max_diff == np.inf and report.worst == ("img0", "b", "center")


def test_a_wrong_output_shape_is_a_parity_error():
    with pytest.raises(ParityError, match=r"shape \(3, 3\) for a batch of 3 images, expected \(3, 4\)"):
        compare_scorers(_reference, lambda x: _reference(x)[:, :3], _sample(), _decision(), NAMES, VIEWS)


def _perturb_after_export(monkeypatch, module_name: str, function: str) -> None:
    """Make the export write the model, then change a head weight of the PyTorch model it came from."""
    import importlib

    module = importlib.import_module(module_name)
    original = getattr(module, function)

    def export_then_perturb(scorer, path, *args, **kwargs):
        written = original(scorer, path, *args, **kwargs)
        with torch.no_grad():
            next(scorer.head.parameters()).add_(0.05)
        return written

    monkeypatch.setattr(module, function, export_then_perturb)


@pytest.mark.parametrize(
    ("fmt", "module_name", "function"),
    [
        ("onnx", "tailtag.export.onnx_export", "export_onnx"),
        ("torchscript", "tailtag.export.torchscript_export", "export_torchscript"),
    ],
)
def test_a_broken_export_fails_and_leaves_no_file(small_run, tmp_path, capsys, monkeypatch, fmt, module_name, function):
    _perturb_after_export(monkeypatch, module_name, function)
    out = tmp_path / "exported" / "model.bin"
    status = main(["export", str(small_run), "--format", fmt, "--out", str(out), "--sample", "6"])
    err = capsys.readouterr().err
    assert status == 2
    difference = re.search(rf"max \|p_{fmt} - p_torch\| = ([0-9.e+-]+) \(tolerance 1e-04\)", err)
    assert difference and float(difference.group(1)) > 1e-4
    assert "at label '" in err and "was not written" in err and "fix:" in err
    assert list(out.parent.iterdir()) == []  # neither the model nor its temporary file


def test_a_failed_export_keeps_the_earlier_good_one(small_run, tmp_path, monkeypatch):
    out = tmp_path / "model.onnx"
    assert main(["export", str(small_run), "--out", str(out), "--sample", "4"]) == 0
    before = out.read_bytes()
    _perturb_after_export(monkeypatch, "tailtag.export.onnx_export", "export_onnx")
    assert main(["export", str(small_run), "--out", str(out), "--sample", "4"]) == 2
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_missing_data_falls_back_to_synthetic_images_loudly(small_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    (run / "data.json").write_text('{"labels": "/nowhere/labels.csv", "images": null, "options": {}}')
    status = main(["export", str(run), "--format", "torchscript", "--sample", "3"])
    captured = capsys.readouterr()
    assert status == 0
    assert "parity on 3 synthetic images" in captured.out
    assert "WARNING: checking on 3 synthetic images instead of validation images" in captured.err
    assert "/nowhere/labels.csv" in captured.err
    assert (run / "model.torchscript.pt").is_file()

"""The decision rule (calibration.json + thresholds.json) is one unit: a run whose pair is incomplete, unreadable
or torn between two fits is refused with the file and the fix (issue 15, item 5)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tailtag.errors import LabelFileError, TailtagError
from tailtag.thresholds.decision import fit_decision, load_decision


def _fit(seed: int):
    rng = np.random.default_rng(seed)
    targets = (rng.uniform(size=(80, 3)) < 0.4).astype(np.uint8)
    raw = np.clip(0.6 * targets + 0.5 * rng.uniform(size=(80, 3)), 0, 1)
    return fit_decision(targets, raw, ["a", "b", "c"], strategy="per_class_f1", calibration="temperature", quiet=True)


def test_saved_pair_loads_and_decides_as_fitted(tmp_path):
    decision = _fit(0)
    decision.save(tmp_path)
    loaded = load_decision(tmp_path)
    raw = np.random.default_rng(5).uniform(size=(20, 3))
    np.testing.assert_array_equal(loaded.predict(raw), decision.predict(raw))
    assert "decision_id" not in loaded.thresholds.extra_ and "decision_id" not in loaded.calibrator.extra_
    stamps = {
        json.loads((tmp_path / name).read_text())["decision_id"] for name in ("calibration.json", "thresholds.json")
    }
    assert len(stamps) == 1


def test_nothing_saved_is_not_fitted(tmp_path):
    assert load_decision(tmp_path) is None


@pytest.mark.parametrize("gone", ["calibration.json", "thresholds.json"])
def test_one_file_missing_is_refused(tmp_path, gone):
    _fit(0).save(tmp_path)
    (tmp_path / gone).unlink()
    with pytest.raises(TailtagError, match=rf"has no {gone}, while .*\n  fix: tailtag evaluate .* --refit"):
        load_decision(tmp_path)


def test_pair_torn_between_two_fits_is_refused(tmp_path):
    _fit(0).save(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _fit(1).save(other)
    (other / "calibration.json").replace(tmp_path / "calibration.json")  # a crash after the first write
    with pytest.raises(LabelFileError, match=r"thresholds.json: decision_id .* does not match.*\n  fix: .*--refit"):
        load_decision(tmp_path)


@pytest.mark.parametrize("damaged", ["calibration.json", "thresholds.json"])
@pytest.mark.parametrize("content", ["", "{not json", "[]"])
def test_unreadable_file_is_refused_with_the_fix(tmp_path, damaged, content):
    _fit(0).save(tmp_path)
    (tmp_path / damaged).write_text(content)
    with pytest.raises(LabelFileError, match=rf"{damaged}.*\n  fix: tailtag evaluate .* --refit"):
        load_decision(tmp_path)


def test_old_runs_without_a_stamp_still_load(tmp_path):
    decision = _fit(0)
    decision.save(tmp_path)
    for name in ("calibration.json", "thresholds.json"):
        data = json.loads((tmp_path / name).read_text())
        del data["decision_id"]
        (tmp_path / name).write_text(json.dumps(data, indent=1) + "\n")
    raw = np.random.default_rng(5).uniform(size=(20, 3))
    np.testing.assert_array_equal(load_decision(tmp_path).predict(raw), decision.predict(raw))


def test_stamped_and_unstamped_halves_are_refused(tmp_path):
    _fit(0).save(tmp_path)
    data = json.loads((tmp_path / "thresholds.json").read_text())
    del data["decision_id"]
    (tmp_path / "thresholds.json").write_text(json.dumps(data))
    with pytest.raises(LabelFileError, match="does not match"):
        load_decision(tmp_path)


@pytest.mark.parametrize("calibration", ["none", "temperature", "platt"])
@pytest.mark.parametrize("rows_as", ["mask", "indices"])
def test_fit_on_rows_equals_the_fit_on_their_copy(calibration, rows_as):
    # cross-fitting passes the fold's rows instead of copies of them (memory): the same fit, bit for bit
    rng = np.random.default_rng(3)
    targets = (rng.uniform(size=(120, 4)) < 0.3).astype(np.uint8)
    raw = np.clip(0.5 * targets + 0.6 * rng.uniform(size=(120, 4)), 0, 1).astype(np.float32)
    mask = rng.uniform(size=120) < 0.7
    rows = mask if rows_as == "mask" else np.flatnonzero(mask)
    kwargs = {"strategy": "per_class_f1", "calibration": calibration, "quiet": True}
    on_rows = fit_decision(targets, raw, rows=rows, **kwargs)
    on_copy = fit_decision(targets[mask], raw[mask], **kwargs)
    np.testing.assert_array_equal(on_rows.thresholds.thresholds_, on_copy.thresholds.thresholds_)
    np.testing.assert_array_equal(on_rows.probabilities(raw), on_copy.probabilities(raw))
    assert on_rows.calibrator.to_dict() == on_copy.calibrator.to_dict()


@pytest.mark.parametrize("calibration", ["none", "temperature", "platt"])
def test_rows_are_calibrated_block_by_block_as_whole(calibration):
    from tailtag.thresholds.decision import _transform_rows

    rng = np.random.default_rng(4)
    targets = (rng.uniform(size=(90, 3)) < 0.4).astype(np.uint8)
    raw = np.clip(0.5 * targets + 0.6 * rng.uniform(size=(90, 3)), 0, 1).astype(np.float32)
    calibrator = fit_decision(targets, raw, strategy="fixed", calibration=calibration, quiet=True).calibrator
    rows = rng.permutation(90)[:61]
    blocked = _transform_rows(calibrator, raw, rows, block_cells=7)  # blocks of 2 rows, the last one shorter
    np.testing.assert_array_equal(blocked, calibrator.transform(raw[rows]))
    assert blocked.dtype == np.float64

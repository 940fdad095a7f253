import json
import warnings

import numpy as np
import pytest

from tailtag.calibration import (
    CALIBRATORS,
    PlattScaling,
    TemperatureScaling,
    calibration_from_dict,
    create_calibrator,
    load_calibration,
    save_calibration,
)
from tailtag.errors import LabelFileError, OptionError, TailtagError


def small_case(seed=0, n=200, k=3):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * 2
    targets = (rng.random((n, k)) < 1 / (1 + np.exp(-z))).astype(np.int8)
    return targets, 1 / (1 + np.exp(-2.5 * z))


@pytest.mark.parametrize("name", sorted(CALIBRATORS))
def test_json_round_trip(tmp_path, name):
    targets, p = small_case()
    targets[:, 2] = 0  # one identity label, so extra_ carries a non-trivial list
    names = ["cat", "dog", "bird"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = create_calibrator(name).fit(targets, p, names=names)
    path = save_calibration(fitted, tmp_path / "calibration.json")
    data = json.loads(path.read_text())
    assert data["version"] == 1 and data["method"] == name and data["names"] == names and data["n_labels"] == 3
    assert set(fitted.coef_names) <= set(data)
    loaded = load_calibration(path)
    assert type(loaded) is type(fitted) and loaded.get_params() == fitted.get_params()
    for coef in fitted.coef_names:
        np.testing.assert_array_equal(getattr(loaded, f"{coef}_"), getattr(fitted, f"{coef}_"))
    np.testing.assert_array_equal(loaded.transform(p), fitted.transform(p))
    if name != "none":
        assert loaded.extra_["identity"] == [False, False, True]


def test_artifact_layout_is_stable():
    fitted = TemperatureScaling(max_temperature=10.0).fit(*small_case(1, k=2))
    data = fitted.to_dict()
    assert list(data)[:6] == ["version", "method", "params", "n_labels", "temperature", "names"]
    params = {"min_temperature": 0.05, "max_temperature": 10.0, "task": "multilabel", "tol": 1e-6, "max_iter": 100}
    assert data["params"] == params
    assert len(data["temperature"]) == 2 and data["names"] is None


def _fitted_dict():
    return PlattScaling().fit(*small_case(2)).to_dict()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"version": 2}, "key 'version' must be 1, got 2; fix: refit"),
        ({"method": "isotonic"}, r"key 'method' must be one of \['none', 'temperature', 'platt'\], got 'isotonic'"),
        ({"n_labels": 0}, "key 'n_labels' must be a positive integer, got 0"),
        ({"slope": [1.0, 2.0]}, "key 'slope' must be a list of 3 finite numbers"),
        ({"intercept": [0.0, None, 1.0]}, "key 'intercept' must be a list of 3 finite numbers"),
        ({"slope": [1.0, -2.0, 1.0]}, "key 'slope' must hold positive numbers"),
        ({"names": ["a", "b"]}, "key 'names' must be null or a list of 3 label names, got 2"),
        ({"params": {"min_slope": 0.05, "shrink": 3}}, "key 'params' does not fit method 'platt'.*shrink"),
    ],
)
def test_bad_artifact_keys(change, match):
    with pytest.raises(TailtagError, match=match):
        calibration_from_dict({**_fitted_dict(), **change})


def test_bad_temperature_and_non_object():
    data = TemperatureScaling().fit(*small_case(3)).to_dict()
    with pytest.raises(TailtagError, match="key 'temperature' must hold positive numbers"):
        calibration_from_dict({**data, "temperature": [1.0, 0.0, 2.0]})
    with pytest.raises(TailtagError, match="expected a JSON object, got list"):
        calibration_from_dict([1, 2])


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(LabelFileError, match=r"missing.json: file not found\n  fix: fit a calibration first"):
        load_calibration(tmp_path / "missing.json")
    bad = tmp_path / "calibration.json"
    bad.write_text("{\n  oops")
    with pytest.raises(LabelFileError, match=r"calibration.json:2: not valid JSON"):
        load_calibration(bad)
    bad.write_text(json.dumps({**_fitted_dict(), "version": 7}))
    with pytest.raises(LabelFileError, match=r"calibration.json: key 'version' must be 1, got 7\n  fix: refit"):
        load_calibration(bad)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: create_calibrator("isotonic"), "unknown calibration method 'isotonic'; valid methods: none, "),
        (lambda: create_calibrator("platt", slope=2), "calibration method 'platt'.*slope"),
        (lambda: TemperatureScaling(min_temperature=0).fit(*small_case()), "'min_temperature' parameter.*Got 0"),
        (lambda: TemperatureScaling(max_temperature=0.01).fit(*small_case()), r"'max_temperature'.*>= 0.05"),
        (lambda: TemperatureScaling(task="binary").fit(*small_case()), "'task' parameter.*Got 'binary'"),
        (lambda: PlattScaling(max_iter=0).fit(*small_case()), "'max_iter' parameter of PlattScaling.*Got 0"),
        (lambda: PlattScaling(tol=0.5).fit(*small_case()), r"'tol'.*\[1e-12, 0.01\]"),
    ],
)
def test_option_errors(make, match):
    with pytest.raises(OptionError, match=match):
        make()


@pytest.mark.parametrize(
    ("targets", "probabilities", "match"),
    [
        (np.zeros((4, 2)), np.zeros((4, 3)), r"targets.shape=\(4, 2\) does not match probabilities.shape=\(4, 3\)"),
        (np.zeros(4), np.zeros(4), r"must be 2-D \(N, K\) arrays"),
        (np.array([[0, 2]]), np.array([[0.1, 0.2]]), "targets must be 0/1, got 2 at row 0, column 1"),
        (np.array([[0, 0.5]]), np.array([[0.1, 0.2]]), "targets must be 0/1, got 0.5 at row 0, column 1"),
        (np.array([[0, 1]]), np.array([[0.1, np.nan]]), "probabilities must be finite, got nan at row 0, column 1"),
        (np.array([[0, 1]]), np.array([[2.5, 0.3]]), r"must lie in \[0, 1\], got 2.5 at row 0, column 0.*not logits"),
        # a float32 sum of softmax masses: the exact value is shown (not "1") and rounding, not logits, is blamed
        (
            np.array([[0, 1]]),
            np.array([[0.3, np.float32(1.0000001)]]),
            r"^(?!.*logits).*got 1.0000001192092896 at row 0, column 1 \(1 cells outside\); at most 1.19e-07 "
            r"outside, which is float rounding .*fix: clip them to \[0, 1\]",
        ),
    ],
)
def test_input_errors(targets, probabilities, match):
    with pytest.raises(TailtagError, match=match):
        TemperatureScaling().fit(targets, probabilities)


def test_transform_and_names_errors():
    targets, p = small_case(4)
    fitted = TemperatureScaling().fit(targets, p)
    with pytest.raises(TailtagError, match=r"probabilities must have shape \(N, 3\), got \(2, 4\)"):
        fitted.transform(np.zeros((2, 4)))
    with pytest.raises(TailtagError, match=r"TemperatureScaling.transform: probabilities must lie in \[0, 1\]"):
        fitted.transform(-p)
    with pytest.raises(TailtagError, match="not fitted yet; fix: call fit"):
        PlattScaling().transform(p)
    with pytest.raises(TailtagError, match="got 2 names for 3 label columns"):
        PlattScaling().fit(targets, p, names=["a", "b"])

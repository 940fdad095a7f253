"""Calibration against scipy / scikit-learn references where float precision used to bite: scores below the
fitting clip (rankings), many classes below 1e-7 (multi-class temperature) and separated labels (the bound)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_softmax, softmax
from sklearn.metrics import average_precision_score, roc_auc_score

from tailtag.calibration import TemperatureScaling, calibration_from_dict, create_calibrator


def _ranking(targets: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    return roc_auc_score(targets, scores), average_precision_score(targets, scores)


def _tiny_scores_case(seed: int = 1, n: int = 3000, n_pos: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """(targets (n,) int8, p (n,) float64) of a rare label whose scores mostly lie below 1e-7."""
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=np.int8)
    y[:n_pos] = 1
    z = np.where(y == 1, rng.normal(-14, 4, n), rng.normal(-19, 4, n))
    return y, expit(z)


@pytest.mark.parametrize("method", ["temperature", "platt"])
def test_scores_below_the_fitting_clip_keep_their_ranking(method):
    y, p = _tiny_scores_case()
    assert (p < 1e-7).sum() > 2000  # the fit clips these to 1e-7; the transform must not
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calibrated = create_calibrator(method).fit(y[:, None], p[:, None]).transform(p[:, None])[:, 0]
    assert calibrated.dtype == np.float64
    assert np.unique(calibrated).size == np.unique(p).size
    auc, ap = _ranking(y, calibrated)
    assert (auc, ap) == pytest.approx(_ranking(y, p), abs=1e-12)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    slope=st.floats(0.05, 20.0),
    intercept=st.floats(-5.0, 0.0),
    seed=st.integers(0, 2**16),
    tiny_share=st.floats(0.0, 0.9),
)
def test_any_positive_slope_keeps_ap_and_roc_auc(slope, intercept, seed, tiny_share):
    # logits from -34 (p ~ 2e-15) to 1.8: slope * logit + intercept stays inside float64's range of distinct
    # sigmoids (-745, 36.7) for every slope up to 20, so equality is exact
    rng = np.random.default_rng(seed)
    n = 300
    tiny = rng.random(n) < tiny_share
    z = np.where(tiny, rng.uniform(-34.0, -16.2, n), rng.uniform(-16.0, 1.8, n))
    y = (rng.random(n) < expit(z + 10.0)).astype(np.int8)
    y[:2] = [0, 1]  # both classes present
    p = expit(z)
    artifact = {
        "version": 1,
        "method": "platt",
        "params": {},
        "n_labels": 1,
        "slope": [slope],
        "intercept": [intercept],
    }
    calibrated = calibration_from_dict(artifact).transform(p[:, None])[:, 0]
    assert np.unique(calibrated).size == np.unique(p).size
    assert _ranking(y, calibrated) == pytest.approx(_ranking(y, p), abs=1e-12)


def _separated(seed: int = 0, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int8)
    z = np.where(y == 1, rng.uniform(2, 8, n), rng.uniform(-8, -2, n))
    return y, expit(z).astype(np.float32)


def _binary_nll_temperature(y: np.ndarray, z: np.ndarray, bounds=(0.05, 20.0)) -> float:
    """scipy's bounded minimiser of the binary NLL of sigmoid(z / T) over T."""

    def loss(t):
        return np.sum(np.logaddexp(0, z / t) - y * z / t)

    return minimize_scalar(loss, bounds=bounds, method="bounded", options={"xatol": 1e-10}).x


def test_separated_label_goes_to_the_lower_bound_and_is_reported():
    y, p = _separated()
    z = np.log(p.astype(np.float64)) - np.log1p(-p.astype(np.float64))
    assert _binary_nll_temperature(y, z) == pytest.approx(0.05, abs=1e-6)  # the reference sits on the bound
    with pytest.warns(UserWarning, match=r"1 of 1 labels have their temperature at a bound of \[0.05, 20\]"):
        fitted = TemperatureScaling().fit(y[:, None], p[:, None])
    assert fitted.temperature_.tolist() == [0.05]
    assert fitted.extra_["at_bound"].tolist() == [True]


def test_one_wrong_sided_score_gives_a_finite_temperature_matching_scipy():
    y, p = _separated()
    flip = int(np.flatnonzero(y == 0)[0])
    p[flip] = np.float32(expit(1.0))  # one negative scored on the positive side: the optimum is inside the bounds
    z = np.log(p.astype(np.float64)) - np.log1p(-p.astype(np.float64))
    reference = _binary_nll_temperature(y, z)
    assert 0.06 < reference < 1.0
    fitted = TemperatureScaling().fit(y[:, None], p[:, None])
    np.testing.assert_allclose(fitted.temperature_, reference, rtol=1e-4)
    assert fitted.extra_["at_bound"].tolist() == [False]


def _many_classes(seed: int = 0, n: int = 2000, k: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """(labels (n,), logits (n, k)) of an over-confident classifier: most softmax cells are below 1e-7."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = rng.normal(0, 6, (n, k))
    logits[np.arange(n), labels] += 8
    return labels, 1.5 * logits


def _multiclass_reference(labels: np.ndarray, logits: np.ndarray) -> float:
    """scipy's T minimising the multi-class NLL of softmax(logits / T): temperature scaling by definition."""

    def loss(t):
        return -log_softmax(logits / t, axis=1)[np.arange(len(labels)), labels].mean()

    return minimize_scalar(loss, bounds=(0.05, 20), method="bounded", options={"xatol": 1e-10}).x


def test_multiclass_temperature_is_temperature_scaling_of_the_logits():
    labels, logits = _many_classes()
    p = softmax(logits, axis=1)
    assert (p < 1e-7).mean() > 0.45
    reference = _multiclass_reference(labels, logits)
    fitted = TemperatureScaling(task="multiclass").fit(np.eye(100, dtype=np.int8)[labels], p)
    np.testing.assert_allclose(fitted.temperature_, reference, rtol=1e-6)
    np.testing.assert_allclose(fitted.transform(p), softmax(logits / reference, axis=1), rtol=0, atol=1e-7)


def test_multiclass_temperature_with_underflowed_float32_softmax():
    labels, logits = _many_classes(seed=1, n=500)
    p = softmax(logits * 4, axis=1).astype(np.float32)  # float32: many cells are exactly 0
    assert (p == 0).any()
    fitted = TemperatureScaling(task="multiclass").fit(np.eye(100, dtype=np.int8)[labels], p)
    out = fitted.transform(p)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(out.argmax(axis=1), p.argmax(axis=1))

import doctest
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import minimize, minimize_scalar
from sklearn.metrics import average_precision_score, roc_auc_score

from tailtag.calibration import IdentityCalibration, PlattScaling, TemperatureScaling, create_calibrator, ece, methods
from tailtag.errors import TailtagError


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def logit(p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def nll(targets, p):
    """(K,) mean binary NLL per label."""
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return -(targets * np.log(p) + (1 - targets) * np.log(1 - p)).mean(axis=0)


def tempered_case(seed, n, k, scale):
    """True log-odds z, targets ~ Bernoulli(sigmoid(z)), reported p = sigmoid(scale * z): the true T is `scale`."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * 1.5 + np.linspace(-2.0, 0.5, k)
    targets = (rng.random((n, k)) < sigmoid(z)).astype(np.int8)
    return targets, sigmoid(scale * z)


@pytest.mark.parametrize("scale", [0.4, 3.0])
def test_temperature_recovers_known_scale(scale):
    targets, p = tempered_case(0, n=20000, k=3, scale=scale)
    fitted = TemperatureScaling().fit(targets, p)
    np.testing.assert_allclose(fitted.temperature_, scale, rtol=0.06)
    assert fitted.extra_["identity"].tolist() == [False] * 3
    assert fitted.extra_["at_bound"].tolist() == [False] * 3


def test_temperature_matches_scipy_per_label():
    targets, p = tempered_case(1, n=400, k=4, scale=2.0)
    fitted = TemperatureScaling().fit(targets, p)
    z = logit(p)
    for j in range(4):

        def loss(beta, j=j):
            return np.sum(np.logaddexp(0, beta * z[:, j]) - targets[:, j] * beta * z[:, j])

        best = minimize_scalar(loss, bounds=(0.05, 20), method="bounded", options={"xatol": 1e-10})
        np.testing.assert_allclose(fitted.temperature_[j], 1 / best.x, rtol=1e-4)


def test_platt_recovers_known_line():
    rng = np.random.default_rng(2)
    n, slopes, intercepts = 30000, np.array([0.5, 2.0, 1.2]), np.array([-1.0, 0.5, -2.5])
    z = rng.normal(size=(n, 3)) * 2.0
    targets = (rng.random((n, 3)) < sigmoid(slopes * z + intercepts)).astype(np.int8)
    fitted = PlattScaling().fit(targets, sigmoid(z))
    np.testing.assert_allclose(fitted.slope_, slopes, atol=0.06)
    np.testing.assert_allclose(fitted.intercept_, intercepts, atol=0.06)


def test_platt_matches_scipy_with_smoothed_targets():
    targets, p = tempered_case(3, n=300, k=3, scale=0.5)
    fitted = PlattScaling().fit(targets, p)
    z = logit(p)
    for j in range(3):
        n_pos = targets[:, j].sum()
        tau = np.where(targets[:, j] == 1, (n_pos + 1) / (n_pos + 2), 1 / (len(z) - n_pos + 2))

        def loss(theta, j=j, tau=tau):
            u = theta[0] * z[:, j] + theta[1]
            return np.sum(np.logaddexp(0, u) - tau * u)

        best = minimize(loss, [1.0, 0.0], method="BFGS", options={"gtol": 1e-9}).x
        np.testing.assert_allclose([fitted.slope_[j], fitted.intercept_[j]], best, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("method", ["temperature", "platt"])
def test_fit_never_raises_nll_on_fitting_data(method):
    for seed, scale in ((4, 0.3), (5, 1.0), (6, 4.0)):
        targets, p = tempered_case(seed, n=800, k=5, scale=scale)
        calibrated = create_calibrator(method).fit_transform(targets, p)
        assert (nll(targets, calibrated) <= nll(targets, p) + 1e-9).all()


def test_separable_label_stays_finite_with_platt_smoothing():
    targets = np.array([[0], [0], [0], [1], [1], [1]] * 20, dtype=np.int8)
    p = np.where(targets == 1, 0.9, 0.1)  # perfectly separated: unsmoothed Platt would send a to infinity
    fitted = PlattScaling(max_slope=1000).fit(targets, p)
    assert np.isfinite(fitted.slope_).all() and 0 < fitted.slope_[0] < 1000
    n_pos = 60
    np.testing.assert_allclose(fitted.transform(p)[targets == 1], (n_pos + 1) / (n_pos + 2), rtol=1e-4)


def test_degenerate_labels_keep_identity_and_are_reported():
    targets, p = tempered_case(7, n=500, k=4, scale=2.0)
    targets[:, 1] = 0
    targets[:, 3] = 1
    for method, match in (("temperature", r"T=1"), ("platt", r"a=1, b=0")):
        with pytest.warns(UserWarning, match=rf"1 of 4 labels have no positives and 1 have no negatives.*{match}"):
            fitted = create_calibrator(method).fit(targets, p)
        assert fitted.extra_["identity"].tolist() == [False, True, False, True]
        out = fitted.transform(p)
        np.testing.assert_array_equal(out[:, [1, 3]], p[:, [1, 3]])
        assert not np.allclose(out[:, [0, 2]], p[:, [0, 2]])


def test_all_labels_degenerate():
    targets = np.zeros((10, 2), dtype=np.int8)
    with pytest.warns(UserWarning, match="2 of 2 labels have no positives"):
        fitted = TemperatureScaling().fit(targets, np.full((10, 2), 0.3))
    assert fitted.temperature_.tolist() == [1.0, 1.0] and fitted.extra_["passes"] == 0


@pytest.mark.parametrize("method", ["temperature", "platt"])
def test_pass_budget_exhausted_warns(method):
    targets, p = tempered_case(14, n=500, k=3, scale=8.0)
    with pytest.warns(UserWarning, match=r"3 of 3 labels did not converge within max_iter=2 passes"):
        fitted = create_calibrator(method, max_iter=2).fit(targets, p)
    assert fitted.extra_["unconverged"].tolist() == [0, 1, 2] and fitted.extra_["passes"] == 2
    assert create_calibrator(method).fit(targets, p).extra_["unconverged"].tolist() == []


def test_inverted_scores_hit_the_bounds():
    targets, p = tempered_case(8, n=2000, k=2, scale=1.0)
    p[:, 1] = 1 - p[:, 1]  # anti-correlated label: the NLL optimum would need a negative T or slope
    with pytest.warns(UserWarning, match=r"1 of 2 labels have their temperature at a bound of \[0.05, 20\]"):
        t = TemperatureScaling().fit(targets, p)
    assert t.temperature_[1] == 20.0 and t.extra_["at_bound"].tolist() == [False, True]
    with pytest.warns(UserWarning, match=r"1 of 2 labels have their slope clipped to \[0.05, 20\]"):
        platt = PlattScaling().fit(targets, p)
    assert platt.slope_[1] == 0.05 and platt.extra_["at_bound"].tolist() == [False, True]
    # with the slope pinned, b is refitted: the mean calibrated probability matches the smoothed base rate
    n_pos = targets[:, 1].sum()
    expected = ((n_pos + 1) / (n_pos + 2) * n_pos + (2000 - n_pos) / (2000 - n_pos + 2)) / 2000
    np.testing.assert_allclose(platt.transform(p)[:, 1].mean(), expected, rtol=1e-4)


@pytest.mark.parametrize("method", ["none", "temperature", "platt"])
def test_transform_keeps_each_labels_ranking(method):
    targets, p = tempered_case(9, n=600, k=4, scale=2.5)
    calibrated = create_calibrator(method).fit(targets, p).transform(p)
    for j in range(4):
        assert (np.diff(calibrated[np.argsort(p[:, j]), j]) >= 0).all()
        assert average_precision_score(targets[:, j], calibrated[:, j]) == pytest.approx(
            average_precision_score(targets[:, j], p[:, j]), abs=1e-12
        )
        assert roc_auc_score(targets[:, j], calibrated[:, j]) == pytest.approx(
            roc_auc_score(targets[:, j], p[:, j]), abs=1e-12
        )


def test_identity_returns_a_copy():
    targets, p = tempered_case(10, n=50, k=2, scale=1.0)
    out = IdentityCalibration().fit(targets, p).transform(p)
    np.testing.assert_array_equal(out, p)
    assert out is not p


def test_sparse_and_float32_inputs_match_dense():
    targets, p = tempered_case(11, n=500, k=3, scale=2.0)
    dense = TemperatureScaling().fit(targets, p)
    sparse = TemperatureScaling().fit(sp.csr_matrix(targets), p.astype(np.float32))
    np.testing.assert_allclose(sparse.temperature_, dense.temperature_, rtol=1e-5)


@pytest.mark.parametrize("method", ["none", "temperature", "platt"])
def test_float32_input_gives_the_float64_results_bit_for_bit(method):
    # float32 probabilities are converted block by block instead of copied whole (memory at 10,000 labels):
    # the numbers must be those of the float64 copy of the same values
    targets, p = tempered_case(12, n=400, k=6, scale=2.0)
    targets[:, 5] = 0  # an identity label, copied through
    p32 = p.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from32 = create_calibrator(method).fit(targets, p32)
        from64 = create_calibrator(method).fit(targets, p32.astype(np.float64))
    for name in from64.coef_names:
        np.testing.assert_array_equal(getattr(from32, f"{name}_"), getattr(from64, f"{name}_"))
    out32, out64 = from32.transform(p32), from64.transform(p32.astype(np.float64))
    assert out32.dtype == np.float64
    np.testing.assert_array_equal(out32, out64)


def test_multiclass_single_temperature():
    rng = np.random.default_rng(12)
    logits = rng.normal(size=(20000, 5)) * 1.5
    true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = (true.cumsum(axis=1) > rng.random((20000, 1))).argmax(axis=1)
    targets = np.eye(5, dtype=np.int8)[labels]
    sharp = np.exp(3 * logits) / np.exp(3 * logits).sum(axis=1, keepdims=True)
    fitted = TemperatureScaling(task="multiclass").fit(targets, sharp)
    np.testing.assert_allclose(fitted.temperature_, 3.0, rtol=0.05)
    out = fitted.transform(sharp)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    np.testing.assert_array_equal(out.argmax(axis=1), sharp.argmax(axis=1))
    before = -np.log(sharp[np.arange(20000), labels]).mean()
    assert -np.log(out[np.arange(20000), labels]).mean() < before


def test_multiclass_rejects_multilabel_data():
    targets = np.array([[1, 1, 0], [0, 1, 0]])
    with pytest.raises(TailtagError, match=r"exactly one positive per row, but row 0 has 2.*task='multilabel'"):
        TemperatureScaling(task="multiclass").fit(targets, np.full((2, 3), 1 / 3))
    with pytest.raises(TailtagError, match=r"rows sum to 1, but row 1 sums to 1.5"):
        TemperatureScaling(task="multiclass").fit(np.eye(3)[:2], np.array([[0.2, 0.3, 0.5], [0.5, 0.5, 0.5]]))


def test_calibration_does_not_import_torch():
    code = "import sys, tailtag.calibration; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_no_warning_on_clean_data():
    targets, p = tempered_case(13, n=300, k=3, scale=1.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PlattScaling().fit(targets, p)
        TemperatureScaling().fit(targets, p)


def test_docstring_examples_hold():
    for module in (methods, ece):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__

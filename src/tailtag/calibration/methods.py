"""Calibration methods: identity, per-class temperature scaling and per-class Platt scaling.

- Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017), per label k:
  p' = sigmoid(logit(p) / T_k), T_k > 0 minimising the binary NLL on validation data. One parameter per label
  fixes over- (T > 1) or under-confidence (T < 1) without moving the 0.5 point.
- Platt scaling (Platt, "Probabilistic outputs for support vector machines and comparisons to regularized
  likelihood methods", 1999), per label: p' = sigmoid(a_k logit(p) + b_k), fitted with Platt's smoothed
  targets (n+ + 1) / (n+ + 2) and 1 / (n- + 2), so perfectly separated labels get a finite fit.

The fit clips probabilities to [1e-7, 1 - 1e-7] before the logit, so a few saturated scores on the wrong side
cannot dominate the NLL; `transform` maps the exact float64 logit, log(p) - log1p(-p), unclipped. Labels with
no positive or no negative in the fitting data have nothing to calibrate against: they keep the identity, are
listed in `extra_["identity"]` and counted in a warning. T and a are kept in a sane range so one odd label
cannot squash or explode its scores. A perfectly separated label (every positive logit >= 0, every negative
<= 0) has no finite optimal temperature: it gets the lowest one and is listed in `extra_["at_bound"]`.

The maps are increasing, so per-label rankings (AP, ROC-AUC) are unchanged, up to what float64 can hold: a
calibrated logit a logit(p) + b above 36.7 rounds to exactly 1.0 and one below -745 to 0.0 (at T = 0.05 that
is any raw p above 0.86, so distinct top scores of a label at the lowest temperature can tie).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tailtag.calibration._base import Calibrator, positive_cells
from tailtag.calibration._kernels import _row_blocks, logistic_map, logits32
from tailtag.calibration._multiclass import apply_multiclass_temperature, check_softmax_rows, fit_multiclass_temperature
from tailtag.calibration._solvers import fit_platt, fit_temperature
from tailtag.validation import check_choice, check_number

Task = Literal["multilabel", "multiclass"]


@dataclass(frozen=True)
class _FitData:
    """What the binary solvers need: the labels with both classes present, their logits and positive cells."""

    fittable: np.ndarray  # (K,) bool
    n_pos: np.ndarray  # (K,) int64 positives per label
    columns: np.ndarray  # (M,) indices of the fittable labels
    z: np.ndarray  # (N, M) float32 logits of those labels
    positives: tuple[np.ndarray, np.ndarray]  # (rows, cols), cols indexing the M fittable labels


def _fit_data(targets: np.ndarray, probabilities: np.ndarray, owner: str, identity: str) -> _FitData:
    """Split off the labels with no positive or no negative (warning with the counts) and take the logits."""
    n, k = targets.shape
    rows, cols = positive_cells(targets)
    n_pos = np.bincount(cols, minlength=k)
    no_pos, no_neg = n_pos == 0, n_pos == n
    if no_pos.any() or no_neg.any():
        warnings.warn(
            f"{owner}.fit: {int(no_pos.sum())} of {k} labels have no positives and {int(no_neg.sum())} have no "
            f"negatives in the fitting data; they keep the identity ({identity}), listed in extra_['identity']",
            UserWarning,
            stacklevel=4,
        )
    fittable = ~(no_pos | no_neg)
    columns = np.flatnonzero(fittable)
    if columns.size == k:
        return _FitData(fittable, n_pos, columns, logits32(probabilities), (rows, cols))
    local = np.full(k, -1)
    local[columns] = np.arange(columns.size)
    keep = local[cols] >= 0
    z = logits32(probabilities, columns)
    return _FitData(fittable, n_pos, columns, z, (rows[keep], local[cols[keep]]))


def _warn_at_bound(at_bound: np.ndarray, owner: str, what: str) -> None:
    if at_bound.any():
        warnings.warn(
            f"{owner}.fit: {int(at_bound.sum())} of {at_bound.size} labels have their {what}: their scores are "
            "inverted or uninformative (T at its upper bound, slope at its lower), or separate the label (almost) "
            "perfectly (T at its lower bound, slope at its upper) on the fitting data; listed in extra_['at_bound']",
            UserWarning,
            stacklevel=4,
        )


def _warn_unconverged(unconverged: np.ndarray, owner: str, max_iter: int) -> None:
    if unconverged.any():
        warnings.warn(
            f"{owner}.fit: {int(unconverged.sum())} of {unconverged.size} labels did not converge within "
            f"max_iter={max_iter} passes; they keep their last iterate, listed in extra_['unconverged']",
            UserWarning,
            stacklevel=4,
        )


def _check_solver_options(
    owner: str, low: float, high: float, names: tuple[str, str], tol: float, max_iter: int
) -> None:
    check_number(low, names[0], owner, low=1e-6)
    check_number(high, names[1], owner, low=low)
    check_number(tol, "tol", owner, low=1e-12, high=1e-2)
    check_number(max_iter, "max_iter", owner, low=1)


class _BinaryCalibrator(Calibrator):
    """Shared bookkeeping of the per-label methods."""

    max_iter: int

    def _record(self, data: _FitData, at_bound: np.ndarray, unconverged: np.ndarray, passes: int) -> None:
        _warn_unconverged(unconverged, type(self).__name__, self.max_iter)
        self.extra_.update(identity=~data.fittable, at_bound=at_bound, n_positives=data.n_pos, passes=passes)
        self.extra_["unconverged"] = np.flatnonzero(unconverged)


class IdentityCalibration(Calibrator):
    """No calibration: `transform` returns the probabilities unchanged (the "none" entry of the registry)."""

    method = "none"

    def _fit(self, targets: np.ndarray, probabilities: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def _transform(self, probabilities: np.ndarray) -> np.ndarray:
        return np.array(probabilities, dtype=np.float64)


class TemperatureScaling(_BinaryCalibrator):
    """Temperature scaling: one T per label (multi-label, sigmoid outputs) or one shared T (multi-class).

    Args:
        min_temperature, max_temperature: the range T is kept in.
        task: "multilabel": p' = sigmoid(logit(p) / T_k) per label; "multiclass": p' = softmax(log p / T) with
            one T for every class (needs one-hot targets and softmax rows); `temperature_` then repeats it K times.
        tol: relative tolerance on 1 / T (float32 sums limit the attainable accuracy; see `_kernels`).
        max_iter: Newton passes at most.

    Example (over-confident scores are softened):
        >>> cal = TemperatureScaling().fit([[1], [1], [0], [0], [1], [0]], [[.99], [.9], [.2], [.01], [.3], [.7]])
        >>> cal.temperature_.round(3), cal.transform([[0.99], [0.5], [0.1]]).ravel().round(3)
        (array([1.406]), array([0.963, 0.5  , 0.173]))
    """

    method = "temperature"
    coef_names = ("temperature",)

    def __init__(
        self,
        min_temperature: float = 0.05,
        max_temperature: float = 20.0,
        task: Task = "multilabel",
        tol: float = 1e-6,
        max_iter: int = 100,
    ):
        self.min_temperature = min_temperature
        self.max_temperature = max_temperature
        self.task = task
        self.tol = tol
        self.max_iter = max_iter

    def _fit(self, targets: np.ndarray, probabilities: np.ndarray) -> dict[str, np.ndarray]:
        owner, k = type(self).__name__, targets.shape[1]
        names = ("min_temperature", "max_temperature")
        _check_solver_options(owner, self.min_temperature, self.max_temperature, names, self.tol, self.max_iter)
        check_choice(self.task, "task", owner, choices=("multilabel", "multiclass"))
        bounds = (float(self.min_temperature), float(self.max_temperature))
        if self.task == "multiclass":
            probabilities = np.asarray(probabilities, dtype=np.float64)
            value = fit_multiclass_temperature(targets, probabilities, bounds, self.tol, self.max_iter, f"{owner}.fit")
            return {"temperature": np.full(k, value)}
        data = _fit_data(targets, probabilities, owner, "T=1")
        temperature, unconverged, passes = np.ones(k), np.zeros(k, dtype=bool), 0
        if data.columns.size:
            fitted = fit_temperature(data.z, data.positives, bounds, self.tol, int(self.max_iter))
            temperature[data.columns], unconverged[data.columns], passes = fitted
        # bisection only approaches a bound, so snap labels within 1e-4 of one onto it
        low = data.fittable & (temperature <= bounds[0] * (1 + 1e-4))
        high = data.fittable & (temperature >= bounds[1] * (1 - 1e-4))
        temperature[low], temperature[high] = bounds[0], bounds[1]
        at_bound = low | high
        _warn_at_bound(at_bound, owner, f"temperature at a bound of [{bounds[0]:g}, {bounds[1]:g}]")
        self._record(data, at_bound, unconverged, passes)
        return {"temperature": temperature}

    def _transform(self, probabilities: np.ndarray) -> np.ndarray:
        if self.task == "multiclass":
            probabilities = np.asarray(probabilities, dtype=np.float64)
            check_softmax_rows(probabilities, f"{type(self).__name__}.transform")
            return apply_multiclass_temperature(probabilities, float(self.temperature_[0]))
        return _logistic_keeping_identity(probabilities, 1.0 / self.temperature_, None)

    def _check_coefs(self, coefs: dict[str, np.ndarray]) -> str | None:
        if (coefs["temperature"] <= 0).any():
            return "key 'temperature' must hold positive numbers; fix: refit the calibration"
        return None


class PlattScaling(_BinaryCalibrator):
    """Platt scaling per label: p' = sigmoid(a_k logit(p) + b_k), with smoothed targets (module docstring).

    Args:
        min_slope, max_slope: the range a is kept in; a > 0 keeps each label's ranking.
        tol: relative tolerance on (a, b).
        max_iter: Newton passes at most.
    """

    method = "platt"
    coef_names = ("slope", "intercept")

    def __init__(self, min_slope: float = 0.05, max_slope: float = 20.0, tol: float = 1e-6, max_iter: int = 100):
        self.min_slope = min_slope
        self.max_slope = max_slope
        self.tol = tol
        self.max_iter = max_iter

    def _fit(self, targets: np.ndarray, probabilities: np.ndarray) -> dict[str, np.ndarray]:
        owner, k = type(self).__name__, targets.shape[1]
        names = ("min_slope", "max_slope")
        _check_solver_options(owner, self.min_slope, self.max_slope, names, self.tol, self.max_iter)
        data = _fit_data(targets, probabilities, owner, "a=1, b=0")
        slope, intercept, passes = np.ones(k), np.zeros(k), 0
        at_bound, unconverged = np.zeros(k, dtype=bool), np.zeros(k, dtype=bool)
        if data.columns.size:
            bounds = (float(self.min_slope), float(self.max_slope))
            a, b, pinned, still_open, passes = fit_platt(data.z, data.positives, bounds, self.tol, int(self.max_iter))
            cols = data.columns
            slope[cols], intercept[cols], at_bound[cols], unconverged[cols] = a, b, pinned, still_open
        _warn_at_bound(at_bound, owner, f"slope clipped to [{self.min_slope:g}, {self.max_slope:g}]")
        self._record(data, at_bound, unconverged, passes)
        return {"slope": slope, "intercept": intercept}

    def _transform(self, probabilities: np.ndarray) -> np.ndarray:
        return _logistic_keeping_identity(probabilities, self.slope_, self.intercept_)

    def _check_coefs(self, coefs: dict[str, np.ndarray]) -> str | None:
        if (coefs["slope"] <= 0).any():
            return "key 'slope' must hold positive numbers (a <= 0 would invert rankings); fix: refit the calibration"
        return None


def _logistic_keeping_identity(probabilities: np.ndarray, slope: np.ndarray, intercept: np.ndarray | None):
    """The logistic map, with identity labels (slope 1, intercept 0) copied through bit for bit."""
    out = logistic_map(probabilities, slope, intercept)
    identity = np.flatnonzero((slope == 1.0) if intercept is None else (slope == 1.0) & (intercept == 0.0))
    # row blocks: at thousands of labels most may be identity (no validation positive), and one
    # probabilities[:, identity] gather would be a second (N, K) copy
    for rows in _row_blocks(len(out) if identity.size else 0, identity.size):
        out[rows, identity] = probabilities[rows, identity]
    return out

"""From a model's raw probabilities to tags: per-label calibration, then the fitted thresholds.

The pair is fitted once on a run's validation split and saved next to the model (calibration.json,
thresholds.json), so evaluation, batch prediction, export and the service all decide the same way.
Calibration comes first: a monotone per-label map leaves each label's ranking unchanged, but it puts the
labels on one probability scale, which is what a shared global threshold (and the shrinkage of per-label
thresholds toward it) assumes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import numpy as np

from tailtag.calibration import ARTIFACT_VERSION as CALIBRATION_VERSION
from tailtag.calibration import (
    Calibrator,
    calibration_from_dict,
    create_calibrator,
    load_calibration,
    save_calibration,
)
from tailtag.errors import OptionError
from tailtag.labels.table import Task
from tailtag.thresholds._base import Thresholds
from tailtag.thresholds._registry import create_thresholds, load_thresholds, save_thresholds

THRESHOLDS_FILE = "thresholds.json"
CALIBRATION_FILE = "calibration.json"
DEFAULT_STRATEGY = "per_class_f1"
DEFAULT_CALIBRATION = "temperature"
TASKS = get_args(Task)


@dataclass
class Decision:
    """A fitted calibrator and fitted thresholds.

    Attributes:
        calibrator: raw probabilities (N, K) -> calibrated probabilities (N, K).
        thresholds: calibrated probabilities -> (N, K) 0/1 decisions (`Thresholds.predict`, so top-k works).
    """

    calibrator: Calibrator
    thresholds: Thresholds

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        """(N, K) float64 calibrated probabilities of (N, K) raw ones.

        float64, as the thresholds were fitted on: at a low temperature float32 would round distinct top scores
        to exact 1.0 ties (any calibrated logit above 16.6) and change rankings and decisions near a threshold.
        """
        return np.asarray(self.calibrator.transform(raw), dtype=np.float64)

    def predict(self, raw: np.ndarray) -> np.ndarray:
        """(N, K) uint8 decisions for (N, K) raw probabilities."""
        return self.thresholds.predict(self.probabilities(raw))

    def save(self, directory: str | Path) -> tuple[Path, Path]:
        """Write calibration.json and thresholds.json into `directory`."""
        directory = Path(directory)
        return (
            save_calibration(self.calibrator, directory / CALIBRATION_FILE),
            save_thresholds(self.thresholds, directory / THRESHOLDS_FILE),
        )


def fit_decision(
    targets: np.ndarray,
    raw: np.ndarray,
    names: list[str] | None = None,
    *,
    strategy: str = DEFAULT_STRATEGY,
    strategy_params: dict | None = None,
    calibration: str = DEFAULT_CALIBRATION,
    task: Task = "multilabel",
    quiet: bool = False,
) -> Decision:
    """Fit calibration on (N, K) `targets` / `raw` probabilities, then thresholds on the calibrated ones.

    Multi-class runs pass strategy "top_k" with min_tags = max_tags = 1 (the arg-max decision) and
    task="multiclass": temperature calibration then fits one T shared by all classes, so each row of calibrated
    probabilities still sums to 1 and its arg-max is unchanged.
    `quiet` silences the fitting warnings (fallback counts), e.g. inside cross-fitting folds.
    """
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        calibrator = create_calibrator(calibration, **_calibration_params(calibration, task))
        calibrator.fit(targets, raw, names=names)
        thresholds = create_thresholds(strategy, **(strategy_params or {}))
        thresholds.fit(targets, calibrator.transform(raw), names=names)
    return Decision(calibrator, thresholds)


def _calibration_params(calibration: str, task: Task) -> dict:
    """The calibrator's parameters for `task`: per-class maps would break a softmax row's sum of 1."""
    if task not in ("multilabel", "multiclass"):
        raise OptionError(f"The 'task' parameter of fit_decision must be one of {list(TASKS)}. Got {task!r} instead.")
    if task == "multilabel" or calibration == "none":
        return {}
    if calibration == "temperature":
        return {"task": "multiclass"}
    raise OptionError(
        f"calibration {calibration!r} fits each class on its own, so on a multi-class run the calibrated rows would "
        "no longer sum to 1 and could change the top class\n  fix: use --calibration temperature (one temperature "
        "shared by all classes) or none"
    )


def load_decision(directory: str | Path) -> Decision | None:
    """The decision saved in `directory`, or None when it has no thresholds.json (calibration optional)."""
    directory = Path(directory)
    if not (directory / THRESHOLDS_FILE).is_file():
        return None
    thresholds = load_thresholds(directory / THRESHOLDS_FILE)
    calibration_file = directory / CALIBRATION_FILE
    if calibration_file.is_file():
        calibrator = load_calibration(calibration_file)
    else:  # thresholds alone (e.g. written by hand): probabilities pass through unchanged
        identity = {"version": CALIBRATION_VERSION, "method": "none", "params": {}}
        identity.update(n_labels=int(thresholds.thresholds_.size), names=thresholds.names_)
        calibrator = calibration_from_dict(identity, source=str(calibration_file))
    return Decision(calibrator, thresholds)

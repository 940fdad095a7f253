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

import numpy as np

from tailtag import rundir
from tailtag.calibration import ARTIFACT_VERSION as CALIBRATION_VERSION
from tailtag.calibration import (
    Calibrator,
    calibration_from_dict,
    create_calibrator,
    load_calibration,
    save_calibration,
)
from tailtag.thresholds._base import Thresholds
from tailtag.thresholds._registry import create_thresholds, load_thresholds, save_thresholds

THRESHOLDS_FILE = rundir.THRESHOLDS
CALIBRATION_FILE = rundir.CALIBRATION
DEFAULT_STRATEGY = "per_class_f1"
DEFAULT_CALIBRATION = "temperature"


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
        """(N, K) calibrated probabilities of (N, K) raw ones."""
        return np.asarray(self.calibrator.transform(raw), dtype=np.float32)

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
    quiet: bool = False,
) -> Decision:
    """Fit calibration on (N, K) `targets` / `raw` probabilities, then thresholds on the calibrated ones.

    Multi-class runs pass strategy "top_k" with min_tags = max_tags = 1: the arg-max decision.
    `quiet` silences the fitting warnings (fallback counts), e.g. inside cross-fitting folds.
    """
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        calibrator = create_calibrator(calibration).fit(targets, raw, names=names)
        thresholds = create_thresholds(strategy, **(strategy_params or {}))
        thresholds.fit(targets, calibrator.transform(raw), names=names)
    return Decision(calibrator, thresholds)


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

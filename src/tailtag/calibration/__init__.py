"""Probability calibration fitted on validation scores and applied before thresholds (torch-free): per-class
temperature and Platt scaling with a versioned JSON artifact, plus multi-label ECE and reliability curves.

Example:
    >>> from tailtag.rundir import CALIBRATION  # the file name, calibration.json
    >>> cal = create_calibrator("temperature").fit(val_targets, val_probabilities, names=table.names)
    >>> save_calibration(cal, run_dir / CALIBRATION)
    >>> calibrated = load_calibration(run_dir / CALIBRATION).transform(test_probabilities)
    >>> expected_calibration_error(test_targets, calibrated).overall
"""

from tailtag.calibration._base import ARTIFACT_VERSION, Calibrator
from tailtag.calibration._registry import (
    CALIBRATORS,
    calibration_from_dict,
    create_calibrator,
    get_calibrator,
    load_calibration,
    save_calibration,
)
from tailtag.calibration.ece import ECEResult, ReliabilityCurve, expected_calibration_error, reliability_curve
from tailtag.calibration.methods import IdentityCalibration, PlattScaling, TemperatureScaling

__all__ = [
    "ARTIFACT_VERSION",
    "CALIBRATORS",
    "Calibrator",
    "ECEResult",
    "IdentityCalibration",
    "PlattScaling",
    "ReliabilityCurve",
    "TemperatureScaling",
    "calibration_from_dict",
    "create_calibrator",
    "expected_calibration_error",
    "get_calibrator",
    "load_calibration",
    "reliability_curve",
    "save_calibration",
]

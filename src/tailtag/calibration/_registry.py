"""Calibrator registry (a plain dict) and the versioned JSON artifact `RUN/calibration.json`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tailtag.artifacts import load_artifact, save_artifact
from tailtag.calibration._base import ARTIFACT_VERSION, Calibrator
from tailtag.calibration.methods import IdentityCalibration, PlattScaling, TemperatureScaling
from tailtag.errors import TailtagError
from tailtag.registry import create_registered, registered

CALIBRATORS: dict[str, type[Calibrator]] = {
    "none": IdentityCalibration,
    "temperature": TemperatureScaling,
    "platt": PlattScaling,
}


def get_calibrator(name: str) -> type[Calibrator]:
    """The calibrator class registered as `name`; OptionError listing the valid names otherwise."""
    return registered(CALIBRATORS, name, what="calibration method", plural="methods")


def create_calibrator(name: str, **params: Any) -> Calibrator:
    """An unfitted calibrator, e.g. `create_calibrator("temperature", max_temperature=10)`."""
    return create_registered(CALIBRATORS, name, params, what="calibration method", plural="methods")


def _coef_array(data: dict[str, Any], key: str, n_labels: int, source: str) -> np.ndarray:
    raw = data.get(key)
    try:
        values = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        values = np.empty(0)
    if values.ndim != 1 or values.size != n_labels or not np.isfinite(values).all():
        raise TailtagError(
            f"{source}: key {key!r} must be a list of {n_labels} finite numbers (one per label), got {raw!r:.80}; "
            "fix: refit the calibration"
        )
    return values


def calibration_from_dict(data: dict[str, Any], source: str = "calibration artifact") -> Calibrator:
    """Rebuild a fitted calibrator from `to_dict()` output; TailtagError naming the bad key otherwise."""
    if not isinstance(data, dict):
        raise TailtagError(f"{source}: expected a JSON object, got {type(data).__name__}")
    if data.get("version") != ARTIFACT_VERSION:
        raise TailtagError(
            f"{source}: key 'version' must be {ARTIFACT_VERSION}, got {data.get('version')!r}; fix: refit the "
            "calibration with this tailtag version"
        )
    method = data.get("method")
    if method not in CALIBRATORS:
        raise TailtagError(
            f"{source}: key 'method' must be one of {list(CALIBRATORS)}, got {method!r}; fix: refit the calibration"
        )
    cls = CALIBRATORS[method]
    n_labels = data.get("n_labels")
    if not isinstance(n_labels, int) or isinstance(n_labels, bool) or n_labels < 1:
        raise TailtagError(f"{source}: key 'n_labels' must be a positive integer, got {n_labels!r}")
    coefs = {name: _coef_array(data, name, n_labels, source) for name in cls.coef_names}
    names = data.get("names")
    if names is not None and (not isinstance(names, list) or len(names) != n_labels):
        count = len(names) if isinstance(names, list) else type(names).__name__
        raise TailtagError(
            f"{source}: key 'names' must be null or a list of {n_labels} label names, got {count}; fix: refit"
        )
    return cls._restore(data, coefs, source)


def save_calibration(calibrator: Calibrator, path: str | Path) -> Path:
    """Write the artifact as indented JSON; returns the path."""
    return save_artifact(calibrator.to_dict(), path)


def load_calibration(path: str | Path) -> Calibrator:
    """Read an artifact written by `save_calibration`; LabelFileError naming the file (and key) otherwise."""
    return load_artifact(
        path,
        calibration_from_dict,
        missing_fix="fit a calibration first (save_calibration)",
        refit_fix="refit the calibration and save it again",
    )

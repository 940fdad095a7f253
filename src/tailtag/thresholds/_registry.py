"""Strategy registry (a plain dict) and the versioned JSON artifact `RUN/thresholds.json`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tailtag.artifacts import load_artifact, save_artifact
from tailtag.errors import TailtagError
from tailtag.registry import create_registered, registered
from tailtag.thresholds._base import ARTIFACT_VERSION, Thresholds
from tailtag.thresholds.strategies import (
    FixedThreshold,
    GlobalThreshold,
    PerClassF1Threshold,
    PrecisionTargetThreshold,
    RecallTargetThreshold,
)
from tailtag.thresholds.topk import TopKThreshold

STRATEGIES: dict[str, type[Thresholds]] = {
    "fixed": FixedThreshold,
    "global": GlobalThreshold,
    "per_class_f1": PerClassF1Threshold,
    "precision": PrecisionTargetThreshold,
    "recall": RecallTargetThreshold,
    "top_k": TopKThreshold,
}


def get_thresholds(name: str) -> type[Thresholds]:
    """The strategy class registered as `name`; OptionError listing the valid names otherwise."""
    return registered(STRATEGIES, name, what="threshold strategy", plural="strategies")


def create_thresholds(name: str, **params: Any) -> Thresholds:
    """An unfitted strategy object, e.g. `create_thresholds("per_class_f1", shrinkage=5)`."""
    return create_registered(STRATEGIES, name, params, what="threshold strategy", plural="strategies")


def thresholds_from_dict(data: dict[str, Any], source: str = "thresholds artifact") -> Thresholds:
    """Rebuild a fitted object from `to_dict()` output; TailtagError naming the bad key otherwise."""
    if not isinstance(data, dict):
        raise TailtagError(f"{source}: expected a JSON object, got {type(data).__name__}")
    if data.get("version") != ARTIFACT_VERSION:
        raise TailtagError(
            f"{source}: key 'version' must be {ARTIFACT_VERSION}, got {data.get('version')!r}; fix: refit the "
            "thresholds with this tailtag version"
        )
    cls = get_thresholds(str(data.get("strategy")))
    raw = data.get("thresholds")
    try:
        thresholds = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        thresholds = np.empty(0)
    if thresholds.ndim != 1 or thresholds.size == 0 or not np.isfinite(thresholds).all():
        raise TailtagError(f"{source}: key 'thresholds' must be a non-empty list of finite numbers, got {raw!r:.80}")
    names = data.get("names")
    if names is not None and len(names) != thresholds.size:
        raise TailtagError(
            f"{source}: key 'names' has {len(names)} entries but 'thresholds' has {thresholds.size}; fix: refit"
        )
    return cls._restore(data, thresholds)


def save_thresholds(thresholds: Thresholds, path: str | Path) -> Path:
    """Write the artifact as indented JSON; returns the path."""
    return save_artifact(thresholds.to_dict(), path)


def load_thresholds(path: str | Path) -> Thresholds:
    """Read an artifact written by `save_thresholds`; LabelFileError if unreadable or malformed."""
    return load_artifact(
        path,
        thresholds_from_dict,
        missing_fix="fit thresholds first (tailtag evaluate)",
        refit_fix="refit the thresholds",
    )

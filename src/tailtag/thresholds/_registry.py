"""Strategy registry (a plain dict) and the versioned JSON artifact `RUN/thresholds.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tailtag.errors import LabelFileError, OptionError, TailtagError
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
    if name not in STRATEGIES:
        raise OptionError(f"unknown threshold strategy {name!r}; valid strategies: {', '.join(STRATEGIES)}")
    return STRATEGIES[name]


def create_thresholds(name: str, **params: Any) -> Thresholds:
    """An unfitted strategy object, e.g. `create_thresholds("per_class_f1", shrinkage=5)`."""
    cls = get_thresholds(name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise OptionError(f"threshold strategy {name!r}: {exc}; fix: check the parameter names") from exc


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
    path = Path(path)
    path.write_text(json.dumps(thresholds.to_dict(), indent=1) + "\n", encoding="utf-8")
    return path


def load_thresholds(path: str | Path) -> Thresholds:
    """Read an artifact written by `save_thresholds`; LabelFileError if unreadable or malformed."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise LabelFileError(path, "file not found", fix="fit thresholds first (tailtag evaluate)") from exc
    except json.JSONDecodeError as exc:
        raise LabelFileError(path, f"not valid JSON ({exc.msg})", line=exc.lineno, fix="refit the thresholds") from exc
    try:
        return thresholds_from_dict(data, source=str(path))
    except TailtagError as exc:
        raise LabelFileError(path, str(exc).removeprefix(f"{path}: "), fix="refit the thresholds") from exc

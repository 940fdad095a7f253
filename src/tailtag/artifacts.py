"""What calibration and thresholds share: the versioned JSON file each fitted object is saved as
(`RUN/calibration.json`, `RUN/thresholds.json`); their registries use `tailtag.registry`.

Errors follow the CLI's rule: an unknown name lists the valid ones; an unreadable or malformed file names
the file (and line or key) and says how to get a good one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tailtag.errors import LabelFileError, TailtagError
from tailtag.fileio import write_json

T = TypeVar("T")


def save_artifact(data: dict[str, Any], path: str | Path) -> Path:
    """Write a fitted object's `to_dict()` as indented JSON, atomically; returns the path."""
    return write_json(path, data, indent=1, end="\n")


def load_artifact(path: str | Path, from_dict: Callable[..., T], *, missing_fix: str, refit_fix: str) -> T:
    """`from_dict(data, source=path)` of a JSON artifact; LabelFileError naming the file (line, key) otherwise.

    Args:
        missing_fix: what to do when the file does not exist, e.g. "fit thresholds first (tailtag evaluate)".
        refit_fix: what to do when it is not valid JSON or not a valid artifact.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise LabelFileError(path, "file not found", fix=missing_fix) from exc
    except json.JSONDecodeError as exc:
        raise LabelFileError(path, f"not valid JSON ({exc.msg})", line=exc.lineno, fix=refit_fix) from exc
    try:
        return from_dict(data, source=str(path))
    except TailtagError as exc:
        problem = str(exc).removeprefix(f"{path}: ").split("; fix:")[0]
        raise LabelFileError(path, problem, fix=refit_fix) from exc

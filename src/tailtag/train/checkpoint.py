"""Atomic checkpoint files: a kill -9 at any moment leaves either the old file or the new one, whole.

A checkpoint damaged outside tailtag (a partial copy, a full disk, a foreign file) is reported as unreadable,
with `--restart` as the way to start over, instead of a traceback on the rerun that would resume it.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from tailtag.errors import LabelFileError
from tailtag.fileio import atomic_write
from tailtag.models.weights import require_safe_torch

_KEYS = ("config", "state", "model", "optimizer")  # what every checkpoint `train` writes holds


def save_atomic(state: dict[str, Any], path: Path) -> None:
    """torch.save to a temporary file in the same folder, fsync, then rename over `path`."""
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        torch.save(state, handle)


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The checkpoint at `path` (tensors and plain Python values only: weights_only=True), or None.

    Raises:
        LabelFileError: the file is empty, truncated, not a torch file, holds Python objects that
            weights_only refuses, or lacks the entries `train` writes; the message says to rerun with --restart.
        TailtagError: the installed torch is too old to load it safely (`require_safe_torch`).
    """
    path = Path(path)
    if not path.exists():
        return None
    require_safe_torch()
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - damaged or foreign bytes fail in the unpickler with many types
        raise _unreadable(path, _why(path, error)) from error
    if not isinstance(checkpoint, dict):
        raise _unreadable(path, f"it holds a {type(checkpoint).__name__}, not a tailtag training checkpoint")
    missing = [key for key in _KEYS if not isinstance(checkpoint.get(key), dict)]
    if missing:
        raise _unreadable(path, f"it lacks {', '.join(missing)}, so it was not written by tailtag train")
    return checkpoint


def _why(path: Path, error: BaseException) -> str:
    if path.stat().st_size == 0:
        return "the file is empty (0 bytes)"
    if isinstance(error, pickle.UnpicklingError):
        # torch's own message is a page of advice about weights_only=False, which must not be followed here
        if "unsupported global" in str(error).lower():
            return "it holds Python objects besides tensors, refused since unpickling them can run code"
        return "it is not a torch file (unrecognised pickle data)"
    detail = (str(error).splitlines() or [""])[0][:100]
    return f"it is truncated or not a torch file ({type(error).__name__}: {detail})"


def _unreadable(path: Path, why: str) -> LabelFileError:
    return LabelFileError(
        path,
        f"the training checkpoint cannot be read: {why}",
        fix="rerun the same command with --restart to start this run over (the checkpoint and the run's outputs "
        "are deleted), or choose another --out",
    )

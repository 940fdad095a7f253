"""Atomic checkpoint files: a kill -9 at any moment leaves either the old file or the new one, whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tailtag.fileio import atomic_write


def save_atomic(state: dict[str, Any], path: Path) -> None:
    """torch.save to a temporary file in the same folder, fsync, then rename over `path`."""
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        torch.save(state, handle)


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The checkpoint at `path` (tensors and plain Python values only: weights_only=True), or None."""
    path = Path(path)
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)

"""A run's view scorer as a TorchScript archive (`torch.jit.trace`), metadata in its `_extra_files`.

For C++ (libtorch) and mobile consumers. Tracing records the graph for one input size: H and W are fixed,
the batch axis is not (the trace only reshapes with -1), and `check_inputs` replays the trace at a second
batch size so a batch-dependent branch would be caught here, not in production. Loading goes through
`torch.jit.load`, which rebuilds TorchScript code and tensors from the archive and never unpickles
arbitrary Python objects; the metadata alone is read as plain zip entries (`read_metadata`).

torch 2.14 marks `torch.jit` as deprecated in favour of `torch.export`; its FutureWarnings are silenced here
because TorchScript is still what libtorch and the mobile runtimes load.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tailtag.errors import LabelFileError


@contextmanager
def _quiet_jit() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        yield


def export_torchscript(scorer: nn.Module, path: str | Path, example: torch.Tensor, metadata: dict[str, str]) -> Path:
    """Trace `scorer` on `example` and save it with `metadata` as extra files.

    Args:
        scorer: one view's images (B, 3, H, W) float32 -> probabilities (B, K), in eval mode.
        path: the archive to write (conventionally `model.torchscript.pt`).
        example: (b, 3, H, W) float32 trace input, b >= 2 (the check replays the trace at b + 1 images).
        metadata: key -> JSON string (`ExportMetadata.to_strings()`).

    Returns:
        `path`.
    """
    path = Path(path)
    scorer = scorer.eval()
    other_batch = torch.cat([example, example[:1]])
    with _quiet_jit(), torch.no_grad():
        traced = torch.jit.trace(scorer, (example,), check_trace=True, check_inputs=[(other_batch,)])
        torch.jit.save(traced, str(path), _extra_files=dict(metadata))
    return path


def load_torchscript(path: str | Path) -> torch.jit.ScriptModule:
    """The archive at `path` on the CPU in eval mode; LabelFileError if it is not a TorchScript archive."""
    path = Path(path)
    try:
        with _quiet_jit():
            module = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError) as exc:
        raise LabelFileError(
            path, f"is not a loadable TorchScript archive ({str(exc)[:200]})", fix="re-export"
        ) from exc
    return module.eval()


def torchscript_scorer(module: torch.jit.ScriptModule):
    """A `tailtag.inference.Scorer` around a loaded archive: (B, 3, H, W) tensor -> (B, K) float32 array."""

    def score(images: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            return module(images).float().numpy()

    return score

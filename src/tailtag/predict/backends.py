"""Backends that run a run's network: a plain dict name -> scorer factory, and `tagger_for` (`tailtag.load`).

A scorer maps one view's normalised (B, 3, H, W) float32 batch to (B, K) uncalibrated probabilities
(`tailtag.inference.Scorer`); everything before it (decoding, views) and after it (view averaging,
calibration, thresholds) is shared, so the backends can only differ by the network's arithmetic:

    torch  the PyTorch `ViewScorer` from model.safetensors (CPU, or a CUDA device)
    onnx   onnxruntime on the run's model.onnx, written by `tailtag export RUN --format onnx`
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from tailtag.errors import OptionError, TailtagError
from tailtag.inference import RunModel, Scorer, Tagger, torch_scorer
from tailtag.registry import registered

Backend = Literal["torch", "onnx"]
BACKENDS: tuple[str, ...] = ("torch", "onnx")


def _torch(model: RunModel, device: str) -> Scorer:
    if device == "cpu":
        return torch_scorer(model)
    scorer = model.view_scorer().to(device)

    def score(images: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            return scorer(images.to(device, non_blocking=True)).float().cpu().numpy()

    return score


def _onnx(model: RunModel, device: str) -> Scorer:
    if device != "cpu":
        raise OptionError(f"--device {device} needs --backend torch; the onnx backend runs onnxruntime on the CPU")
    try:
        from tailtag.export import onnx_scorer
    except ImportError as exc:  # an install without the export module (or onnxruntime)
        raise TailtagError(f"the onnx backend is unavailable ({exc})\n  fix: use --backend torch") from exc
    return onnx_scorer(model)


_FACTORIES: dict[str, Callable[[RunModel, str], Scorer]] = {"torch": _torch, "onnx": _onnx}


def resolve_device(device: str) -> str:
    """ "auto" -> "cuda" when a GPU is visible, else "cpu"; "cpu" and "cuda[:i]" are checked and returned."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise OptionError(f"--device {device}: no CUDA device is visible\n  fix: use --device cpu")
        return device
    raise OptionError(f"--device must be auto, cpu or cuda[:INDEX]; got {device!r}")


def create_scorer(backend: str, model: RunModel, *, device: str = "cpu") -> Scorer:
    """The scorer of `backend` ("torch" or "onnx") for `model`, on `device` ("cpu", "cuda", "cuda:1")."""
    return registered(_FACTORIES, backend, what="backend", plural="backends", where="--backend")(
        model, resolve_device(device)
    )


def tagger_for(run: str | Path, backend: Backend = "torch", *, device: str = "cpu") -> Tagger:
    """The run directory `run` as a ready `Tagger` on `backend` (what `tailtag.load` returns).

    Args:
        run: a finished run directory with fitted thresholds (`tailtag train` writes them).
        backend: "torch" (model.safetensors) or "onnx" (model.onnx from `tailtag export`).
        device: where the torch backend runs: "cpu", "cuda", "cuda:1" or "auto".

    Example (a 2-epoch MIML run, Lite0 at 224 px):
        >>> result = tagger_for("runs/miml").predict(["miml/images/4.jpg"])[0]
        >>> result.tags, round(result.probabilities["desert"], 3)
        (['mountains', 'desert'], 0.392)
    """
    registered(
        _FACTORIES, backend, what="backend", plural="backends", where="--backend"
    )  # before the seconds of loading
    return Tagger.load(run, lambda model: create_scorer(backend, model, device=device))

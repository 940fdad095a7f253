"""The onnxruntime backend: a run's exported model.onnx as a `tailtag.inference.Scorer`.

`Tagger(model, decision, scorer=onnx_scorer(model))` decodes, makes the views and decides exactly as the
PyTorch backend does; only the network runs in onnxruntime (CPUExecutionProvider, as many intra-op threads
as torch uses, so the two backends are compared on equal terms). The file is checked against the run before
use: other labels, or weights other than the run's model.safetensors, are refused, since either would give
tags that silently differ from `tailtag predict` with the PyTorch backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tailtag import rundir
from tailtag.errors import TailtagError
from tailtag.export.metadata import INPUT_NAME, OUTPUT_NAME, ExportMetadata
from tailtag.inference import RunModel, Scorer

ONNX_FILE = "model.onnx"


def onnx_session(path: str | Path, threads: int | None = None):
    """An `onnxruntime.InferenceSession` on the CPU with all graph optimisations.

    Args:
        path: the .onnx file.
        threads: intra-op threads (default `torch.get_num_threads()`).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads or torch.get_num_threads())
    options.inter_op_num_threads = 1  # one graph, run sequentially: parallelism is inside the ops
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        raise TailtagError(
            f"{path}: onnxruntime cannot load the model ({str(exc)[:300]})\n  fix: re-export it: tailtag export RUN"
        ) from exc


def session_scorer(session) -> Scorer:
    """A `Scorer` around an onnxruntime session: (B, 3, H, W) float32 tensor -> (B, K) float32 array."""

    def score(images: torch.Tensor) -> np.ndarray:
        batch = images.detach().to("cpu", torch.float32).contiguous().numpy()
        return session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]

    return score


def onnx_scorer(model: RunModel, path: str | Path | None = None, threads: int | None = None) -> Scorer:
    """The `Scorer` of the run's exported ONNX model.

    Args:
        model: the run's `RunModel` (from `load_model`).
        path: the .onnx file (default RUN/model.onnx).
        threads: intra-op threads (default `torch.get_num_threads()`).

    Returns:
        Callable: one view's (B, 3, H, W) float32 tensor -> (B, K) float32 probabilities. Safe to call from
        several threads at once (onnxruntime sessions are), as the service's micro-batcher may.

    Raises:
        TailtagError: the file is missing (fix: `tailtag export RUN --format onnx`), was exported for other
            labels, or from other weights than the run's.
    """
    run = model.run.path
    path = Path(path) if path is not None else run / ONNX_FILE
    if not path.is_file():
        raise TailtagError(
            f"{path} does not exist: the ONNX backend needs the run exported first\n"
            f"  fix: tailtag export {run} --format onnx" + (f" --out {path}" if path != run / ONNX_FILE else "")
        )
    session = onnx_session(path, threads)
    check_matches_run(ExportMetadata.from_strings(session.get_modelmeta().custom_metadata_map, path), model, path)
    return session_scorer(session)


def check_matches_run(metadata: ExportMetadata, model: RunModel, path: Path) -> None:
    """TailtagError unless the exported model at `path` has the run's labels and weights."""
    from tailtag.fileio import file_sha256

    run = model.run.path
    if metadata.labels != list(model.names):
        extra = sorted(set(metadata.labels) - set(model.names))[:5]
        lacking = sorted(set(model.names) - set(metadata.labels))[:5]
        detail = (
            f"only in the file: {extra}, only in the run: {lacking}" if extra or lacking else "same names, other order"
        )
        raise TailtagError(
            f"{path} was exported for other labels than the run {run} ({len(metadata.labels)} labels in the file, "
            f"{len(model.names)} in the run; {detail})\n  fix: tailtag export {run} --out {path}"
        )
    current = file_sha256(model.run.file(rundir.WEIGHTS))
    if metadata.model_sha256 != current:
        raise TailtagError(
            f"{path} was exported from other weights (model.safetensors sha256 {metadata.model_sha256[:12]}...) "
            f"than the run {run} now holds ({current[:12]}...)\n  fix: re-export: tailtag export {run} --out {path}"
        )

"""Export a trained run to ONNX or TorchScript, proven equal to PyTorch, and run it with onnxruntime.

    >>> from tailtag.export import export_run, onnx_scorer
    >>> from tailtag.inference import Tagger
    >>> result = export_run("runs/demo", "onnx")  # RUN/model.onnx, parity-checked, or ParityError
    >>> tagger = Tagger.load("runs/demo", scorer_factory=onnx_scorer)  # tags with onnxruntime

The exported graph is one view's normalised images (B, 3, H, W) float32 -> probabilities (B, K), sigmoid
(or softmax, or powerset marginals) included; label names, views, preprocessing, calibration and thresholds
travel in the file's metadata (`tailtag.export.metadata` documents how to reproduce the tags from them).
Downstream of `tailtag.inference`; `tailtag predict --backend onnx` and the service use `onnx_scorer`.
"""

from tailtag.export.metadata import ExportMetadata, read_metadata, run_metadata
from tailtag.export.onnx_backend import ONNX_FILE, onnx_scorer, onnx_session, session_scorer
from tailtag.export.parity import (
    DEFAULT_SAMPLE,
    TOLERANCE,
    ParityError,
    ParityReport,
    ParitySample,
    compare_scorers,
    parity_sample,
)
from tailtag.export.run_export import DEFAULT_FILES, FORMATS, ExportResult, Format, export_run
from tailtag.export.torchscript_export import load_torchscript, torchscript_scorer

__all__ = [
    "DEFAULT_FILES",
    "DEFAULT_SAMPLE",
    "FORMATS",
    "ONNX_FILE",
    "TOLERANCE",
    "ExportMetadata",
    "ExportResult",
    "Format",
    "ParityError",
    "ParityReport",
    "ParitySample",
    "compare_scorers",
    "export_run",
    "load_torchscript",
    "onnx_scorer",
    "onnx_session",
    "parity_sample",
    "read_metadata",
    "run_metadata",
    "session_scorer",
    "torchscript_scorer",
]

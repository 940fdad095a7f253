"""Export a run directory to ONNX or TorchScript and prove the file scores like the run.

The model is written to a hidden temporary file next to the destination, checked for parity
(`tailtag.export.parity`), and only then renamed into place: a failed check leaves no file behind and an
earlier export at the destination untouched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tailtag.errors import OptionError, TailtagError
from tailtag.export.metadata import ExportMetadata, read_metadata, run_metadata
from tailtag.export.onnx_export import EXPORTERS, MIN_OPSET, Exporter, check_opset, opset_range
from tailtag.export.parity import (
    DEFAULT_SAMPLE,
    TOLERANCE,
    ParityError,
    ParityReport,
    ParitySample,
    compare_scorers,
    parity_sample,
)
from tailtag.fileio import replace_durably
from tailtag.inference import Tagger, load_model
from tailtag.thresholds.decision import load_decision

Format = Literal["onnx", "torchscript"]
FORMATS: tuple[str, ...] = ("onnx", "torchscript")
DEFAULT_FILES = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}


@dataclass
class ExportResult:
    """What `export_run` wrote.

    Attributes:
        path: the exported model file.
        format: "onnx" or "torchscript".
        size_bytes: its size.
        parity: the passed parity check.
        metadata: what the file says about itself.
        seconds: wall time of export + check.
        opset: the ONNX opset written (None for TorchScript).
    """

    path: Path
    format: str
    size_bytes: int
    parity: ParityReport
    metadata: ExportMetadata
    seconds: float
    opset: int | None = None


def export_run(
    run: str | Path,
    format: Format = "onnx",
    *,
    out: str | Path | None = None,
    sample: int = DEFAULT_SAMPLE,
    opset: int | None = None,
    exporter: Exporter = "tracer",
    tolerance: float = TOLERANCE,
) -> ExportResult:
    """Export the run directory `run` and check parity on `sample` of its validation images.

    Args:
        run: a finished run directory with fitted thresholds (`tailtag train` fits them).
        format: "onnx" (onnxruntime, TensorRT, ...) or "torchscript" (libtorch).
        out: destination (default RUN/model.onnx or RUN/model.torchscript.pt).
        sample: validation images to check (>= 1).
        opset: ONNX opset (17 to 20 for the tracer, 18 to 23 for dynamo with torch 2.14); default the lowest.
        exporter: ONNX exporter, "tracer" or "dynamo" (see `tailtag.export.onnx_export`).
        tolerance: largest |p_export - p_torch| allowed.

    Raises:
        ParityError: the check failed (no file written); TailtagError: the run has no thresholds.

    Example:
        >>> result = export_run("runs/demo")
        >>> result.path.name, result.parity.ok, result.parity.max_diff < 1e-5
        ('model.onnx', True, True)
    """
    if format == "onnx" and opset is None:
        opset = opset_range(exporter)[0] if exporter in EXPORTERS else MIN_OPSET
    _check_options(format, sample, opset, exporter, tolerance)
    started = time.perf_counter()
    model = load_model(run)
    decision = load_decision(model.run.path)
    if decision is None:
        raise TailtagError(
            f"{model.run.path} has no thresholds.json: an export carries the run's decision\n"
            f"  fix: tailtag evaluate {model.run.path} --refit (fits and saves it), then export again"
        )
    tagger = Tagger(model, decision)
    metadata = run_metadata(model, decision, tagger.views)
    out = Path(out) if out is not None else model.run.path / DEFAULT_FILES[format]
    out.parent.mkdir(parents=True, exist_ok=True)
    checked = parity_sample(tagger, sample)
    partial = out.with_name(f".{out.name}.partial")
    try:
        report = _write_and_check(tagger, checked, partial, format, metadata, opset, exporter, tolerance)
        if not report.ok:
            details = report.describe(format).replace("\n", "\n  ")
            alternative = ", or try --exporter dynamo" if format == "onnx" and exporter != "dynamo" else ""
            raise ParityError(
                f"the exported model does not score like the run, so {out} was not written:\n  {details}\n"
                f"  fix: report this as a bug in tailtag export (attach RUN/model.json){alternative}"
            )
        replace_durably(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return ExportResult(
        path=out,
        format=format,
        size_bytes=out.stat().st_size,
        parity=report,
        metadata=metadata,
        seconds=time.perf_counter() - started,
        opset=_opset(out) if format == "onnx" else None,
    )


def _check_options(format: str, sample: int, opset: int | None, exporter: Exporter, tolerance: float) -> None:
    if format not in FORMATS:
        raise OptionError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    if not isinstance(sample, int) or isinstance(sample, bool) or sample < 1:
        raise OptionError(f"--sample must be a positive number of validation images, got {sample!r}")
    if not 0 < tolerance < 1:
        raise OptionError(f"the parity tolerance must be in (0, 1), got {tolerance!r}")
    if format == "onnx":
        check_opset(opset, exporter)


def _write_and_check(
    tagger: Tagger,
    checked: ParitySample,
    path: Path,
    format: str,
    metadata: ExportMetadata,
    opset: int | None,
    exporter: Exporter,
    tolerance: float,
) -> ParityReport:
    """Write the model to `path`, load it back as its consumers will, and compare it with PyTorch."""
    scorer = tagger.model.view_scorer()
    example = checked.images[:2, 0].contiguous()
    if len(example) < 2:  # trace with two images so batch-size-1 specialisation cannot creep in
        example = example.repeat(2, 1, 1, 1)
    strings = metadata.to_strings()
    if format == "onnx":
        from tailtag.export.onnx_backend import onnx_session, session_scorer
        from tailtag.export.onnx_export import export_onnx

        export_onnx(scorer, path, example, strings, opset=opset, exporter=exporter)
        candidate = session_scorer(onnx_session(path))
    else:
        from tailtag.export.torchscript_export import export_torchscript, load_torchscript, torchscript_scorer

        export_torchscript(scorer, path, example, strings)
        candidate = torchscript_scorer(load_torchscript(path))
    if read_metadata(path) != metadata:
        raise TailtagError(f"{path}: the metadata read back differs from what was written; this is a bug")
    return compare_scorers(
        tagger.scorer, candidate, checked, tagger.decision, tagger.names, tagger.views, tolerance=tolerance
    )


def _opset(path: Path) -> int:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return max(entry.version for entry in proto.opset_import if entry.domain in ("", "ai.onnx"))

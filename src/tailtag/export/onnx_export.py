"""A run's view scorer as an ONNX graph: normalised images (B, 3, H, W) -> probabilities (B, K), batch dynamic.

The graph is `RunModel.view_scorer()`: backbone, head and the output map (sigmoid, softmax or powerset
marginals), plus the mirrored-map averaging of head-mode runs with a trained top. The metadata of
`tailtag.export.metadata` is attached as `metadata_props`, and `onnx.checker` validates the result.

Exporter: "tracer", the TorchScript-based `torch.onnx.export(..., dynamo=False)`, by default. The view scorer is a
static graph once H and W are fixed (no data-dependent control flow), which is what tracing captures
exactly; it exports Lite0 in well under a second, keeps the opset asked for, and gave differences of about
1e-6 against PyTorch. The torch.export-based exporter (`exporter="dynamo"`, needs onnxscript) gives the same
numbers but takes ~20x longer and cannot write opset 17 (its Pad has no down-conversion adapter), so it
needs 18 or more; it is kept selectable for the day torch drops the legacy path.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from tailtag.errors import OptionError, TailtagError
from tailtag.export.metadata import INPUT_NAME, OUTPUT_NAME

Exporter = Literal["tracer", "dynamo"]
EXPORTERS: tuple[str, ...] = ("tracer", "dynamo")
MIN_OPSET = 17  # LayerNormalization and the Pad/Resize forms timm models need


def opset_range(exporter: Exporter) -> tuple[int, int]:
    """(lowest, highest) opset `exporter` writes with this torch and onnx."""
    import onnx
    from torch.onnx import _constants  # private, but the only place torch states its limits

    newest = onnx.defs.onnx_opset_version()
    if exporter == "tracer":
        return MIN_OPSET, min(newest, getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", 20))
    # the dynamo exporter writes 18 at least: it cannot down-convert its Pad to 17
    return 18, min(newest, getattr(_constants, "ONNX_MAX_OPSET", 23))


def check_opset(opset: int, exporter: Exporter = "tracer") -> int:
    """`opset` if `exporter` can write it; OptionError naming --opset and the valid range otherwise."""
    if exporter not in EXPORTERS:
        raise OptionError(f"--exporter must be one of {', '.join(EXPORTERS)}, got {exporter!r}")
    low, high = opset_range(exporter)
    if not isinstance(opset, int) or isinstance(opset, bool) or not low <= opset <= high:
        raise OptionError(
            f"--opset must be an integer in [{low}, {high}] for the {exporter} exporter "
            f"(torch {torch.__version__.split('+')[0]}), got {opset!r}"
        )
    return opset


def export_onnx(
    scorer: nn.Module,
    path: str | Path,
    example: torch.Tensor,
    metadata: dict[str, str],
    *,
    opset: int = MIN_OPSET,
    exporter: Exporter = "tracer",
) -> Path:
    """Write `scorer` as a checked ONNX model with `metadata` in its `metadata_props`.

    Args:
        scorer: one view's images (B, 3, H, W) float32 -> probabilities (B, K), in eval mode.
        path: the .onnx file to write (a single file: weights inline).
        example: (b, 3, H, W) float32 input to trace with; H and W become fixed, the batch axis stays dynamic.
        metadata: key -> JSON string (`ExportMetadata.to_strings()`).
        opset: ONNX opset, within `opset_range(exporter)`.
        exporter: "tracer" (the legacy TorchScript-based exporter) or "dynamo" (torch.export); see the module docstring.

    Returns:
        `path`.
    """
    import onnx

    check_opset(opset, exporter)
    path = Path(path)
    scorer = scorer.eval()
    with warnings.catch_warnings(), torch.no_grad():
        # The deprecation notice of the legacy exporter is about our deliberate choice, not the user's input.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        _run_exporter(scorer, path, example, opset, exporter)
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        path.unlink(missing_ok=True)
        raise TailtagError(f"the exported ONNX graph does not validate ({str(exc)[:400]}); this is a bug") from exc
    onnx.save(proto, str(path))
    return path


def _run_exporter(scorer: nn.Module, path: Path, example: torch.Tensor, opset: int, exporter: Exporter) -> None:
    names = {"input_names": [INPUT_NAME], "output_names": [OUTPUT_NAME], "opset_version": opset}
    if exporter == "tracer":
        torch.onnx.export(
            scorer,
            (example,),
            str(path),
            dynamo=False,
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            do_constant_folding=True,
            **names,
        )
        return
    batch = torch.export.Dim("batch", min=1)
    torch.onnx.export(
        scorer,
        (example,),
        str(path),
        dynamo=True,
        dynamic_shapes={"images": {0: batch}},
        external_data=False,
        verbose=False,
        **names,
    )

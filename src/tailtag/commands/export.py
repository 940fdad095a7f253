"""`tailtag export`: a run as a self-describing ONNX or TorchScript file, checked against PyTorch.

    tailtag export RUN [--format onnx|torchscript] [--out FILE] [--sample N] [--opset N]

Writes RUN/model.onnx (or RUN/model.torchscript.pt): one view's normalised (B, 3, H, W) images ->
per-label probabilities, with labels, views, preprocessing, calibration and thresholds in the metadata.
Every export ends with a parity check on the run's validation images; a failed check writes nothing and
exits with status 2. Example:

    $ tailtag export runs/demo
    exported runs/demo to runs/demo/model.onnx (ONNX opset 17, 13.6 MB) in 0.7 s
    parity on 20 validation images x 2 views (center, full): max |p_onnx - p_torch| = 9.54e-07 (tolerance 1e-04)
    at label 'mountain' of images/0005.jpg (center view); tags identical on 20/20 images
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tailtag import rundir
from tailtag.commands._common import warnings_as_lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tailtag.export.onnx_export import EXPORTERS, MIN_OPSET
    from tailtag.export.parity import DEFAULT_SAMPLE
    from tailtag.export.run_export import FORMATS

    parser.add_argument("run", type=Path, metavar="RUN", help="run directory written by tailtag train")
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="onnx (default) or torchscript")
    parser.add_argument(
        "--out", type=Path, metavar="FILE", help="where to write (default RUN/model.onnx or RUN/model.torchscript.pt)"
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=DEFAULT_SAMPLE,
        metavar="N",
        help=f"validation images the parity check compares (default {DEFAULT_SAMPLE})",
    )
    parser.add_argument("--opset", type=int, help=f"ONNX opset (default {MIN_OPSET}; dynamo: 18 or more)")
    parser.add_argument(
        "--exporter",
        choices=EXPORTERS,
        help="ONNX exporter: tracer (torch.onnx's TorchScript-based exporter; default, fast) or dynamo (torch.export)",
    )


def run(args: argparse.Namespace) -> int:
    from tailtag.errors import OptionError
    from tailtag.export import export_run

    if args.format != "onnx":
        given = [flag for flag, value in (("--opset", args.opset), ("--exporter", args.exporter)) if value is not None]
        if given:
            raise OptionError(
                f"{' and '.join(given)} apply to --format onnx only; drop them for --format {args.format}"
            )
    with warnings_as_lines("WARNING: ", UserWarning):
        result = export_run(
            args.run,
            args.format,
            out=args.out,
            sample=args.sample,
            opset=args.opset,
            exporter=args.exporter or "tracer",
        )
    kind = f"ONNX opset {result.opset}" if result.opset is not None else "TorchScript"
    print(f"exported {args.run} to {result.path} ({kind}, {result.size_bytes / 1e6:.1f} MB) in {result.seconds:.1f} s")
    print(result.parity.describe(args.format))
    if result.parity.source != "validation":
        print(
            "WARNING: parity was checked on synthetic images, not on the run's validation images; to check on real "
            f"images, make the data of {args.run / rundir.DATA} and {args.run / rundir.SPLIT} readable and export "
            "again",
            file=sys.stderr,
        )
    return 0

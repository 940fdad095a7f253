"""`tailtag inspect LABELS`: label frequencies, imbalance ratios, label sets, co-occurrence, image checks.

Example (MIML, 2,000 scene images; real output, label table cut):

    $ tailtag inspect labels.csv --images images --top 3
    labels.csv: 2,000 images, 5 labels (multilabel)
    cardinality 1.2360 labels per image, density 0.2472, 0 images without a label

    label      count  frequency  IRLbl  bucket
    sea          580     0.2900  1.000  head
    ...
    desert       409     0.2045  1.418  head

    MeanIR 1.1935  MaxIR 1.4181  CVIR 0.1457  SCUMBLE 0.0012  (SCUMBLE CV 2.10)
    ...
    20 distinct label sets, 2 carried by a single image; top 3:
      count  powerlabel  labels
        378           1  trees
        341           4  sea
        340          16  desert

    images checked (header): 2,000 files, 0 unusable, 0 groups of byte-identical files

    warnings (1):
      - 2 of 20 label sets are carried by a single image (0.1% of images): label-powerset methods and ...

`--json` prints exactly one JSON object on stdout (keys in `LabelStats.to_dict`); `--plots DIR` writes
label_frequency.png, labelsets.png and cooccurrence.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tailtag.commands._common import add_label_arguments, load_table
from tailtag.errors import OptionError
from tailtag.images.load import DEFAULT_MAX_PIXELS
from tailtag.labels import LabelTable
from tailtag.stats.imbalance import DEFAULT_HEAD_MIN, DEFAULT_TAIL_MAX, check_bucket_thresholds
from tailtag.stats.summary import DEFAULT_MIN_POSITIVES, LabelStats, describe

if TYPE_CHECKING:
    from tailtag.images import ImageCheck

CHECK_MODES = ("none", "header", "decode")
_NAME_WIDTH = 40


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_label_arguments(parser)
    parser.add_argument(
        "--check-images",
        choices=CHECK_MODES,
        default=None,
        help="check the image files: none, header (exists and is an image; default with --images) "
        "or decode (fully decode each file, slower); also finds byte-identical duplicates",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help=f"count images with more pixels as unusable (decompression bombs; default {DEFAULT_MAX_PIXELS:,}, "
        "as in train and predict)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    parser.add_argument("--plots", metavar="DIR", type=Path, help="write PNG plots into DIR")
    parser.add_argument(
        "--top",
        type=int,
        default=20,
        metavar="N",
        help="label sets (and labels at each end) to show, and labels in the heatmap (default 20; 0 shows all)",
    )
    parser.add_argument(
        "--head-min",
        type=int,
        default=DEFAULT_HEAD_MIN,
        metavar="N",
        help=f"labels with at least N positives are 'head' (default {DEFAULT_HEAD_MIN})",
    )
    parser.add_argument(
        "--tail-max",
        type=int,
        default=DEFAULT_TAIL_MAX,
        metavar="N",
        help=f"labels with at most N positives are 'tail' (default {DEFAULT_TAIL_MAX})",
    )
    parser.add_argument(
        "--min-positives",
        type=int,
        default=DEFAULT_MIN_POSITIVES,
        metavar="N",
        help=f"warn about labels with fewer than N positives (default {DEFAULT_MIN_POSITIVES})",
    )


def _validate(args: argparse.Namespace) -> None:
    if args.top < 0:
        raise OptionError(f"--top must be >= 0 (0 shows everything), got {args.top}")
    if args.min_positives < 0:
        raise OptionError(f"--min-positives must be >= 0, got {args.min_positives}")
    check_bucket_thresholds(args.head_min, args.tail_max)


def _check_images(
    table: LabelTable, mode: str | None, images_given: bool, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[str, ImageCheck | None]:
    """Run the image check asked for; the default is a header check when --images names the image folder."""
    mode = mode or ("header" if images_given else "none")
    if mode == "none":
        return mode, None
    relative = sum(1 for p in table.paths if not Path(p).is_absolute())
    if table.image_root is None and relative:
        raise OptionError(
            f"--check-images {mode}: {relative} of {table.n_images} image paths are relative and no image folder "
            "is known; fix: add --images DIR (the folder they are relative to)"
        )
    from tailtag.images import check_images

    return mode, check_images(table.paths, mode=mode, root=table.image_root, max_pixels=max_pixels)


def _write_plots(stats: LabelStats, out_dir: Path, top: int) -> list[Path]:
    from tailtag.stats.plots import write_plots

    try:
        return write_plots(stats, out_dir, top or 20)
    except OSError as error:
        raise OptionError(
            f"--plots {out_dir}: cannot write the plots there ({error}); fix: give a writable folder"
        ) from error


def run(args: argparse.Namespace) -> int:
    _validate(args)
    table = load_table(args)
    mode, check = _check_images(table, args.check_images, args.images is not None, args.max_pixels)
    stats = describe(
        table, head_min=args.head_min, tail_max=args.tail_max, min_positives=args.min_positives, image_check=check
    )
    plots = _write_plots(stats, args.plots, args.top) if args.plots else []
    if args.json:
        result = stats.to_dict(top=args.top)
        result["image_check"] = _image_check_dict(mode, check)
        result["plots"] = [str(p) for p in plots]
        print(json.dumps(result, allow_nan=False))
        return 0
    summary = None
    if check is not None:
        summary = (
            f"images checked ({mode}): {check.n_checked:,} files, {check.n_bad:,} unusable, "
            f"{len(check.duplicates):,} groups of byte-identical files"
        )
    print(render_report(stats, args.top, image_summary=summary))
    for path in plots:
        print(f"wrote {path}")
    return 0


def _image_check_dict(mode: str, check: ImageCheck | None) -> dict[str, Any] | None:
    if check is None:
        return None
    problems = [{"path": p.path, "reason": p.reason} for p in check.problems]
    return {
        "mode": mode,
        "n_checked": check.n_checked,
        "n_bad": check.n_bad,
        "problems": problems,
        "duplicates": check.duplicates,
    }


def _fmt(value: float, spec: str) -> str:
    return "n/a" if np.isnan(value) else format(value, spec)


def _aligned(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """Rows as aligned text columns; columns in `right` are right-aligned (numbers)."""
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(w) if c in right else cell.ljust(w)
            for c, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(header), *(line(r) for r in rows)]


def _label_lines(stats: LabelStats, top: int) -> list[str]:
    imb = stats.imbalance
    order = np.argsort(-imb.counts, kind="stable")
    elided = 0
    if top and order.size > 2 * top:
        elided = order.size - 2 * top
        order = np.concatenate([order[:top], order[-top:]])
    rows = [
        [
            imb.names[j][:_NAME_WIDTH],
            f"{imb.counts[j]:,}",
            _fmt(imb.frequencies[j], ".4f"),
            _fmt(imb.irlbl[j], ".3f"),
            str(stats.buckets[j]),
        ]
        for j in order
    ]
    lines = _aligned(["label", "count", "frequency", "IRLbl", "bucket"], rows, right={1, 2, 3})
    if elided:
        lines.insert(top + 1, f"... {elided:,} labels between ...")
    return lines


def _labelset_lines(stats: LabelStats, top: int) -> list[str]:
    sets = stats.labelsets
    shown = len(sets) if not top else min(top, len(sets))
    pl = sets.powerlabels
    rows = [
        [f"{sets.counts[k]:,}", str(pl[k]) if pl is not None else "-", " + ".join(sets.labels(k)) or "(no label)"]
        for k in range(shown)
    ]
    head = f"{len(sets):,} distinct label sets, {sets.n_single:,} carried by a single image"
    head += f"; top {shown}:" if shown < len(sets) else ":"
    return [head, *("  " + line for line in _aligned(["count", "powerlabel", "labels"], rows, right={0, 1}))]


def render_report(stats: LabelStats, top: int = 20, image_summary: str | None = None) -> str:
    """The terminal report: summary, label table, imbalance, buckets, top label sets, image check, warnings."""
    imb = stats.imbalance
    lines = [
        f"{stats.source or 'labels'}: {imb.n_images:,} images, {imb.n_labels:,} labels ({stats.task})",
        f"cardinality {_fmt(imb.cardinality, '.4f')} labels per image, density {_fmt(imb.density, '.4f')}, "
        f"{imb.n_unlabelled:,} images without a label",
        "",
        *_label_lines(stats, top),
        "",
        f"MeanIR {_fmt(imb.mean_ir, '.4f')}  MaxIR {_fmt(imb.max_ir, '.4f')}  CVIR {_fmt(imb.cvir, '.4f')}  "
        f"SCUMBLE {_fmt(imb.scumble, '.4f')}  (SCUMBLE CV {_fmt(imb.scumble_cv, '.2f')})",
        *_bucket_lines(stats),
        "",
        *_labelset_lines(stats, top),
    ]
    if image_summary:
        lines += ["", image_summary]
    lines += ["", f"warnings ({len(stats.warnings)}):" if stats.warnings else "no warnings"]
    lines += [f"  - {w}" for w in stats.warnings]
    return "\n".join(lines)


def _bucket_lines(stats: LabelStats) -> list[str]:
    ranges = {
        "head": f">= {stats.head_min}",
        "medium": f"{stats.tail_max + 1}-{stats.head_min - 1}",
        "tail": f"<= {stats.tail_max}",
    }
    counts = stats.imbalance.counts
    total = max(int(counts.sum()), 1)
    rows = []
    for bucket, text in ranges.items():
        mask = stats.buckets == bucket
        rows.append([bucket, f"{int(mask.sum()):,}", text, f"{int(counts[mask].sum()) / total:.1%}"])
    return _aligned(["bucket", "labels", "positives", "share of positives"], rows, right={1, 3})

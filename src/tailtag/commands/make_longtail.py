"""`tailtag make-longtail`: a long-tailed training subset and a balanced test subset, as a split folder.

Example (MIML, 2,000 images, 5 labels, 50 test and 20 val images per label, exponential profile, IF 50):

    $ tailtag make-longtail miml/labels.csv --out runs/miml_lt50 --test-per-class 50 --val-per-class 20 \\
        --imbalance-factor 50
    label        available  target   train  test  val
    sea                580     369     369    51   21
    trees              560     138     138    50   20
    sunset             465      52      58    50   20  over
    mountains          458      19      21    50   20  over
    desert             409       7       7    50   20
    profile exp, imbalance factor asked 50, achieved 52.7 (head count 369)
    images: train 556, val 52, test 118
    wrote runs/miml_lt50: train.txt, val.txt, test.txt, split_report.json, longtail_report.json (0.0 s)

The split files list image paths exactly as in the label file, so `tailtag train --split DIR` and
`tailtag evaluate` use the folder directly (they need `val.txt`: pass `--val-per-class`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tailtag import __version__
from tailtag.commands._common import add_label_arguments, load_table, warnings_as_lines
from tailtag.errors import OptionError
from tailtag.fileio import write_json
from tailtag.labels import LabelTable
from tailtag.split import REPORT_NAME, file_sha256, split_files, write_split
from tailtag.split.longtail import LABEL_ORDERS, PROFILES, LongTailSplit, make_longtail

LONGTAIL_REPORT = "longtail_report.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_label_arguments(parser)
    group = parser.add_argument_group("long-tailed subset")
    group.add_argument("--out", required=True, metavar="DIR", help="folder for the split files and report")
    group.add_argument(
        "--test-per-class", type=int, required=True, metavar="N", help="test images per label, taken out first"
    )
    group.add_argument(
        "--val-per-class", type=int, default=0, metavar="N", help="balanced validation images per label (default 0)"
    )
    group.add_argument("--profile", choices=PROFILES, default="exp", help="target profile (default exp)")
    group.add_argument(
        "--imbalance-factor", type=float, default=100.0, metavar="IF", help="head / tail training count (default 100)"
    )
    group.add_argument("--ratios", metavar="R,R,...", help="explicit relative sizes, head first (overrides --profile)")
    group.add_argument("--head-count", type=int, metavar="N", help="training images of the head label (default: auto)")
    group.add_argument("--min-count", type=int, default=1, metavar="N", help="least training images per label")
    group.add_argument("--pareto-alpha", type=float, default=6.0, help="Pareto shape alpha (default 6, as in OLTR)")
    group.add_argument(
        "--order",
        metavar="ORDER",
        help=f"label ranking, head first: {', '.join(LABEL_ORDERS)} (label-file order) or NAME,NAME,... "
        "(default: frequency; given with --ratios)",
    )
    group.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    group.add_argument("--force", action="store_true", help="replace the split files already in --out")


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise OptionError(f"--out {out}: is a file, not a folder\n  fix: give a folder path")
    if not args.force and (split_files(out) or (out / REPORT_NAME).is_file()):
        raise OptionError(
            f"--out {out}: the folder already holds a split\n"
            "  fix: choose another --out folder, or add --force to replace that split"
        )
    ratios = parse_ratios(args.ratios) if args.ratios is not None else None
    table = load_table(args)
    with warnings_as_lines("tailtag make-longtail: warning: "):
        result = make_longtail(
            table,
            test_per_class=args.test_per_class,
            val_per_class=args.val_per_class,
            profile=args.profile,
            imbalance_factor=args.imbalance_factor,
            ratios=ratios,
            head_count=args.head_count,
            min_count=args.min_count,
            pareto_alpha=args.pareto_alpha,
            order=args.order,
            seed=args.seed,
            group_column=args.group_column,
        )
    report = build_report(args, table, result)
    short = {key: report[key] for key in ("tailtag_version", "labels", "images", "method", "seed", "splits")}
    # a deliberate subset: most images are in no split file, which readers may take as expected
    short["subset_of_labels"] = True
    written = write_split(out, table, result.indices(), short, force=args.force)
    write_json(out / LONGTAIL_REPORT, report, end="\n")
    print(format_summary(table, result))
    names = ", ".join(p.name for p in [*written, out / LONGTAIL_REPORT])
    print(f"wrote {out}: {names} ({time.perf_counter() - started:.1f} s)")
    if not len(result.val):
        print("note: no val.txt; `tailtag train --split` needs one: add --val-per-class N", file=sys.stderr)
    return 0


def parse_ratios(text: str) -> list[float]:
    """'19,17,15' or '19:17:15' -> [19.0, 17.0, 15.0]; errors name `--ratios`."""
    parts = [p.strip() for p in text.replace(":", ",").split(",")]
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise OptionError(
            f"--ratios: expected comma-separated numbers, one per label; got {text!r}\n  fix: e.g. --ratios 19,17,15"
        ) from None


def build_report(args: argparse.Namespace, table: LabelTable, result: LongTailSplit) -> dict:
    """The JSON-serialisable `longtail_report.json`: what was asked, the targets and what was achieved."""
    labels_path = Path(args.labels)
    achieved = result.achieved_imbalance_factor()
    per_label = [
        {
            "label": table.names[j],
            "rank": rank,
            "available_total": int(table.label_counts()[j]),
            "available_for_train": int(result.available[j]),
            "target": int(result.targets[j]),
            "train": int(result.train_counts[j]),
            "val": int(result.val_counts[j]),
            "test": int(result.test_counts[j]),
        }
        for rank, j in enumerate(result.order.tolist())
    ]
    return {
        "tailtag_version": __version__,
        "labels": {
            "path": str(labels_path),
            "absolute_path": str(labels_path.resolve()),
            "sha256": file_sha256(labels_path),
            "n_images": table.n_images,
            "n_labels": table.n_labels,
        },
        "images": args.images,
        "method": "longtail",
        "seed": result.seed,
        "asked": {
            "profile": result.profile,
            "imbalance_factor": result.imbalance_factor,
            "ratios": parse_ratios(args.ratios) if args.ratios else None,
            "pareto_alpha": args.pareto_alpha if result.profile == "pareto" else None,
            "head_count": args.head_count,
            "min_count": args.min_count,
            "order": args.order or ("given" if args.ratios else "frequency"),
            "test_per_class": args.test_per_class,
            "val_per_class": args.val_per_class,
            "group_column": args.group_column,
        },
        "head_count": result.head_count,
        "achieved_imbalance_factor": None if achieved is None else round(achieved, 4),
        "excluded_by_group": result.excluded_by_group,
        "splits": {name: {"file": f"{name}.txt", "n_images": len(rows)} for name, rows in result.indices().items()},
        "per_label": per_label,
        "warnings": list(result.warnings),
    }


def format_summary(table: LabelTable, result: LongTailSplit) -> str:
    """The table printed after sampling: per label (head first) available / target / train / test / val."""
    width = max(12, *(len(n) + 2 for n in table.names))
    lines = [f"{'label':<{width}}{'available':>10}{'target':>8}{'train':>8}{'test':>6}{'val':>5}"]
    total = table.label_counts()
    for j in result.order.tolist():
        got, target = int(result.train_counts[j]), int(result.targets[j])
        flag = "  over" if got > target else "  short" if got < target else ""
        lines.append(
            f"{table.names[j]:<{width}}{total[j]:>10,}{target:>8,}{got:>8,}"
            f"{result.test_counts[j]:>6,}{result.val_counts[j]:>5,}{flag}"
        )
    achieved = result.achieved_imbalance_factor()
    got = "undefined" if achieved is None else f"{achieved:.1f}"
    lines.append(
        f"profile {result.profile}, imbalance factor asked {result.imbalance_factor:g}, achieved {got} "
        f"(head count {result.head_count})"
    )
    sizes = ", ".join(f"{name} {len(rows):,}" for name, rows in result.indices().items())
    excluded = (
        f"; {result.excluded_by_group:,} left out of train (group in val/test)" if result.excluded_by_group else ""
    )
    lines.append(f"images: {sizes}{excluded}")
    return "\n".join(lines)

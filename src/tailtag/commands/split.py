"""`tailtag split`: a leak-free multi-label stratified train/val/test split, or K folds, written to a folder.

Example (MIML, 2,000 images, 5 labels):

    $ tailtag split miml/labels.csv --out runs/miml_split
    split      images  fraction   asked
    train       1,400    0.7000  0.7000
    val           300    0.1500  0.1500
    test          300    0.1500  0.1500

    measure (lower is better)                iterative      random
    label distribution (LD)                   0.000876    0.032920
    label pair distribution (LPD)             0.004629    0.006040
    examples distribution (ED, images)            0.00        0.00
    mean |label proportion - whole set|       0.000533    0.018632
    max |label proportion - whole set|        0.002167    0.056667
    empty (label, split) pairs                       0           0
    wrote runs/miml_split: train.txt, val.txt, test.txt, split_report.json (0.2 s)

The split files list image paths exactly as in the label file; `tailtag.split.read_split` reads them
back for `train` / `evaluate` and refuses a folder where an image is in two subsets.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tailtag import __version__, rundir
from tailtag.commands._common import (
    add_image_policy_arguments,
    add_label_arguments,
    drop_bad_images,
    load_table,
    warnings_as_lines,
)
from tailtag.errors import OptionError
from tailtag.labels import LabelTable
from tailtag.split import (
    REPORT_NAME,
    Split,
    SplitQuality,
    file_sha256,
    parse_fractions,
    random_baseline,
    split_files,
    split_quality,
    split_table,
    write_split,
)

# Label pairs grow with the square of labels per image; past this many the pair measure is skipped.
_MAX_PAIR_ENTRIES = 20_000_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_label_arguments(parser)
    add_image_policy_arguments(parser)
    group = parser.add_argument_group("split")
    group.add_argument("--out", required=True, metavar="DIR", help="folder for the split files and report")
    how = group.add_mutually_exclusive_group()
    how.add_argument("--fractions", metavar="F", help="train,val[,test] fractions summing to 1 (default 0.7,0.15,0.15)")
    how.add_argument("--folds", type=int, metavar="K", help="K disjoint folds covering every image instead")
    group.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    group.add_argument(
        "--order", type=int, choices=(1, 2), default=1, help="1: stratify labels; 2: labels and label pairs (default 1)"
    )
    group.add_argument(
        "--method",
        choices=("iterative", "random"),
        default="iterative",
        help="iterative stratification (default), or a seeded random split for protocols that ask for one",
    )
    group.add_argument("--force", action="store_true", help="replace the split files already in --out")


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    fractions = parse_fractions(args.fractions) if args.fractions is not None else None
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise OptionError(f"--out {out}: is a file, not a folder\n  fix: give a folder path")
    if not args.force and (split_files(out) or (out / REPORT_NAME).is_file()):
        # fail before reading a large label file; write_split checks again
        raise OptionError(
            f"--out {out}: the folder already holds a split\n"
            "  fix: choose another --out folder, or add --force to replace that split"
        )
    table = load_table(args)
    table = drop_bad_images(table, args, out / rundir.SKIPPED if args.on_bad_image == "skip" else None)
    with warnings_as_lines("tailtag split: warning: "):
        split = split_table(
            table,
            fractions=fractions,
            folds=args.folds,
            group_column=args.group_column,
            seed=args.seed,
            order=args.order,
            method=args.method,
        )
    groups = np.asarray(table.meta[args.group_column]).astype(str) if args.group_column else None
    pairs = _pair_entries(table) <= _MAX_PAIR_ENTRIES
    ours = split_quality(table.matrix, split.assignment, split.fractions, pairs=pairs)
    chance = random_baseline(
        table.matrix, split.fractions, sizes=split.sizes, seed=args.seed, groups=groups, pairs=pairs
    )
    report = build_report(args, table, split, ours, chance)
    written = write_split(out, table, split.indices(), report, force=args.force)
    print(format_summary(split, ours, chance, args.method))
    print(f"wrote {out}: {', '.join(p.name for p in written)} ({time.perf_counter() - started:.1f} s)")
    return 0


def _pair_entries(table: LabelTable) -> int:
    per_image = table.labels_per_image()
    return int((per_image * (per_image - 1) // 2).sum())


def build_report(
    args: argparse.Namespace, table: LabelTable, split: Split, ours: SplitQuality, chance: SplitQuality
) -> dict:
    """The JSON-serialisable `split_report.json`: what was asked, what came out, and how even it is."""
    labels_path = Path(args.labels)
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
        "folds": args.folds,
        "fractions_asked": list(split.fractions),
        "fractions_got": [round(float(f), 6) for f in split.fractions_got()],
        "seed": split.seed,
        "method": args.method,
        "order": split.order,
        "group_column": split.group_column,
        "splits": {
            name: {"file": f"{name}.txt", "n_images": int(n)} for name, n in zip(split.names, split.sizes, strict=True)
        },
        "label_names": list(table.names),
        "label_positives": table.label_counts().tolist(),
        "label_proportion": {
            "all": _rounded(ours.overall),
            **{name: _rounded(ours.proportion[j]) for j, name in enumerate(split.names)},
        },
        "deviation": {"iterative": ours.measures(), "random": {**chance.measures(), "seed": split.seed}},
    }


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 8) for v in values]


def format_summary(split: Split, ours: SplitQuality, chance: SplitQuality, method: str = "iterative") -> str:
    """The table printed after a split: sizes, then this split's vs a random split's deviation."""
    lines = [f"{'split':<8}{'images':>9}{'fraction':>10}{'asked':>8}"]
    for name, size, got, asked in zip(split.names, split.sizes, split.fractions_got(), split.fractions, strict=True):
        lines.append(f"{name:<8}{size:>9,}{got:>10.4f}{asked:>8.4f}")
    lines += ["", f"{'measure (lower is better)':<40}{method:>10}{'random':>12}"]
    rows = [
        ("label distribution (LD)", ours.label_distribution, chance.label_distribution, ".6f"),
        ("label pair distribution (LPD)", ours.pair_distribution, chance.pair_distribution, ".6f"),
        ("examples distribution (ED, images)", ours.examples_distribution, chance.examples_distribution, ".2f"),
        ("mean |label proportion - whole set|", ours.mean_abs_deviation, chance.mean_abs_deviation, ".6f"),
        ("max |label proportion - whole set|", ours.max_abs_deviation, chance.max_abs_deviation, ".6f"),
        ("empty (label, split) pairs", ours.empty_label_subsets, chance.empty_label_subsets, "d"),
    ]
    for title, a, b, spec in rows:
        if a is not None:
            lines.append(f"{title:<40}{a:>10{spec}}{b:>12{spec}}")
    return "\n".join(lines)

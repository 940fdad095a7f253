"""`tailtag doctor LABELS --images DIR --out DIR`: suspected wrong and missing tags, near-duplicates and leaks.

    tailtag doctor labels.csv --images DIR --out doctor/ [--folds 5] [--split SPLIT_DIR]
                  [--fix labels_fixed.csv --fix-top 100 | --fix-min-score 0.7]

Writes label_issues.csv, image_issues.csv, duplicates.csv, doctor.json and doctor.html into --out (plus
changes.csv with --fix). See tailtag.doctor for the method.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tailtag.commands._common import add_label_arguments, command_line, load_table, read_options
from tailtag.errors import OptionError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tailtag.doctor.duplicates import DEFAULT_THRESHOLD

    add_label_arguments(parser)
    group = parser.add_argument_group("doctor")
    group.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    group.add_argument("--folds", type=int, default=5, metavar="K", help="cross-fitted models (default 5)")
    group.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the folds (default 0)")
    group.add_argument(
        "--split", type=Path, metavar="DIR", help="split folder: duplicate pairs across its parts are leaks"
    )
    group.add_argument(
        "--similarity",
        type=float,
        default=DEFAULT_THRESHOLD,
        metavar="COS",
        help=f"cosine similarity of a near-duplicate pair (default {DEFAULT_THRESHOLD}, checked on MIML copies)",
    )
    group.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="training YAML config (backbone, head, epochs, ...; the doctor's default views: center,flip,full)",
    )
    group.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides", help="override a config key"
    )
    fix = parser.add_argument_group("fix")
    fix.add_argument("--fix", type=Path, metavar="OUT", help="write corrected labels here (the input's format)")
    fix.add_argument("--fix-min-score", type=float, metavar="SCORE", help="apply the issues scoring at least this")
    fix.add_argument("--fix-top", type=int, metavar="N", help="apply the N top-ranked issues")


def _check(args: argparse.Namespace) -> None:
    problems = []
    if args.folds < 2:
        problems.append(f"--folds must be >= 2, got {args.folds}")
    if not 0 < args.similarity <= 1:
        problems.append(f"--similarity must be in (0, 1], got {args.similarity}")
    if args.fix is None and (args.fix_min_score is not None or args.fix_top is not None):
        problems.append("--fix-min-score / --fix-top need --fix OUT (the corrected label file to write)")
    if args.fix is not None and args.fix_min_score is None and args.fix_top is None:
        problems.append("--fix needs --fix-min-score SCORE or --fix-top N (or both) to say which issues to apply")
    if args.fix_top is not None and args.fix_top < 0:
        problems.append(f"--fix-top must be >= 0, got {args.fix_top}")
    if args.fix_min_score is not None and not 0 <= args.fix_min_score <= 1:
        problems.append(f"--fix-min-score must be in [0, 1], got {args.fix_min_score}")
    if args.fix is not None and args.fix.resolve() == Path(args.labels).resolve():
        problems.append(f"--fix {args.fix} is the input label file; write the corrected labels to a new file")
    if args.split is not None and not args.split.is_dir():
        problems.append(f"--split {args.split}: no such folder (make one with `tailtag split LABELS --out DIR`)")
    if problems:
        raise OptionError("; ".join(problems))


def run(args: argparse.Namespace) -> int:
    from tailtag.config import load_config
    from tailtag.doctor.fix import CHANGE_COLUMNS, apply_issues, chosen_issues
    from tailtag.doctor.outputs import write_csv, write_outputs
    from tailtag.doctor.page import write_page
    from tailtag.doctor.run import DOCTOR_DEFAULTS, doctor
    from tailtag.images import check_images
    from tailtag.labels.readers import detect_format
    from tailtag.labels.writers import output_format, write_labels

    _check(args)
    config = load_config(args.config, args.overrides, defaults=DOCTOR_DEFAULTS)
    table = load_table(args)
    if table.n_images < 2 * args.folds:
        raise OptionError(
            f"--folds {args.folds} needs at least {2 * args.folds} images; {args.labels} has {table.n_images}"
        )
    exact = check_images(table.paths, mode="header", find_duplicates=True, root=table.image_root).duplicates
    result = doctor(
        table, config, folds=args.folds, seed=args.seed, threshold=args.similarity, split_dir=args.split,
        exact_groups=exact,
    )  # fmt: skip
    changes, fixed_files = None, None
    if args.fix is not None:
        options = read_options(args)
        read_format = options.format or detect_format(args.labels, options)
        chosen = chosen_issues(result.issues, min_score=args.fix_min_score, top=args.fix_top)
        fixed, changes = apply_issues(table, result.issues, result.rows, chosen)
        like = (Path(args.labels), options)
        written = write_labels(
            fixed, args.fix, read_format, like=like if read_format in ("onehot", "tags", "mat") else None
        )
        fixed_files = [str(p) for p in written]
        write_csv(args.out / "changes.csv", CHANGE_COLUMNS, changes)
        if output_format(read_format) != read_format:
            print(f"note: {read_format} labels cannot be rewritten in place; wrote the corrected labels as a tags CSV")
    data = write_outputs(args.out, result, changes=changes, fixed_files=fixed_files)
    write_page(args.out / "doctor.html", result, data, command_line(args))
    _print_summary(args, data, fixed_files)
    return 0


def _print_summary(args: argparse.Namespace, data: dict, fixed_files: list[str] | None) -> None:
    counts = data["counts"]
    print(
        f"{data['images']} images x {data['labels']} labels, {data['settings']['folds']} folds: "
        f"{counts['label_issues']} suspected label issues ({counts['suspected_missing']} missing, "
        f"{counts['suspected_wrong']} wrong), {counts['image_issues']} images with a doubtful tag set, "
        f"{counts['duplicate_pairs']} duplicate pairs ({counts['exact_pairs']} byte-identical, "
        f"{counts['leak_pairs']} across split parts)"
    )
    worst = sorted(data["per_label"].items(), key=lambda kv: -(kv[1]["missing_rate"] or 0) - (kv[1]["wrong_rate"] or 0))
    for name, d in worst[:5]:
        if d["missing_rate"] is not None:
            print(f"  {name}: est. missing rate {d['missing_rate']:.3f}, wrong rate {d['wrong_rate']:.3f}")
    if fixed_files:
        fix = data["fix"]
        print(f"fixed: {fix['added']} tags added, {fix['removed']} removed -> {', '.join(fixed_files)}")
    print(
        f"wrote {args.out}: label_issues.csv, image_issues.csv, duplicates.csv, doctor.json, doctor.html",
        file=sys.stdout,
    )

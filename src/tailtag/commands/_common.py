"""Arguments and loading shared by every command that reads a label file."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from tailtag.labels import LabelTable
from tailtag.labels.options import LABEL_FORMATS, ReadOptions


def add_label_arguments(parser: argparse.ArgumentParser, *, option: str | None = None) -> None:
    """LABELS plus the reader flags (see `ReadOptions` for what each does); `option` (e.g. "--data") makes
    the label file an optional flag instead of a positional argument (it still lands in `args.labels`)."""
    what = "label file (CSV/TSV, list, .mat, .npz, COCO .json) or folder"
    if option is None:
        parser.add_argument("labels", metavar="LABELS", help=what)
    else:
        parser.add_argument(option, dest="labels", metavar="LABELS", help=what)
    parser.add_argument(
        "--images", metavar="DIR", help="folder the image paths are relative to (default: the label file's folder)"
    )
    parser.add_argument(
        "--allow-outside-images",
        action="store_true",
        help="accept absolute and '..' image paths outside the image folder (refused by default: a label file "
        "must not make tailtag read other files)",
    )
    group = parser.add_argument_group("label file format (auto-detected unless given)")
    group.add_argument("--format", choices=LABEL_FORMATS, help="label file format")
    group.add_argument("--delimiter", help="CSV field separator, e.g. ',' or '\\t' (default: sniffed)")
    group.add_argument("--tag-sep", help="separator between tags in a tags cell (default: detected)")
    group.add_argument("--path-column", help="CSV column holding image paths")
    group.add_argument("--tags-column", help="CSV column holding delimited tags")
    group.add_argument("--group-column", help="CSV column naming each image's group (kept together in splits)")
    group.add_argument("--classes", type=Path, help="text file, one label name per line (lists, NPZ)")
    group.add_argument("--paths", type=Path, dest="paths_file", help="CSV/text giving the image of each NPZ row")
    group.add_argument("--npz-key", help="array to use inside an NPZ holding several")
    group.add_argument("--voc-split", default="trainval", help="VOC image set: train, val, trainval, test")
    group.add_argument(
        "--voc-difficult",
        choices=("negative", "positive"),
        default="negative",
        help="what VOC's 'difficult' (0) entries become (default: negative)",
    )


def read_options(args: argparse.Namespace) -> ReadOptions:
    delimiter = args.delimiter.encode().decode("unicode_escape") if args.delimiter else None
    return ReadOptions(
        format=args.format,
        delimiter=delimiter,
        tag_sep=args.tag_sep,
        path_column=args.path_column,
        tags_column=args.tags_column,
        group_column=args.group_column,
        classes=args.classes,
        paths_file=args.paths_file,
        npz_key=args.npz_key,
        voc_split=args.voc_split,
        voc_difficult=args.voc_difficult,
        images=Path(args.images) if args.images else None,
        allow_outside_images=args.allow_outside_images,
    )


def load_table(args: argparse.Namespace) -> LabelTable:
    """Read LABELS with the flags given; relative image paths resolve against --images if given."""
    from tailtag.labels.readers import read_labels

    table = read_labels(args.labels, read_options(args))
    return table.with_root(args.images) if args.images else table


def command_line(args: argparse.Namespace) -> str:
    """The command as typed (shell-quoted), for run directories and reports."""
    return shlex.join(["tailtag", *getattr(args, "_argv", sys.argv[1:])])


def data_source(args: argparse.Namespace) -> dict:
    """Where the labels came from, as saved in a run's data.json (absolute paths, non-default read options)."""
    from dataclasses import asdict

    defaults = asdict(ReadOptions())
    options = {
        key: str(value) if isinstance(value, Path) else value
        for key, value in asdict(read_options(args)).items()
        if value != defaults[key] and key != "images"  # saved as an absolute path below
    }
    for key in ("classes", "paths_file"):
        if key in options:
            options[key] = str(Path(options[key]).resolve())
    images = str(Path(args.images).resolve()) if args.images else None
    return {
        "labels": str(Path(args.labels).resolve()),
        "images": images,
        "options": options,
        "command": command_line(args),
    }


def add_image_policy_arguments(parser: argparse.ArgumentParser) -> None:
    """--on-bad-image and --max-pixels: what to do with images that cannot be used."""
    from tailtag.images import DEFAULT_MAX_PIXELS, ON_BAD_IMAGE

    group = parser.add_argument_group("bad images (checked when --images is given)")
    group.add_argument(
        "--on-bad-image",
        choices=ON_BAD_IMAGE,
        default="fail",
        help="fail: stop, naming the file and the reason; skip: leave it out and list it in skipped_images.csv",
    )
    group.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help="refuse images with more pixels before decoding them (decompression bombs; default "
        f"{DEFAULT_MAX_PIXELS:,}: 48-50 MP photos pass, and one decode stays under about 1 GB per worker)",
    )


def drop_bad_images(table: LabelTable, args: argparse.Namespace, report_path: Path | None) -> LabelTable:
    """Check the images (header) when --images is given and apply --on-bad-image; report what was skipped."""

    import numpy as np

    from tailtag.images import apply_policy, check_images

    if args.images is None:
        return table
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
    check = check_images(
        table.paths, mode="header", find_duplicates=False, max_pixels=args.max_pixels, root=table.image_root
    )
    keep, summary = apply_policy(check, args.on_bad_image, report_path)
    if not keep.all():
        print(f"warning: {summary}", file=sys.stderr)
        return table.subset(np.flatnonzero(keep))
    return table


@contextlib.contextmanager
def warnings_as_lines(prefix: str, category: type[Warning] = Warning) -> Iterator[None]:
    """Collect the Python warnings raised inside the block and print each distinct one once, as a plain
    `PREFIX message` line on stderr, instead of Python's `file:line: UserWarning:` form."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", category)
        yield
    for message in dict.fromkeys(str(warning.message) for warning in caught):
        print(f"{prefix}{message}", file=sys.stderr, flush=True)

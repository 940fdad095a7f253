"""`tailtag train`: label file + images (+ split) -> a run directory with the model, config and logs.

    tailtag train labels.csv --images DIR [--split SPLIT_DIR] --out runs/exp1 [--config FILE] [--set key=value ...]

Rerunning the same command after an interruption resumes from the last finished epoch and ends with the
same metrics. Under torchrun (`torchrun --nproc-per-node 2 -m tailtag train ...`) it trains with DDP.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from tailtag import rundir
from tailtag.commands._common import (
    add_image_policy_arguments,
    add_label_arguments,
    data_source,
    load_table,
    warnings_as_lines,
)


def _names_help() -> str:
    from tailtag.losses import describe_losses
    from tailtag.sampling import SAMPLERS

    return (
        "losses (config key 'loss'):\n"
        + describe_losses()
        + "\n\nsamplers (config key 'sampler'): "
        + ", ".join(SAMPLERS)
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_label_arguments(parser)
    add_image_policy_arguments(parser)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _names_help() + "\n\nevery config key: see tailtag/config.py or a run's config.yaml"
    group = parser.add_argument_group("training")
    group.add_argument("--out", required=True, type=Path, metavar="RUN", help="run directory to write (or resume)")
    group.add_argument(
        "--split",
        type=Path,
        metavar="DIR",
        help="split folder from `tailtag split` (default: a stratified hold-out of val_fraction)",
    )
    group.add_argument(
        "--features",
        type=Path,
        metavar="FEATS",
        help="train the head on features computed elsewhere instead of images: .npz (arrays paths, features), "
        ".npy with --feature-paths, .parquet (a path column and a list column) or a folder of such shards",
    )
    group.add_argument(
        "--feature-paths", type=Path, metavar="FILE", help="image paths of a .npy FEATS, one per line, in row order"
    )
    group.add_argument("--config", type=Path, metavar="FILE", help="YAML config file")
    group.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override one config key, e.g. --set loss=asl --set epochs=30 (repeatable)",
    )
    group.add_argument("--restart", action="store_true", help="ignore an unfinished run in --out and start over")
    shortcuts = parser.add_argument_group("shortcuts for common config keys (same as --set KEY=VALUE)")
    shortcuts.add_argument("--mode", choices=("head", "finetune"), help="head: cached features (default); finetune")
    shortcuts.add_argument(
        "--backbone",
        metavar="NAME",
        help="timm model name (default tf_efficientnet_lite0; offline ImageNet weights: tf_efficientnet_lite0, "
        "tf_efficientnet_lite2)",
    )
    shortcuts.add_argument("--weights", metavar="FILE", help="backbone weights: imagenet, none, or a .safetensors/.pth")
    shortcuts.add_argument("--loss", metavar="NAME", help="loss name (listed below)")
    shortcuts.add_argument("--sampler", metavar="NAME", help="sampler name (listed below)")
    shortcuts.add_argument("--epochs", metavar="N", help="number of epochs")
    shortcuts.add_argument("--seed", metavar="S", help="seed of everything random")


def run(args: argparse.Namespace) -> int:
    from tailtag.config import load_config
    from tailtag.train.run import train

    shortcut_keys = ("mode", "backbone", "weights", "loss", "sampler", "epochs", "seed")
    shortcuts = [f"{key}={getattr(args, key)}" for key in shortcut_keys if getattr(args, key) is not None]
    config = load_config(args.config, shortcuts + args.overrides)
    table = load_table(args)
    if args.feature_paths is not None and args.features is None:
        from tailtag.errors import OptionError

        raise OptionError("--feature-paths names the paths of a .npy FEATS\n  fix: add --features FEATS.npy")
    common = dict(
        out=args.out, config=config, split_dir=args.split, restart=args.restart, data_source=data_source(args)
    )
    if args.features is not None:
        from tailtag.train.from_features import train_from_features

        train_from_features(table, features=args.features, feature_paths=args.feature_paths, **common)
    else:
        train(table, on_bad_image=args.on_bad_image, max_pixels=args.max_pixels, **common)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun one process fits the decision
        from tailtag.allocator import release_freed_memory

        release_freed_memory()  # training's freed batch buffers would otherwise add to the fit's peak
        _fit_decision(args.out, table)
    return 0


def _fit_decision(out: Path, table) -> None:
    """Calibration + thresholds on the validation split, saved in the run, so `predict` works right away."""
    from tailtag.evaluation import fit_run_decision

    with warnings_as_lines("note: "):
        decision = fit_run_decision(out, table=table, progress=False)
    thresholds = decision.thresholds.thresholds_
    selected = decision.thresholds.extra_.get("selected_from")
    if selected:
        print(
            "decision rule, cross-fitted macro-F1 on the validation split: "
            + ", ".join(f"{name} {score:.4f}" for name, score in selected.items())
        )
    print(
        f"chose {decision.calibrator.method} calibration + {decision.thresholds.strategy} thresholds "
        f"(from {thresholds.min():.3f} to {thresholds.max():.3f}): {out / rundir.CALIBRATION}, "
        f"{out / rundir.THRESHOLDS}",
        flush=True,
    )

"""`tailtag predict`: tag a folder, list file or glob of images with a trained run.

    tailtag predict RUN INPUT --out predictions.csv [--backend torch|onnx] [--min-tags N] [--max-tags N]
    torchrun --nproc-per-node 4 -m tailtag predict RUN INPUT --out predictions.csv
    tailtag predict --merge predictions.csv        # shard files of separate per-node jobs -> one file

Writes FILE (CSV `img_path,tags` or JSONL with probabilities) and FILE's skipped CSV (path,reason of every
image that could not be used). Rerunning a killed command continues where it stopped and produces the same
bytes as an uninterrupted run; --force starts over. On MIML (2 cores, Lite0 at 224 px):

    $ tailtag predict runs/miml miml/images --out predictions.csv
    wrote predictions.csv: 2,000 images tagged, 0 skipped (predictions.skipped.csv); 73.5 img/s
    $ grep '^4.jpg' predictions.csv
    4.jpg,"mountains,desert"
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from tailtag.errors import OptionError, TailtagError
from tailtag.images import DEFAULT_MAX_PIXELS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", nargs="?", type=Path, metavar="RUN", help="run directory written by tailtag train")
    parser.add_argument(
        "input", nargs="?", metavar="INPUT", help="image folder (recursive), list file (.txt/.lst/.csv) or quoted glob"
    )
    parser.add_argument("--out", type=Path, metavar="FILE", help="predictions.csv (img_path,tags) or .jsonl")
    group = parser.add_argument_group("model")
    group.add_argument("--backend", choices=("torch", "onnx"), default="torch", help="onnx needs tailtag export first")
    group.add_argument("--device", default="cpu", help="cpu, cuda, cuda:INDEX or auto (torch backend; default cpu)")
    group.add_argument("--batch-size", type=int, metavar="N", default=32, help="images per forward pass (default 32)")
    group.add_argument(
        "--workers", type=int, metavar="N", default=2, help="decode processes at most (default 2; CPU: spare cores)"
    )
    group = parser.add_argument_group("tags")
    group.add_argument(
        "--min-tags", type=int, metavar="N", default=0, help="give images with fewer tags their N best labels"
    )
    group.add_argument("--max-tags", type=int, metavar="N", help="keep at most the N best-scored tags per image")
    group = parser.add_argument_group("job")
    group.add_argument(
        "--max-pixels",
        type=int,
        metavar="N",
        default=DEFAULT_MAX_PIXELS,
        help=f"skip images with more pixels (decompression bombs; default {DEFAULT_MAX_PIXELS:,}: one decode stays "
        "under about 1 GB per worker)",
    )
    group.add_argument(
        "--allow-outside-images",
        action="store_true",
        help="let a list file name images outside its folder (absolute or '..' paths; refused by default)",
    )
    group.add_argument("--flush-every", type=int, default=256, metavar="ROWS", help="fsync the output this often")
    group.add_argument("--force", action="store_true", help="discard an earlier (partial) output and start over")
    group.add_argument("--quiet", action="store_true", help="no progress bar or summary line")
    group.add_argument("--merge", type=Path, metavar="FILE", help="only merge FILE's shard files (multi-node jobs)")
    group = parser.add_argument_group("features (a run trained with tailtag train --features)")
    group.add_argument(
        "--features", type=Path, metavar="FEATS", help="tag every row of FEATS (.npz, .npy, .parquet or shard folder)"
    )
    group.add_argument("--feature-paths", type=Path, metavar="FILE", help="image paths of a .npy FEATS")


def run(args: argparse.Namespace) -> int:
    if args.merge is not None:
        return _merge(args)
    if args.features is not None:
        return _predict_features(args)
    missing = [name for name, value in (("RUN", args.run), ("INPUT", args.input), ("--out", args.out)) if not value]
    if missing:
        raise OptionError(
            f"missing {', '.join(missing)}\n  fix: tailtag predict RUN INPUT --out predictions.csv "
            "(or tailtag predict --merge FILE)"
        )
    from tailtag.predict import PredictOptions, find_inputs, format_of, predict_files, tagger_for
    from tailtag.predict.shards import ProcessGroup, merge_shards, torchrun_world

    format_of(args.out)  # a bad extension is reported before the model loads
    options = PredictOptions(
        batch_size=args.batch_size,
        workers=args.workers,
        min_tags=args.min_tags,
        max_tags=args.max_tags,
        max_pixels=args.max_pixels,
        flush_rows=args.flush_every,
        progress=not args.quiet,
        force=args.force,
    )
    rank, world = torchrun_world()
    if world > 1 and args.out.exists() and not args.force:
        raise TailtagError(f"{args.out} already exists\n  fix: pass --force to predict again and overwrite it")
    group = ProcessGroup(world)
    try:
        inputs = find_inputs(args.input, allow_outside=args.allow_outside_images)
        device = _device(args.device, world)
        tagger = tagger_for(args.run, args.backend, device=device)
        if options.min_tags > len(tagger.names):
            raise OptionError(f"--min-tags {options.min_tags} is more than the run's {len(tagger.names)} labels")
        if rank != 0:  # one progress bar: rank 0's block is as long as the others
            options = dataclasses.replace(options, progress=False)
        summary = predict_files(
            tagger, inputs, args.out, options, backend=args.backend, device=device, rank=rank, world=world
        )
        group.barrier()
        if world > 1 and rank == 0:
            merged = merge_shards(args.out, world=world, force=True)
            _report(args, merged.out, merged.skipped, merged.n_rows, merged.n_skipped, summary, world)
        elif world == 1:
            _report(args, summary.out, summary.skipped, summary.n_rows, summary.n_skipped, summary, 1)
    finally:
        group.close()
    return 0


def _predict_features(args: argparse.Namespace) -> int:
    from tailtag.predict.from_features import predict_features

    missing = [name for name, value in (("RUN", args.run), ("--out", args.out)) if not value]
    if missing or args.input:
        raise OptionError(
            f"{'missing ' + ', '.join(missing) if missing else 'INPUT ' + repr(args.input) + ' with --features'}\n"
            "  fix: tailtag predict RUN --features FEATS --out predictions.csv (no INPUT: FEATS names the images)"
        )
    if args.out.exists() and not args.force:
        raise TailtagError(f"{args.out} already exists\n  fix: pass --force to predict again and overwrite it")
    summary = predict_features(
        args.run,
        args.features,
        args.out,
        feature_paths=args.feature_paths,
        min_tags=args.min_tags,
        max_tags=args.max_tags,
    )
    if not args.quiet:
        rate = summary.n_rows / max(summary.seconds, 1e-9)
        print(f"wrote {summary.out}: {summary.n_rows:,} rows tagged from {args.features} ({rate:,.0f} rows/s)")
    return 0


def _device(device: str, world: int) -> str:
    """Under torchrun each process of a node takes the GPU of its LOCAL_RANK."""
    if world > 1 and device in ("cuda", "auto"):
        import torch

        if torch.cuda.is_available():
            return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return device


def _report(args, out: Path, skipped: Path, n_rows: int, n_skipped: int, summary, world: int) -> None:
    total = n_rows + n_skipped
    if n_rows == 0:
        print(f"warning: none of the {total:,} images could be read; reasons in {skipped}", file=sys.stderr)
    elif n_skipped:
        print(
            f"warning: skipped {n_skipped:,} of {total:,} images that could not be used; see {skipped}", file=sys.stderr
        )
    if args.quiet:
        return
    resumed = f", resumed after {summary.n_resumed:,}" if summary.n_resumed else ""
    rate = f"{summary.images_per_s:.1f} img/s" + (f" per process x {world}" if world > 1 else "")
    print(f"wrote {out}: {n_rows:,} images tagged, {n_skipped:,} skipped ({skipped}); {rate}{resumed}")


def _merge(args: argparse.Namespace) -> int:
    from tailtag.predict.shards import merge_shards

    if args.run is not None or args.input is not None:
        raise OptionError("--merge FILE takes no RUN or INPUT\n  fix: tailtag predict --merge predictions.csv")
    merged = merge_shards(args.merge, force=args.force)
    if not args.quiet:
        print(
            f"merged {merged.world} shards into {merged.out}: {merged.n_rows:,} images tagged, "
            f"{merged.n_skipped:,} skipped ({merged.skipped})"
        )
    return 0

"""`tailtag demo`: the whole pipeline on an embedded, generated data set, with no data to bring.

It writes a small procedural scene data set (skewed labels, co-occurrence, rare combinations, unlabelled
images; see `tailtag.demo.scenes`) and then runs, and prints, the very commands a user would type on their
own data, so the demo doubles as a tour:

    tailtag inspect DEMO/data/labels.csv --images DEMO/data --plots DEMO/inspect
    tailtag split   DEMO/data/labels.csv --images DEMO/data --out DEMO/split
    tailtag train   DEMO/data/labels.csv --images DEMO/data --split DEMO/split --out DEMO/run
    tailtag evaluate DEMO/run --out DEMO/evaluation      (per-class table, baselines, report.html)
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from tailtag.errors import OptionError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("tailtag-demo"), help="output folder (default: tailtag-demo)")
    parser.add_argument("--n-images", type=int, default=600, help="images to generate (default: 600)")
    parser.add_argument("--size", type=int, default=128, help="image side in pixels (default: 128)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data set and the split")
    parser.add_argument("--skip-train", action="store_true", help="stop after inspect and split")


def _ensure_dataset(data_dir: Path, n_images: int, size: int, seed: int) -> Path:
    """Generate the data set, or reuse it when the folder holds one made with the same settings."""
    from tailtag.demo import make_demo_dataset

    stamp = data_dir / "demo.json"
    settings = {"n_images": n_images, "size": size, "seed": seed}
    if stamp.exists() and json.loads(stamp.read_text()) == settings and (data_dir / "labels.csv").exists():
        print(f"using the demo data set in {data_dir} (delete it to regenerate)")
        return data_dir / "labels.csv"
    started = time.perf_counter()
    labels = make_demo_dataset(data_dir, n_images=n_images, size=size, seed=seed, overwrite=True)
    stamp.write_text(json.dumps(settings))
    print(f"generated {n_images} demo images ({size} px) in {data_dir} in {time.perf_counter() - started:.1f} s")
    return labels


def _step(argv: list[str]) -> None:
    """Run one tailtag command as the user would, showing it first; stop the demo if it fails."""
    from tailtag.cli import main

    print(f"\n$ tailtag {shlex.join(argv)}", flush=True)
    status = main(argv)
    sys.stdout.flush()
    if status != 0:
        raise SystemExit(status)


def run(args: argparse.Namespace) -> int:
    if args.n_images < 20:
        raise OptionError(f"--n-images must be at least 20 for a meaningful split, got {args.n_images}")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    labels = _ensure_dataset(out / "data", args.n_images, args.size, args.seed)
    data = str(labels.parent)
    _step(["inspect", str(labels), "--images", data, "--plots", str(out / "inspect")])
    _step(["split", str(labels), "--images", data, "--out", str(out / "split"), "--seed", str(args.seed), "--force"])
    if not args.skip_train:
        _step(
            [
                "train",
                str(labels),
                "--images",
                data,
                "--split",
                str(out / "split"),
                "--out",
                str(out / "run"),
                "--restart",
            ]
        )
        _step(["evaluate", str(out / "run"), "--out", str(out / "evaluation")])
    print(
        f"\ndemo finished: data in {data}, plots in {out / 'inspect'}, split files in {out / 'split'}"
        + ("" if args.skip_train else f", trained run in {out / 'run'}")
    )
    if not args.skip_train:
        print(f"report: {(out / 'evaluation' / 'report.html').resolve()}")
    return 0

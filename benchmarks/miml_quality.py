"""MIML quality of a training recipe, under the seed protocol: a random 25% hold-out (split seed 2024),
mean and std over several training seeds, wall time per run (the first run includes feature extraction
with a cold cache).

    python benchmarks/miml_quality.py                         # the default config, seeds 0-4
    python benchmarks/miml_quality.py --name best --set top_blocks=2 --set views=center,full

Needs the MIML set in ../shared/data/miml (not shipped with tailtag).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MIML = ROOT.parent / "shared" / "data" / "miml"
KEYS = ("label_accuracy", "macro_f1", "mAP", "micro_f1", "subset_accuracy")


def tailtag(*argv: str) -> None:
    subprocess.run([sys.executable, "-m", "tailtag", *argv], check=True, stdout=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="default")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--work", type=Path, help="folder for the split and runs (default: a temp folder)")
    args = parser.parse_args()
    if not (MIML / "labels.csv").exists():
        print(f"MIML not found at {MIML}; nothing to measure")
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="miml-quality-"))
    cache = work / "feature-cache"
    shutil.rmtree(cache, ignore_errors=True)  # the first run pays for feature extraction
    labels = str(MIML / "labels.csv")
    split = work / "split-2024"
    tailtag(
        "split",
        labels,
        "--out",
        str(split),
        "--fractions",
        "0.75,0.25",
        "--seed",
        "2024",
        "--method",
        "random",
        "--force",
    )
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        out = work / f"{args.name}-seed{seed}"
        sets = [f"--set={item}" for item in [*args.overrides, f"seed={seed}", f"cache_dir={cache}"]]
        started = time.perf_counter()
        tailtag(
            "train",
            labels,
            "--images",
            str(MIML / "images"),
            "--split",
            str(split),
            "--out",
            str(out),
            "--restart",
            *sets,
        )
        seconds = time.perf_counter() - started
        metrics = json.loads((out / "metrics.json").read_text())
        rows.append([metrics[k] for k in KEYS] + [seconds])
        print(
            f"seed {seed}: " + "  ".join(f"{k} {metrics[k]:.4f}" for k in KEYS) + f"  wall {seconds:.0f} s", flush=True
        )
    table = np.array(rows)
    mean, std = table.mean(axis=0), table.std(axis=0)
    print(f"\nrecipe {args.name} ({' '.join(args.overrides) or 'default config'}), {len(rows)} seeds:")
    for j, key in enumerate((*KEYS, "wall_seconds")):
        print(f"  {key:<16} {mean[j]:.4f} +- {std[j]:.4f}")
    print(
        f"  first run (cold feature cache) {table[0, -1]:.0f} s; later runs {table[1:, -1].mean():.0f} s"
        if len(rows) > 1
        else ""
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`tailtag compare CONFIG --out DIR`: run a grid of strategies and rank them (see tailtag.compare).

Example (MIML, 72 trainings x 2 decision rules, ~3 min on 2 cores including feature extraction):

    $ tailtag compare recipes/compare-miml.yaml --out runs/compare-miml
      #  configuration                              macro_f1  ...  vs best
      1  bce | class_aware | linear | fixed 0.5    0.872 ± 0.002  best
      ...
    best by mean macro_f1: bce | class_aware | linear | fixed 0.5 (0.8717 ± 0.0017, 3 seeds)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tailtag.compare.validate import RANK_METRICS
from tailtag.errors import OptionError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, metavar="CONFIG", help="compare YAML: data, train, losses, samplers, ...")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (rerun to resume)")
    parser.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: the usable CPU cores)")
    parser.add_argument("--rank-by", choices=RANK_METRICS, help="leaderboard order (default: CONFIG's rank_by)")
    parser.add_argument("--labels", metavar="FILE", help="override CONFIG's data.labels")
    parser.add_argument("--images", metavar="DIR", help="override CONFIG's data.images")
    parser.add_argument("--split", metavar="DIR", help="override CONFIG's data.split (train/val/test.txt folder)")
    parser.add_argument("--seeds", metavar="LIST", help="override CONFIG's seeds, e.g. 0,1,2")
    parser.add_argument("--top", type=int, default=20, metavar="N", help="rows of the terminal table (default 20)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    import yaml

    from tailtag.compare import compare, format_table, parse_compare_config
    from tailtag.compare.validate import load_compare_config

    if args.jobs is not None and args.jobs < 1:
        raise OptionError(f"--jobs must be >= 1, got {args.jobs}")
    raw = yaml.safe_load(args.config.read_text(encoding="utf-8")) if args.config.is_file() else None
    if not isinstance(raw, dict):
        load_compare_config(args.config)  # raises the precise error (missing file, bad YAML, not a mapping)
    raw = _override(raw, args)
    config = parse_compare_config(raw, source=str(args.config))
    result = compare(config, args.out, jobs=args.jobs, quiet=args.quiet)
    print(format_table(result["rows"], config.rank_by, limit=args.top))
    print()
    for line in result["statement"]:
        print(line)
    print(f"\nwrote {args.out}: leaderboard.csv, leaderboard.html, summary.json, best.yaml")
    return 0


def _override(raw: dict, args: argparse.Namespace) -> dict:
    raw = dict(raw)
    data = dict(raw.get("data") or {})
    if args.labels:
        data["labels"] = args.labels
    if args.images:
        data["images"] = args.images
    if args.split:
        data["split"] = args.split
    if data:
        raw["data"] = data
    if args.rank_by:
        raw["rank_by"] = args.rank_by
    if args.seeds:
        try:
            raw["seeds"] = [int(s) for s in args.seeds.split(",") if s.strip()]
        except ValueError:
            raise OptionError(f"--seeds must be comma-separated integers, e.g. 0,1,2; got {args.seeds!r}") from None
    return raw

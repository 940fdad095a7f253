"""`tailtag evaluate`: the honest picture of a trained run, on its own split or on any labelled set.

    tailtag evaluate RUN [--data LABELS --images DIR] [--split val|test|train|all] [--json] [--out DIR]

Prints the headline metrics next to the model at 0.5 and the trivial baselines, the head/medium/tail
buckets, the per-class table and every warning; writes metrics.json, per_class.csv and report.html.
The decision (calibration + thresholds) is read from RUN, or fitted on RUN's validation split and saved
there (RUN/thresholds.json, RUN/calibration.json) when missing or when asked to refit.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from tailtag import rundir
from tailtag.commands._common import add_label_arguments, command_line, load_table

_TABLE_ROWS = 40


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tailtag.thresholds.policy import calibration_help, strategy_help

    parser.add_argument("run", type=Path, metavar="RUN", help="run directory written by tailtag train")
    add_label_arguments(parser, option="--data")
    group = parser.add_argument_group("evaluation")
    group.add_argument("--split", help="val, test, train or all (default: test if the run has one, else val)")
    group.add_argument("--out", type=Path, metavar="DIR", help="where to write the results (default RUN/eval-SPLIT)")
    group.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")
    group.add_argument(
        "--strategy",
        help=strategy_help(),
    )
    group.add_argument(
        "--strategy-param", action="append", default=[], metavar="KEY=VALUE", help="e.g. target=0.9 (repeatable)"
    )
    group.add_argument("--calibration", help=calibration_help())
    group.add_argument("--refit", action="store_true", help="refit the saved decision on the validation split")
    group.add_argument(
        "--features",
        type=Path,
        metavar="FEATS",
        help="a run trained on features computed elsewhere: score these vectors (default: the file it was trained on)",
    )
    group.add_argument("--feature-paths", type=Path, metavar="FILE", help="image paths of a .npy FEATS")
    group.add_argument("--no-report", action="store_true", help="skip report.html")
    group.add_argument("--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    from tailtag.evaluation import evaluate_run

    table = load_table(args) if args.labels else None
    evaluation = evaluate_run(
        args.run,
        table=table,
        split=args.split,
        strategy=args.strategy,
        strategy_params=_params(args.strategy_param) if args.strategy_param else None,
        calibration=args.calibration,
        refit=args.refit,
        progress=not (args.quiet or args.json),
        features=args.features,
        feature_paths=args.feature_paths,
    )
    summary = evaluation.summary
    out = args.out or args.run / f"eval-{_slug(summary['split'] if table is None else Path(args.labels).stem)}"
    written = _write_outputs(out, evaluation, args)
    if args.json:
        print(json.dumps(summary, allow_nan=False))
    else:
        print(format_summary(summary))
        print("\nwrote " + ", ".join(str(path) for path in written))
    return 0


def _params(items: list[str]) -> dict:
    import yaml

    from tailtag.errors import OptionError

    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise OptionError(f"--strategy-param {item!r}: expected KEY=VALUE, e.g. --strategy-param target=0.9")
        params[key.strip()] = yaml.safe_load(value)
    return params


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text) or "data"


def _write_outputs(out: Path, evaluation, args: argparse.Namespace) -> list[Path]:
    from tailtag.evaluation.files import write_metrics, write_per_class, write_problems

    out.mkdir(parents=True, exist_ok=True)
    written = [write_metrics(evaluation.summary, out / rundir.METRICS), write_per_class(evaluation.summary, out)]
    if evaluation.problems:
        written.append(write_problems(evaluation.problems, out / rundir.SKIPPED))
    if not args.no_report:
        written.append(write_run_report(out / "report.html", evaluation, command_line(args)))
    return written


def write_run_report(path: Path, evaluation, command: str) -> Path:
    """report.html of an evaluation: its summary, its arrays, and the run's training history and config."""
    from tailtag.evaluation.files import json_ready
    from tailtag.inference import read_run
    from tailtag.report import ReportData, write_report

    files = read_run(evaluation.summary["run"])
    arrays = evaluation.arrays
    history = []
    metrics_file = files.file(rundir.METRICS)
    if metrics_file.is_file():
        history = json.loads(metrics_file.read_text(encoding="utf-8")).get("history", [])
    trained_with = (files.data or {}).get("command", "")
    data = ReportData(
        names=arrays.names,
        paths=arrays.paths,
        targets=arrays.targets,
        raw_scores=arrays.raw,
        scores=arrays.probabilities,
        thresholds=arrays.thresholds,
        train_counts=arrays.train_counts,
        buckets=[str(b) for b in arrays.buckets],
        history=history,
        command=f"{trained_with}\n{command}" if trained_with else command,
        config_yaml=files.file(rundir.CONFIG).read_text(encoding="utf-8"),
        task=files.task,
        images=files.model.backbone.get("kind") != rundir.FEATURES_KIND,
    )
    return write_report(path, json_ready(evaluation.summary), data)


def format_summary(summary: dict) -> str:
    """The terminal view: headline comparison, buckets, per-class table, warnings."""
    lines = [
        f"{summary['run']}: {summary['n_images']:,} images x {summary['n_labels']} labels ({summary['split']}); "
        f"decision: {_rule(summary)}",
        f"  decisions: {summary['threshold_gain']['how']}",
        "",
        f"{'':16}{'macro-F1':>9}{'micro-F1':>9}{'mAP':>8}{'subset':>8}{'label-acc*':>11}",
    ]
    rows = [("model", summary), ("model at 0.5", summary["at_0_5"])]
    rows += [(f"{name.replace('_', '-')}", values) for name, values in summary["baselines"].items()]
    for name, values in rows:
        cells = [values.get(k) for k in ("macro_f1", "micro_f1", "mAP", "subset_accuracy", "label_accuracy")]
        widths = (9, 9, 8, 8, 11)
        lines.append(f"{name:16}" + "".join(_cell(v, w) for v, w in zip(cells, widths, strict=True)))
    lines.append("  * label-wise accuracy is inflated by true negatives: all-negative scores high on it")
    if summary.get("buckets"):
        lines += ["", f"{'bucket':16}{'labels':>7}{'macro-F1':>9}{'mAP':>8}"]
        for name, values in summary["buckets"].items():
            lines.append(
                f"{name:16}{values['n_labels']:>7}" + _cell(values.get("macro_f1"), 9) + _cell(values.get("mAP"), 8)
            )
    lines += ["", _per_class_table(summary["per_class"])]
    calibration = summary.get("calibration") or {}
    if calibration.get("ece_before") is not None:
        before, after = calibration["ece_before"], calibration["ece_after"]
        lines.append(f"\ncalibration ({calibration['method']}): expected calibration error {before:.4f} -> {after:.4f}")
    for warning in summary.get("warnings", []):
        lines.append(f"warning: {warning}")
    return "\n".join(lines)


def _rule(summary: dict) -> str:
    """e.g. "temperature calibration + per_class_f1 thresholds" or "threshold 0.5, no calibration"."""
    method, strategy = summary["calibration_method"], summary["threshold_strategy"]
    calibration = "no calibration" if method == "none" else f"{method} calibration"
    if strategy == "fixed":
        return f"threshold {summary['threshold_params'].get('value', 0.5):g}, {calibration}"
    return f"{calibration} + {strategy} thresholds"


def _cell(value, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.4f}"


def _per_class_table(per_class: dict) -> str:
    names = sorted(per_class, key=lambda n: -(per_class[n]["support"] or 0))
    width = min(max(len(n) for n in names), 28)
    header = f"{'label':{width}} {'bucket':>6}{'support':>8}{'prec':>7}{'recall':>7}{'F1':>7}{'AP':>7}{'thresh':>7}"
    lines = [header]
    for name in names[:_TABLE_ROWS]:
        row = per_class[name]
        lines.append(
            f"{name[:width]:{width}} {row['bucket']:>6}{row['support']:>8}"
            + "".join(_cell(row.get(k), 7) for k in ("precision", "recall", "f1", "ap", "threshold"))
        )
    if len(names) > _TABLE_ROWS:
        lines.append(f"... {len(names) - _TABLE_ROWS} more labels in per_class.csv and report.html")
    return "\n".join(lines)

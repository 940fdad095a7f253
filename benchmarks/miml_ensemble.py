"""Average the validation probabilities of several runs trained on the same split: does an ensemble help?

Each run's validation images (RUN/split/val.txt of the first run; every run must hold the same file) are
scored the way `tailtag predict` scores them (decode, the run's views, float32), the probabilities are
averaged with equal weights, and label-wise accuracy, macro-F1 and mAP at threshold 0.5 are printed for
every run and for the average. Used for the README's MIML note on averaging the Lite2 runs:

    python benchmarks/miml_quality.py --name lite2 --seeds 0 --set backbone=tf_efficientnet_lite2 --work W
    python benchmarks/miml_quality.py --name lite2-strong --seeds 0 --set backbone=tf_efficientnet_lite2 \\
        --set top_blocks=2 --set views=center,full --set epochs=15 --work W2
    python benchmarks/miml_ensemble.py W2/lite2-strong-seed0 W/lite2-seed0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tailtag.inference.model import load_model
from tailtag.inference.run_files import read_run
from tailtag.inference.score import score_images
from tailtag.metrics import multilabel_metrics
from tailtag.split import read_split

KEYS = ("label_accuracy", "macro_f1", "mAP")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories trained on the same split")
    args = parser.parse_args()
    first = read_run(args.runs[0])
    table = first.training_table()
    val_file = args.runs[0] / "split" / "val.txt"
    for run in args.runs[1:]:
        if (run / "split" / "val.txt").read_bytes() != val_file.read_bytes():
            raise SystemExit(f"{run}: its split/val.txt differs from {val_file}; train every run on the same split")
    rows = read_split(args.runs[0] / "split", table)["val"]
    targets = table.matrix[rows].toarray()
    paths = [table.resolve(p) for p in table.paths[rows]]
    probabilities = []
    for run in args.runs:
        model = load_model(run)
        if model.names != table.names:
            raise SystemExit(f"{run}: labels {model.names} differ from {table.names}")
        scores = score_images(model, paths, progress=False)
        if not scores.ok.all():
            raise SystemExit(f"{run}: {int((~scores.ok).sum())} validation image(s) could not be read")
        probabilities.append(scores.probabilities)
        report(str(run), targets, scores.probabilities)
    report(f"average of {len(args.runs)}", targets, np.mean(probabilities, axis=0))
    return 0


def report(name: str, targets: np.ndarray, probabilities: np.ndarray) -> None:
    metrics = multilabel_metrics(targets, probabilities, 0.5)
    print(f"{name}: " + "  ".join(f"{key} {metrics[key]:.4f}" for key in KEYS), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())

"""Time the full multi-label evaluation against issue 4's targets, with scikit-learn as the same-run baseline.

Cases: 8,000 images x 6,941 power-law labels (~3-5 positives per image) within 10 s, and a MIML-sized 500 x 5
hold-out within 1 s. Timed: `evaluate_multilabel` (every metric, per class) plus `PerClassF1Threshold().fit`.
tailtag has no calibration step (Platt / temperature) yet, so none is timed. The baseline is scikit-learn's
`average_precision_score(..., average=None)` plus `f1_score(average="macro")` on the same arrays.

Usage: python benchmarks/bench_evaluate.py [--seed 0] [--skip-baseline]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.metrics import average_precision_score, f1_score

from tailtag.metrics import evaluate_multilabel
from tailtag.thresholds import PerClassF1Threshold

CASES = (("large 8000 x 6941", 8000, 6941, 4.0, 10.0), ("MIML hold-out 500 x 5", 500, 5, 1.3, 1.0))


def power_law_case(n: int, k: int, mean_tags: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, K) int8 targets with Zipf-like label frequencies and about `mean_tags` positives per image, and
    informative float64 scores (positives shifted up, so AP is well above prevalence)."""
    rng = np.random.default_rng(seed)
    freq = 1.0 / np.arange(1, k + 1) ** 0.9
    prevalence = np.minimum(freq * mean_tags / freq.sum(), 0.9)
    targets = (rng.random((n, k)) < prevalence).astype(np.int8)
    logits = rng.normal(size=(n, k)) + 2.5 * targets - 3.0
    return targets, 1.0 / (1.0 + np.exp(-logits))


def time_tailtag(targets: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty-label and fallback warnings are expected on power-law data
        start = time.perf_counter()
        fitted = PerClassF1Threshold().fit(targets, scores)
        fit_s = time.perf_counter() - start
        evaluate_multilabel(targets, scores, fitted.thresholds_)
        return fit_s, time.perf_counter() - start - fit_s


def time_sklearn(targets: np.ndarray, scores: np.ndarray, max_labels: int = 300) -> float:
    """Seconds for the baseline; past `max_labels` labelled columns it is timed on a sample and scaled
    linearly (scikit-learn's per-label loop is linear in K and takes minutes on all 6,941 labels)."""
    labelled = np.flatnonzero(targets.any(axis=0))
    scale = max(1.0, len(labelled) / max_labels)
    labelled = labelled[:: int(np.ceil(scale))] if scale > 1 else labelled
    scale = targets.any(axis=0).sum() / max(len(labelled), 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        average_precision_score(targets[:, labelled], scores[:, labelled], average=None)
        f1_score(targets[:, labelled], (scores[:, labelled] >= 0.5).astype(np.int8), average="macro", zero_division=0)
        return (time.perf_counter() - start) * scale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-baseline", action="store_true", help="do not time the scikit-learn baseline")
    args = parser.parse_args()
    failed = 0
    for name, n, k, mean_tags, budget in CASES:
        targets, scores = power_law_case(n, k, mean_tags, args.seed)
        fit_s, eval_s = time_tailtag(targets, scores)
        total = fit_s + eval_s
        verdict = "PASS" if total <= budget else "FAIL"
        failed += verdict == "FAIL"
        print(
            f"{name}: {targets.sum() / n:.2f} tags/image, {int((targets.sum(axis=0) == 0).sum())} empty labels; "
            f"thresholds fit {fit_s:.2f} s + evaluate {eval_s:.2f} s = {total:.2f} s (budget {budget:g} s) {verdict}"
        )
        if not args.skip_baseline:
            base = time_sklearn(targets, scores)
            print(
                f"  scikit-learn AP(average=None) + macro-F1 only: {base:.2f} s; tailtag full / baseline = "
                f"{total / base:.2f}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

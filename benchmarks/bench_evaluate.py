"""Time the full multi-label evaluation against issue 4's targets, with scikit-learn as the same-run baseline.

Cases: 8,000 images x 6,941 power-law labels (~3-5 positives per image) within 10 s, and a MIML-sized 500 x 5
hold-out within 1 s. Timed, in the order an evaluation runs: calibration (`--calibration`, temperature by
default: fit, transform, and ECE before and after), `PerClassF1Threshold().fit` on the calibrated scores, and
`evaluate_multilabel` (every metric, per class). One array stands in for both the validation split (fitting)
and the test split (applying), which changes nothing in the timings. The baseline is scikit-learn's
`average_precision_score(..., average=None)` plus `f1_score(average="macro")` on the same arrays.

Usage: python benchmarks/bench_evaluate.py [--seed 0] [--skip-baseline] [--calibration temperature|platt|none]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.metrics import average_precision_score, f1_score

from tailtag.calibration import CALIBRATORS, create_calibrator, expected_calibration_error
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


def time_calibration(targets: np.ndarray, scores: np.ndarray, method: str) -> tuple[np.ndarray, dict[str, float]]:
    """Calibrated scores, and seconds per step plus ECE (15 uniform bins) before and after."""
    report: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # labels without positives keep the identity, with a warning
        start = time.perf_counter()
        calibrator = create_calibrator(method).fit(targets, scores)
        report["fit_s"] = time.perf_counter() - start
        start = time.perf_counter()
        calibrated = calibrator.transform(scores)
        report["transform_s"] = time.perf_counter() - start
        start = time.perf_counter()
        before = expected_calibration_error(targets, scores)
        after = expected_calibration_error(targets, calibrated)
        report["ece_s"] = time.perf_counter() - start
    report.update(ece_before=before.overall, ece_after=after.overall)
    report.update(macro_before=before.macro, macro_after=after.macro)
    return calibrated, report


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
    parser.add_argument("--calibration", choices=list(CALIBRATORS), default="temperature")
    args = parser.parse_args()
    failed = 0
    for name, n, k, mean_tags, budget in CASES:
        targets, scores = power_law_case(n, k, mean_tags, args.seed)
        calibrated, cal = time_calibration(targets, scores, args.calibration)
        fit_s, eval_s = time_tailtag(targets, calibrated)
        cal_s = cal["fit_s"] + cal["transform_s"] + cal["ece_s"]
        total = cal_s + fit_s + eval_s
        verdict = "PASS" if total <= budget else "FAIL"
        failed += verdict == "FAIL"
        print(
            f"{name}: {targets.sum() / n:.2f} tags/image, {int((targets.sum(axis=0) == 0).sum())} empty labels; "
            f"calibration {cal_s:.2f} s + thresholds fit {fit_s:.2f} s + evaluate {eval_s:.2f} s = {total:.2f} s "
            f"(budget {budget:g} s) {verdict}"
        )
        print(
            f"  {args.calibration} calibration: fit {cal['fit_s']:.2f} s, transform {cal['transform_s']:.2f} s, "
            f"ECE before + after {cal['ece_s']:.2f} s; ECE {cal['ece_before']:.4f} -> {cal['ece_after']:.4f}, "
            f"macro ECE {cal['macro_before']:.4f} -> {cal['macro_after']:.4f}"
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

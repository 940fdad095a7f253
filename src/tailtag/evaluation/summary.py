"""The evaluation summary (what `tailtag evaluate --json` prints) from arrays: no model, no files.

Everything is measured on the same (N, K) evaluation data: the model at its fitted decision, the same
model at one threshold of 0.5, the trivial baselines, calibration before and after, per bucket, and
the error analysis. Keys are listed in `tailtag.evaluation` and kept stable for scripts.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from tailtag.calibration import expected_calibration_error
from tailtag.evaluation.baselines import baseline_metrics, headline
from tailtag.evaluation.checks import all_warnings
from tailtag.evaluation.mistakes import co_confusion, confusion_counts, pick_labels, worst_mistakes
from tailtag.metrics import evaluate_multilabel, multiclass_metrics

CO_CONFUSION_LABELS = 30
ERROR_LABELS = 12


@dataclass
class EvaluationArrays:
    """The evaluation data and the model's outputs on it.

    Attributes:
        names: K label names.  paths: N image paths (for the error analysis).
        targets: (N, K) 0/1.  raw: (N, K) model probabilities before calibration.
        probabilities: (N, K) probabilities under the saved calibration (one monotone map per label, so the
            ranking metrics equal those of `raw`); decisions: (N, K) 0/1 from the fitted decision.
        held_out_probabilities: (N, K) calibrated probabilities for the calibration error; on the split the
            decision was fitted on, these and `decisions` are out-of-fold (cross-fitted).
        thresholds: (K,) the saved per-label thresholds.
        train_counts: (K,) positives per label in the training split; n_train: its size.
        buckets: (K,) "head" / "medium" / "tail" from the training counts.
        fit_targets: (M, K) targets of the split the decision was fitted on (for the prior baseline).
    """

    names: list[str]
    paths: list[str]
    targets: np.ndarray
    raw: np.ndarray
    probabilities: np.ndarray
    decisions: np.ndarray
    held_out_probabilities: np.ndarray
    thresholds: np.ndarray
    train_counts: np.ndarray
    n_train: int
    buckets: np.ndarray
    fit_targets: np.ndarray


def summarize(
    data: EvaluationArrays,
    *,
    task: str,
    strategy: str,
    strategy_params: dict | None,
    calibration: str,
    held_out: str,
    n_skipped: int = 0,
) -> dict:
    """The summary dict. `held_out` says how the decisions were kept apart from their fitting data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # labels without positives are reported in the summary's warnings
        metrics = evaluate_multilabel(
            data.targets, data.probabilities, predictions=data.decisions, buckets=data.buckets, names=data.names
        )
        at_half = headline(evaluate_multilabel(data.targets, data.raw, 0.5))
    prior = data.train_counts / max(data.n_train, 1)
    baselines = baseline_metrics(
        data.targets, prior, strategy=strategy, strategy_params=strategy_params, fit_targets=data.fit_targets
    )
    _add_per_class_details(metrics["per_class"], data)
    support = data.targets.sum(axis=0)
    metrics.update(
        task=task,
        threshold_strategy=strategy,
        threshold_params=strategy_params or {},
        calibration_method=calibration,
        at_0_5=at_half,
        threshold_gain={
            key: _difference(metrics.get(key), at_half[key]) for key in ("macro_f1", "micro_f1", "subset_accuracy")
        }
        | {"held_out": True, "how": held_out},
        baselines=baselines,
        calibration=_calibration_block(data, calibration),
        **_error_analysis(data),
        warnings=all_warnings(metrics, baselines, data.raw, data.names, support, n_skipped),
    )
    if task == "multiclass":
        metrics["multiclass"] = _multiclass_block(data)
    return metrics


def _add_per_class_details(per_class: dict, data: EvaluationArrays) -> None:
    counts = confusion_counts(data.targets, data.decisions)
    for j, name in enumerate(data.names):
        per_class[name].update(
            threshold=float(data.thresholds[j]),
            bucket=str(data.buckets[j]),
            train_count=int(data.train_counts[j]),
            **{key: int(values[j]) for key, values in counts.items()},
        )


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or not np.isfinite(a) or not np.isfinite(b) else float(a - b)


def _calibration_block(data: EvaluationArrays, method: str) -> dict:
    before = expected_calibration_error(data.targets, data.raw)
    after = expected_calibration_error(data.targets, data.held_out_probabilities)
    return {
        "method": method,
        "ece_before": _finite(before.overall),
        "ece_after": _finite(after.overall),
        "macro_ece_before": _finite(before.macro),
        "macro_ece_after": _finite(after.macro),
    }


def _finite(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _error_analysis(data: EvaluationArrays) -> dict:
    columns = pick_labels(data.targets, data.decisions, CO_CONFUSION_LABELS)
    rates = co_confusion(data.targets, data.decisions, columns)
    errors = {}
    for j in pick_labels(data.targets, data.decisions, ERROR_LABELS):
        worst = worst_mistakes(data.targets, data.probabilities, data.decisions, int(j))
        for kind in worst.values():
            for item in kind:
                item["path"] = str(data.paths[item["row"]])
        errors[data.names[j]] = worst
    return {
        "co_confusion": {
            "labels": [data.names[j] for j in columns],
            "matrix": [[None if np.isnan(v) else round(float(v), 6) for v in row] for row in rates],
        },
        "errors": errors,
    }


def _multiclass_block(data: EvaluationArrays) -> dict:
    result = multiclass_metrics(data.targets, data.probabilities, len(data.names))
    per_class = {
        name: {key: _finite(float(result[key][j])) for key in ("precision", "recall", "f1")}
        | {"support": int(result["support"][j])}
        for j, name in enumerate(data.names)
    }
    return {
        "confusion_matrix": result["confusion"].astype(int).tolist(),
        "accuracy": _finite(result["accuracy"]),
        "balanced_accuracy": _finite(result["balanced_accuracy"]),
        "macro_f1": _finite(result["macro_f1"]),
        "per_class": per_class,
    }

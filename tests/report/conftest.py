"""Synthetic evaluation inputs for the report tests, built with the real metrics and thresholds code."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tailtag.evaluation.files import json_ready
from tailtag.metrics import averaged_metrics, evaluate_multilabel, multiclass_metrics, per_class_metrics
from tailtag.report import ReportData
from tailtag.stats import assign_buckets
from tailtag.thresholds import PerClassF1Threshold

HEADLINE_KEYS = ("macro_f1", "micro_f1", "mAP", "label_accuracy", "hamming_loss", "subset_accuracy")


def synthetic_scores(n: int, k: int, seed: int, *, multiclass: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(targets (N, K) uint8, scores (N, K) float32): a long-tailed label matrix and informative noisy scores."""
    rng = np.random.default_rng(seed)
    prevalence = np.clip(0.5 / np.arange(1, k + 1) ** 0.8, 2.0 / max(n, 1), 0.6)
    if multiclass:
        classes = rng.choice(k, size=n, p=prevalence / prevalence.sum())
        targets = np.eye(k, dtype=np.uint8)[classes]
        logits = rng.normal(0.0, 1.0, (n, k)) + 2.5 * targets
        scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    else:
        targets = (rng.random((n, k)) < prevalence).astype(np.uint8)
        logits = rng.normal(-2.0, 1.2, (n, k)) + 2.8 * targets
        scores = 1.0 / (1.0 + np.exp(-logits))
    return targets, scores.astype(np.float32)


def _evaluate(targets, scores, names, *, thresholds=0.5, predictions=None, buckets=None) -> dict:
    """`evaluate_multilabel`, except on one-label column sets, where sklearn's coverage_error (used by
    tailtag.metrics.ranking) raises "binary format is not supported": a single label is summarised from the
    per-class and averaged metrics, and one-label buckets are left out."""
    if predictions is None:
        predictions = (scores >= thresholds).astype(np.int8)
    if targets.shape[1] == 1:
        per_class = per_class_metrics(targets, scores, predictions)
        out = averaged_metrics(targets, predictions, per_class)
        out["per_class"] = {names[0]: {key: _plain(values[0]) for key, values in per_class.items()}}
        out["buckets"] = {}
        return out
    out = evaluate_multilabel(targets, scores, predictions=predictions, names=names)
    if buckets is not None:
        for bucket in dict.fromkeys(buckets.tolist()):
            cols = np.flatnonzero(buckets == bucket)
            if cols.size > 1:
                sub = evaluate_multilabel(targets[:, cols], scores[:, cols], predictions=predictions[:, cols])
                out["buckets"][bucket] = {
                    key: value for key, value in sub.items() if key not in ("per_class", "buckets")
                }
    return out


def _plain(value):
    value = float(value)
    return None if np.isnan(value) else value


def _six(metrics: dict) -> dict:
    return {key: metrics.get(key) for key in HEADLINE_KEYS}


def build_inputs(
    tmp_path: Path,
    n: int = 120,
    k: int = 5,
    *,
    seed: int = 0,
    names: list[str] | None = None,
    multiclass: bool = False,
    n_images: int | None = None,
    empty_last: bool = False,
) -> tuple[dict, ReportData]:
    """(summary, data) as `tailtag evaluate` would produce them; the first `n_images` rows (default all) are real
    JPEGs, the other paths do not exist. `empty_last` leaves the last label without evaluation positives (so its
    AP is undefined)."""
    targets, raw = synthetic_scores(n, k, seed, multiclass=multiclass)
    if empty_last:
        targets[:, -1] = 0
    names = names or [f"label_{j}" for j in range(k)]
    calibrated = np.clip(raw**1.2, 0.0, 1.0).astype(np.float32)
    train_counts = (targets.sum(axis=0) * 4 + np.arange(k)[::-1]).astype(np.int64)
    buckets = assign_buckets(train_counts, head_min=200, tail_max=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rare labels fall back to the global threshold, and say so
        thresholds = PerClassF1Threshold(shrinkage=5.0, min_positives=3).fit(targets, calibrated, names).thresholds_
        summary = _evaluate(targets, calibrated, names, thresholds=thresholds, buckets=buckets)
        at_half = _evaluate(targets, calibrated, names, thresholds=0.5)
        prior = _evaluate(targets, np.tile(targets.mean(axis=0), (n, 1)), names, thresholds=0.5)
        negative = _evaluate(targets, calibrated, names, predictions=np.zeros_like(targets))
    paths = [str(tmp_path / f"img_{i}.jpg") for i in range(n)]
    rng = np.random.default_rng(seed)
    for path in paths[: n if n_images is None else n_images]:
        Image.fromarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)).save(path, quality=90)
    predicted = calibrated >= thresholds
    for j, name in enumerate(names):
        t, p = targets[:, j] > 0, predicted[:, j]
        entry = summary["per_class"][name]
        entry.update(threshold=float(thresholds[j]), bucket=str(buckets[j]), train_count=int(train_counts[j]))
        entry.update(tp=int((t & p).sum()), fp=int((~t & p).sum()), fn=int((t & ~p).sum()), tn=int((~t & ~p).sum()))
    summary.update(
        run="runs/synthetic",
        data="labels.csv",
        split="test",
        n_images=n,
        n_labels=k,
        task="multiclass" if multiclass else "multilabel",
        threshold_strategy="per_class_f1",
        calibration_method="temperature",
        at_0_5=_six(at_half),
        threshold_gain={
            "macro_f1": summary["macro_f1"] - at_half["macro_f1"],
            "micro_f1": summary["micro_f1"] - at_half["micro_f1"],
            "held_out": False,
            "how": "fitted and measured on the same split",
        },
        baselines={"prior": _six(prior), "all_negative": _six(negative)},
        calibration={
            "method": "temperature",
            "ece_before": 0.081,
            "ece_after": 0.023,
            "macro_ece_before": 0.12,
            "macro_ece_after": 0.05,
        },
        co_confusion=_co_confusion(targets, predicted, names),
        errors=_errors(targets, calibrated, predicted, names, paths),
        warnings=["validation split has 3 labels with fewer than 5 positives"],
    )
    if multiclass:
        mc = multiclass_metrics(targets, calibrated, k)
        summary["multiclass"] = {
            "confusion_matrix": mc["confusion"].tolist(),
            "balanced_accuracy": mc["balanced_accuracy"],
            "macro_f1": mc["macro_f1"],
            "accuracy": mc["accuracy"],
            "per_class": {
                name: {key: float(mc[key][j]) for key in ("precision", "recall", "f1")}
                | {"support": int(mc["support"][j])}
                for j, name in enumerate(names)
            },
        }
    history = [
        {
            "epoch": e,
            "train_loss": 1.0 / e,
            "val_loss": 1.1 / e + 0.05,
            "macro_f1": 0.3 + 0.05 * e,
            "mAP": 0.4 + 0.04 * e,
            "lr": 1e-3 * 0.5**e,
        }
        for e in range(1, 6)
    ]
    data = ReportData(
        names=names,
        paths=paths,
        targets=targets,
        raw_scores=raw,
        scores=calibrated,
        thresholds=thresholds,
        train_counts=train_counts,
        buckets=list(buckets),
        history=history,
        command="tailtag train labels.csv --images imgs --out runs/synthetic",
        config_yaml="model:\n  backbone: resnet18\nloss: asl\n",
        task="multiclass" if multiclass else "multilabel",
    )
    return summary, data


def _co_confusion(targets: np.ndarray, predicted: np.ndarray, names: list[str]) -> dict:
    present = targets.astype(np.float64)
    wrong = (predicted & (targets == 0)).astype(np.float64)
    matrix = (present.T @ wrong) / np.maximum(present.sum(axis=0), 1)[:, None]
    return {"labels": names, "matrix": matrix.tolist()}


def _errors(targets, scores, predicted, names, paths, top: int = 5) -> dict:
    out = {}
    for j, name in enumerate(names):
        fp = np.flatnonzero(predicted[:, j] & (targets[:, j] == 0))
        fn = np.flatnonzero(~predicted[:, j] & (targets[:, j] > 0))
        fp = fp[np.argsort(-scores[fp, j])][:top]
        fn = fn[np.argsort(scores[fn, j])][:top]
        out[name] = {
            "false_positives": [{"row": int(i), "path": paths[i], "score": float(scores[i, j])} for i in fp],
            "false_negatives": [{"row": int(i), "path": paths[i], "score": float(scores[i, j])} for i in fn],
        }
    return out


@pytest.fixture
def report_inputs(tmp_path: Path) -> Callable[..., tuple[dict, ReportData]]:
    """Factory: `report_inputs(n=..., k=..., names=..., multiclass=...)` -> (summary, data)."""

    def make(**kwargs) -> tuple[dict, ReportData]:
        return build_inputs(tmp_path, **kwargs)

    return make


@pytest.fixture(scope="session")
def build_inputs_fn() -> Callable[..., tuple[dict, ReportData]]:
    """`build_inputs` itself, for module-scoped fixtures that bring their own folder."""
    return build_inputs


def build_evaluated_inputs(folder: Path, n: int, k: int, *, seed: int = 0) -> tuple[dict, ReportData]:
    """(summary, data) of a synthetic evaluation summarised by `tailtag.evaluation.summarize`, as `tailtag evaluate`
    makes them (co-confusion and error lists capped to the labels with the most errors): the way to build a report
    of thousands of labels in a test. The image paths do not exist (thumbnails become placeholders)."""
    from tailtag.evaluation import EvaluationArrays, summarize

    targets, scores = synthetic_scores(n, k, seed)
    names = [f"label_{j:04d}" for j in range(k)]
    train_counts = (targets.sum(axis=0) * 4 + np.arange(k)[::-1] % 7).astype(np.int64)
    buckets = assign_buckets(train_counts, head_min=200, tail_max=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rare labels fall back to the global threshold, and say so
        thresholds = PerClassF1Threshold(shrinkage=5.0, min_positives=3).fit(targets, scores, names).thresholds_
    paths = [str(folder / f"missing_{i}.jpg") for i in range(n)]
    arrays = EvaluationArrays(
        names=names,
        paths=paths,
        targets=targets,
        raw=scores,
        probabilities=scores,
        decisions=(scores >= thresholds).astype(np.uint8),
        held_out_probabilities=scores,
        thresholds=thresholds,
        train_counts=train_counts,
        n_train=4 * n,
        buckets=buckets,
        fit_targets=targets,
    )
    summary = summarize(
        arrays, task="multilabel", strategy="per_class_f1", strategy_params=None, calibration="none", held_out="test"
    )
    summary.update(run="runs/large", data="labels.csv", split="test", n_images=n, n_labels=k)
    data = ReportData(
        names=names,
        paths=paths,
        targets=targets,
        raw_scores=scores,
        scores=scores,
        thresholds=thresholds,
        train_counts=train_counts,
        buckets=list(buckets),
        command="tailtag evaluate runs/large",
    )
    return json_ready(summary), data


@pytest.fixture(scope="session")
def build_evaluated_inputs_fn() -> Callable[..., tuple[dict, ReportData]]:
    """`build_evaluated_inputs` itself, for module-scoped fixtures."""
    return build_evaluated_inputs

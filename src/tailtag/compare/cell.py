"""One training of the grid on cached features, then every decision rule fitted on VAL and scored on TEST.

The training is `tailtag train`'s head mode (`tailtag.train.head.train_head`), so a cell is the same model
`tailtag train` would produce with that config, best epoch selected on VAL by `select_metric`. The rules then
follow the honest protocol of `tailtag evaluate`: calibration and thresholds are fitted on VAL only and applied
unchanged to TEST.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from tailtag.compare.features import Prepared
from tailtag.compare.grid import Rule
from tailtag.metrics import multilabel_metrics

METRICS = ("macro_f1", "micro_f1", "mAP", "tail_mAP", "label_accuracy", "subset_accuracy")


def train_probabilities(prepared: Prepared, values: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, dict]:
    """Train one model; returns (VAL (n_val, K), TEST (n_test, K) probabilities, training info).

    Args:
        prepared: the comparison's features, targets and split.
        values: TrainConfig mapping (base config plus the cell's loss, sampler, head and seed).
    """
    import scipy.sparse as sp

    from tailtag.config import make_config
    from tailtag.train.head import HeadData, train_head

    started = time.perf_counter()
    config = make_config(values)
    train_rows, val_rows, test_rows = (prepared.rows(name) for name in ("train", "val", "test"))
    data = HeadData(
        prepared.features[:, train_rows],
        sp.csr_matrix(prepared.targets[train_rows].astype(np.uint8)),
        prepared.features[:, val_rows],
        prepared.targets[val_rows],
    )
    # One process on the CPU (the grid's parallelism is across cells); the weight note is `train`'s to give.
    tail = prepared.tail if prepared.tail.any() else None
    trained = train_head(data, config, tail_mask=tail, warn_weights=False)
    val_p = trained.probabilities(data.val_features)
    test_p = trained.probabilities(prepared.features[:, test_rows])
    state = trained.state
    info = {"best_epoch": int(state["best_epoch"]), "epochs_run": int(state["epoch"])}
    info["train_seconds"] = round(time.perf_counter() - started, 3)
    return val_p, test_p, info


def score_rule(
    rule: Rule,
    val_targets: np.ndarray,
    val_p: np.ndarray,
    test_targets: np.ndarray,
    test_p: np.ndarray,
    tail: np.ndarray,
) -> dict[str, float | None]:
    """Fit `rule` on VAL, apply it to TEST; the METRICS on TEST (tail_mAP None when no label is tail).

    Args:
        val_targets, test_targets: (n, K) 0/1. val_p, test_p: (n, K) model probabilities.
        tail: (K,) bool tail labels (by training counts).
    """
    from tailtag.thresholds.decision import fit_decision

    decision = fit_decision(
        val_targets,
        val_p,
        strategy=rule.strategy,
        strategy_params=rule.params,
        calibration=rule.calibration,
        quiet=True,
    )
    probabilities = decision.probabilities(test_p)
    decisions = decision.predict(test_p).astype(np.float32)
    # Threshold metrics from the rule's 0/1 decisions (top_k included); ranking metrics from the probabilities.
    hard = multilabel_metrics(test_targets, decisions, 0.5, tail_mask=tail)
    ranked = multilabel_metrics(test_targets, probabilities, 0.5, tail_mask=tail)
    has_tail = bool((tail & (test_targets.sum(axis=0) > 0)).any())
    return {
        "macro_f1": hard["macro_f1"],
        "micro_f1": hard["micro_f1"],
        "mAP": ranked["mAP"],
        "tail_mAP": ranked["tail_mAP"] if has_tail else None,
        "label_accuracy": hard["label_accuracy"],
        "subset_accuracy": hard["subset_accuracy"],
    }


def run_training(prepared: Prepared, values: dict[str, Any], rules: list[Rule]) -> tuple[dict, dict[str, dict]]:
    """(training info, rule name -> TEST metrics) for one training of the grid.

    Warnings (e.g. a sampler that could not oversample as asked) repeat every epoch of every cell; they are
    collected, deduplicated and returned in `info["warnings"]` for the runner to print once.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        val_p, test_p, info = train_probabilities(prepared, values)
    info["warnings"] = sorted({str(w.message) for w in caught})[:5]
    val_t, test_t = prepared.targets[prepared.rows("val")], prepared.targets[prepared.rows("test")]
    return info, {rule.name: score_rule(rule, val_t, val_p, test_t, test_p, prepared.tail) for rule in rules}

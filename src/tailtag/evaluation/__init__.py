"""Honest evaluation of a run: fitted decisions, held-out gains, baselines, calibration and error analysis.

`evaluate_run` returns the summary that `tailtag evaluate --json` prints. Stable keys: macro_f1, micro_f1,
mAP, label_accuracy, hamming_loss, subset_accuracy, per_class (name -> precision, recall, f1, ap, roc_auc,
support, n_predicted, threshold, bucket, train_count, tp, fp, fn, tn), at_0_5, threshold_gain, baselines
(prior, all_negative), buckets (head / medium / tail), calibration, co_confusion, errors, warnings
(+ multiclass for single-label runs).
"""

from tailtag.evaluation.run_eval import SPLITS, Evaluation, default_fit, evaluate_run, fit_run_decision
from tailtag.evaluation.summary import EvaluationArrays, summarize

__all__ = [
    "SPLITS",
    "Evaluation",
    "EvaluationArrays",
    "default_fit",
    "evaluate_run",
    "fit_run_decision",
    "summarize",
]

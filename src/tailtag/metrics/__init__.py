"""Metrics that do not lie on imbalanced multi-label data (torch-free)."""

from tailtag.metrics.buckets import evaluate_multilabel, summary_metrics
from tailtag.metrics.multiclass import multiclass_metrics
from tailtag.metrics.multilabel import SELECTION_METRICS, multilabel_metrics, selection_score
from tailtag.metrics.per_class import averaged_metrics, per_class_metrics
from tailtag.metrics.ranking import one_error, ranking_metrics

__all__ = [
    "SELECTION_METRICS",
    "averaged_metrics",
    "evaluate_multilabel",
    "multiclass_metrics",
    "multilabel_metrics",
    "one_error",
    "per_class_metrics",
    "ranking_metrics",
    "selection_score",
    "summary_metrics",
]

"""Metrics that do not lie on imbalanced multi-label data (torch-free)."""

from tailtag.metrics.multilabel import SELECTION_METRICS, multilabel_metrics, selection_score

__all__ = ["SELECTION_METRICS", "multilabel_metrics", "selection_score"]

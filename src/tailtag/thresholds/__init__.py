"""Decision thresholds fitted on held-out data (torch-free): fixed, global, per-class F1 with shrinkage,
precision / recall targets, and top-k with min/max tags per image, saved as a versioned JSON artifact."""

from tailtag.thresholds._base import ARTIFACT_VERSION, Thresholds
from tailtag.thresholds._registry import (
    STRATEGIES,
    create_thresholds,
    get_thresholds,
    load_thresholds,
    save_thresholds,
    thresholds_from_dict,
)
from tailtag.thresholds.strategies import (
    FixedThreshold,
    GlobalThreshold,
    PerClassF1Threshold,
    PrecisionTargetThreshold,
    RecallTargetThreshold,
    fit_global,
)
from tailtag.thresholds.topk import TopKThreshold

__all__ = [
    "ARTIFACT_VERSION",
    "STRATEGIES",
    "FixedThreshold",
    "GlobalThreshold",
    "PerClassF1Threshold",
    "PrecisionTargetThreshold",
    "RecallTargetThreshold",
    "Thresholds",
    "TopKThreshold",
    "create_thresholds",
    "fit_global",
    "get_thresholds",
    "load_thresholds",
    "save_thresholds",
    "thresholds_from_dict",
]

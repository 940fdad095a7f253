"""The decision-rule policy: which calibration and threshold strategy a run gets when the user names none.

`tailtag train` and `tailtag evaluate` fit the rule through `fit_arguments`: multi-class runs decide by
arg-max; multi-label runs use "auto", the best of `CANDIDATES` by cross-fitted macro-F1 on the validation
split (`tailtag.evaluation.select`); naming a strategy without a calibration gets `DEFAULT_CALIBRATION`.
`fit_decision`'s own defaults (`FIT_STRATEGY`, for library calls on arrays) are not the CLI's policy.
"""

from __future__ import annotations

from tailtag.calibration import CALIBRATORS
from tailtag.thresholds._registry import STRATEGIES

AUTO = "auto"
"""The strategy name that selects among `CANDIDATES` by cross-fitting."""
DEFAULT_STRATEGY = AUTO
"""What `tailtag train` / `tailtag evaluate` use for a multi-label run when no --strategy is given."""
FIT_STRATEGY = "per_class_f1"
"""`fit_decision`'s default strategy (a single fit, no selection)."""
DEFAULT_CALIBRATION = "temperature"
"""The calibration of a named strategy when no --calibration is given."""

CANDIDATES: dict[str, dict] = {
    "0.5": {"strategy": "fixed", "strategy_params": {"value": 0.5}, "calibration": "none"},
    "temperature + 0.5": {"strategy": "fixed", "strategy_params": {"value": 0.5}, "calibration": "temperature"},
    "temperature + global": {"strategy": "global", "strategy_params": {}, "calibration": "temperature"},
    "temperature + per_class_f1": {"strategy": "per_class_f1", "strategy_params": {}, "calibration": "temperature"},
}
"""The rules "auto" chooses from, simplest first (a near tie goes to the earlier one)."""


def default_fit(task: str) -> dict:
    """fit_decision's keyword arguments when the user gives none: arg-max for multi-class runs, else "auto"
    (the best of `CANDIDATES` by cross-fitted macro-F1 on the validation split)."""
    if task == "multiclass":
        return {"strategy": "top_k", "strategy_params": {"min_tags": 1, "max_tags": 1}, "calibration": "none"}
    return {"strategy": AUTO, "strategy_params": {}, "calibration": None}


def fit_arguments(task: str, strategy: str | None, params: dict | None, calibration: str | None) -> dict:
    """The rule to fit from the user's choices (None: not given), `default_fit(task)` filling the rest."""
    fit = default_fit(task)
    if strategy is not None:
        fit.update(strategy=strategy, strategy_params=params or {})
    elif params is not None:
        fit["strategy_params"] = params
    if calibration is not None:
        fit["calibration"] = calibration
    elif fit["strategy"] != AUTO and fit["calibration"] is None:
        fit["calibration"] = DEFAULT_CALIBRATION
    return fit


def strategy_help() -> str:
    """The --strategy help text, from the registry."""
    return f"refit the decision rule: {AUTO} (default at training: the best by cross-fitting), " + ", ".join(STRATEGIES)


def calibration_help() -> str:
    """The --calibration help text, from the registry."""
    return "refit calibration: " + ", ".join(CALIBRATORS)

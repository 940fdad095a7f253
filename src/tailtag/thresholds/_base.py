"""The fitted-threshold interface shared by every strategy, and its versioned JSON form.

House style (scikit-learn): the constructor only stores its arguments, `fit` validates and sets the fitted
state ending in `_`, `predict` applies it. The artifact is
`{"version": 1, "strategy": name, "params": {...}, "thresholds": [K floats], "names": [K str] | null, ...}`;
`extra_` holds per-strategy fitted details (global value, positives per label, which labels fell back).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from tailtag.errors import TailtagError
from tailtag.metrics.arrays import as_scores, as_targets_scores

ARTIFACT_VERSION = 1


class Thresholds:
    """Base class: subclasses set `strategy`, store parameters in `__init__` and implement `_fit`."""

    strategy: ClassVar[str] = ""
    thresholds_: np.ndarray
    names_: list[str] | None
    extra_: dict[str, Any]

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, as stored (JSON-ready)."""
        return {key: value for key, value in vars(self).items() if not key.endswith("_")}

    def fit(self, targets: object, scores: object, names: list[str] | None = None) -> Thresholds:
        """Fit thresholds on held-out (validation) data.

        Args:
            targets: (N, K) 0/1 array or scipy sparse matrix.
            scores: (N, K) float scores (probabilities after any calibration).
            names: K label names to store in the artifact, so later use can check the label order.

        Returns:
            self, with `thresholds_` (K,) float64 set.
        """
        t, s = as_targets_scores(targets, scores, where=f"{type(self).__name__}.fit")
        if names is not None and len(names) != t.shape[1]:
            raise TailtagError(
                f"{type(self).__name__}.fit: got {len(names)} names for {t.shape[1]} label columns; fix: pass "
                "the LabelTable's names, in column order"
            )
        self.extra_ = {}
        self.thresholds_ = np.asarray(self._fit(t, s), dtype=np.float64)
        self.names_ = None if names is None else [str(n) for n in names]
        return self

    def _fit(self, targets: np.ndarray, scores: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(self, scores: object) -> np.ndarray:
        """(N, K) uint8 predictions: 1 where score >= the label's threshold."""
        s = as_scores(scores, n_labels=self._fitted().shape[0], where=f"{type(self).__name__}.predict")
        return (s >= self.thresholds_).astype(np.uint8)

    def _fitted(self) -> np.ndarray:
        if not hasattr(self, "thresholds_"):
            raise TailtagError(f"{type(self).__name__} is not fitted yet; fix: call fit(targets, scores) first")
        return self.thresholds_

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready versioned artifact (see the module docstring)."""
        thresholds = self._fitted()
        return {
            "version": ARTIFACT_VERSION,
            "strategy": self.strategy,
            "params": self.get_params(),
            "thresholds": [float(v) for v in thresholds],
            "names": self.names_,
            **{key: _jsonable(value) for key, value in self.extra_.items()},
        }

    @classmethod
    def _restore(cls, data: dict[str, Any], thresholds: np.ndarray) -> Thresholds:
        """Rebuild a fitted object from a checked artifact (used by `thresholds_from_dict`)."""
        obj = cls(**data.get("params", {}))
        obj.thresholds_ = thresholds
        obj.names_ = data.get("names")
        reserved = {"version", "strategy", "params", "thresholds", "names"}
        obj.extra_ = {key: value for key, value in data.items() if key not in reserved}
        return obj


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(float(value)) else float(value)
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    return value

"""Loud warnings for numbers that would otherwise mislead: a model that does not beat the trivial
predictors, label-wise accuracy that looks good only because of negatives, collapsed outputs, and labels
with too few evaluation positives to measure."""

from __future__ import annotations

import numpy as np

from tailtag.train.collapse import collapse_warnings

FEW_POSITIVES = 5


def _value(metrics: dict, key: str) -> float:
    value = metrics.get(key)
    return float("nan") if value is None else float(value)


def baseline_warnings(model: dict, baselines: dict[str, dict]) -> list[str]:
    """One warning per baseline that matches or beats the model on macro-F1 or mAP."""
    found = []
    for name, base in baselines.items():
        for key in ("macro_f1", "mAP"):
            mine, theirs = _value(model, key), _value(base, key)
            if np.isfinite(mine) and np.isfinite(theirs) and mine <= theirs + 1e-9:
                found.append(
                    f"the model does not beat the {name.replace('_', '-')} baseline on {key} ({mine:.4f} vs "
                    f"{theirs:.4f}): it has learned nothing usable for these labels"
                )
    return found


def accuracy_warning(model: dict) -> list[str]:
    """Label-wise accuracy >= 0.9 with macro-F1 < 0.5: the accuracy comes from true negatives."""
    accuracy, macro = _value(model, "label_accuracy"), _value(model, "macro_f1")
    if accuracy >= 0.9 and macro < 0.5:
        return [
            f"label-wise accuracy is {accuracy:.3f} but macro-F1 only {macro:.3f}: the accuracy is inflated by "
            "true negatives (most labels are absent from most images); judge the model by macro-F1 and mAP"
        ]
    return []


def data_warnings(names: list[str], support: np.ndarray, n_skipped: int) -> list[str]:
    """Labels with no or few positives in the evaluation data, and images that could not be scored."""
    found = []
    empty = [names[j] for j in np.flatnonzero(support == 0)]
    few = [names[j] for j in np.flatnonzero((support > 0) & (support < FEW_POSITIVES))]
    if empty:
        found.append(
            f"{len(empty)} label(s) have no positive in the evaluation data ({_shortlist(empty)}): their AP and "
            "recall are undefined and they are left out of macro averages"
        )
    if few:
        found.append(
            f"{len(few)} label(s) have fewer than {FEW_POSITIVES} positives in the evaluation data "
            f"({_shortlist(few)}): their per-class numbers are noise"
        )
    if n_skipped:
        found.append(f"{n_skipped} image(s) could not be read and are not part of these numbers (see skipped list)")
    return found


def all_warnings(
    model: dict, baselines: dict, probabilities: np.ndarray, names: list[str], support: np.ndarray, n_skipped: int
) -> list[str]:
    """Every check above plus the training collapse guard on the evaluation probabilities."""
    return [
        *collapse_warnings(probabilities),
        *baseline_warnings(model, baselines),
        *accuracy_warning(model),
        *data_warnings(names, support, n_skipped),
    ]


def _shortlist(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")

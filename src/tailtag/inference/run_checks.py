"""Checks of a run directory's model.json and labels.json before anything is built from them.

A run directory is input like any other file: it may be damaged (a partial copy, a hand edit) or written by
someone else. model.json names the timm architecture that `load_model` instantiates, so its backbone name
must be a plain name of timm's registry (`backbone_name_problem`): a source prefix such as "hf-hub:owner/repo"
or "local-dir:/folder" would make predict, evaluate or serve reach the model hub or read local folders.
labels.json must name one label per output of the head, or every column of a prediction would be mislabelled.
Each function raises `LabelFileError` naming the file, the key and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tailtag.errors import LabelFileError
from tailtag.rundir import FEATURES_KIND

_RESTORE = "restore the run directory from a copy you trust, or retrain"


def check_model_json(model: dict[str, Any], path: Path) -> None:
    """Refuse a model.json whose backbone or head entries are missing, mistyped or not a plain timm model.

    Args:
        model: the parsed model.json.
        path: model.json's path, for the message.

    Raises:
        LabelFileError: naming `path`, the key and what was found.
    """
    from tailtag.models import backbone_name_problem

    backbone, head = model.get("backbone"), model.get("head")
    if isinstance(backbone, dict) and backbone.get("kind") == FEATURES_KIND:
        _check_features_backbone(backbone, head, path)  # trained on features from a file: no network to build
    elif (
        not isinstance(backbone, dict)
        or not isinstance(backbone.get("preprocess"), dict)
        or not isinstance(backbone.get("weights_id"), str)
    ):
        raise LabelFileError(
            path,
            f"key 'backbone' must be an object with 'name', 'weights_id' and 'preprocess', got {backbone!r}"[:300],
            fix=_RESTORE,
        )
    problem = None if backbone.get("kind") == FEATURES_KIND else backbone_name_problem(backbone.get("name"))
    if problem is not None:
        raise LabelFileError(path, f"key 'backbone' -> 'name': {problem}", fix=_RESTORE)
    if not isinstance(head, dict):
        raise LabelFileError(path, f"key 'head' must be an object, got {head!r}"[:300], fix=_RESTORE)
    for key in ("in_features", "n_outputs"):
        value = head.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise LabelFileError(
                path, f"key 'head' -> {key!r} must be a positive whole number, got {value!r}", fix=_RESTORE
            )


def _check_features_backbone(backbone: dict[str, Any], head: Any, path: Path) -> None:
    dim = backbone.get("num_features")
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise LabelFileError(
            path, f"key 'backbone' -> 'num_features' must be a positive whole number, got {dim!r}", fix=_RESTORE
        )
    if isinstance(head, dict) and head.get("in_features") != dim:
        raise LabelFileError(
            path, f"key 'head' -> 'in_features' is {head.get('in_features')!r}, the features have {dim}", fix=_RESTORE
        )


def check_labels_fit_head(labels: dict[str, Any], model: dict[str, Any], path: Path) -> None:
    """Refuse a labels.json whose label names do not match the head of model.json (checked by `check_model_json`).

    One output per label for sigmoid and softmax heads; for label powerset, M outputs and an (M, K) 0/1
    `labelsets` matrix over the K labels.

    Args:
        labels: the parsed labels.json.
        model: the parsed model.json.
        path: labels.json's path, for the message.

    Raises:
        LabelFileError: naming `path`, what the head expects and what the file holds.
    """
    names = labels.get("names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise LabelFileError(path, f"key 'names' must be a list of label names, got {names!r}"[:300], fix=_RESTORE)
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise LabelFileError(path, f"key 'names' repeats {', '.join(map(repr, repeated[:5]))}", fix=_RESTORE)
    n_outputs = model["head"]["n_outputs"]
    if model.get("output") == "powerset_marginals":
        sets = model.get("labelsets")
        if (
            not isinstance(sets, list)
            or len(sets) != n_outputs
            or any(
                not isinstance(row, list) or len(row) != len(names) or any(v not in (0, 1) for v in row) for row in sets
            )
        ):
            raise LabelFileError(
                path,
                f"names {len(names)} labels, but model.json's 'labelsets' is not {n_outputs} rows (one per head "
                f"output) of {len(names)} zeros and ones (one per label)",
                fix=f"labels.json must come from the same run as the model; {_RESTORE}",
            )
    elif n_outputs != len(names):
        raise LabelFileError(
            path,
            f"names {len(names)} labels, but the model's head has {n_outputs} outputs "
            "(model.json 'head' -> 'n_outputs', and the weights in model.safetensors)",
            fix=f"labels.json must come from the same run as the model; {_RESTORE}",
        )

"""The run directory: the one place that names its files and says what `model.json` holds.

A run directory is written by `tailtag train` (`tailtag.train.output`), completed by `tailtag evaluate`
(the decision rule) and read by evaluation, prediction, export and the service (`tailtag.inference`):

run/
  config.yaml          the resolved config (every default written out)
  labels.json          label names in column order, task, training counts and buckets
  model.safetensors    backbone + head weights of the selected epoch (safe format, no pickle)
  model.json           how to rebuild the model (`ModelInfo`): backbone identity, head, loss outputs, views
  metrics.json         validation metrics of the selected epoch (+ per class) and the epoch history
  metrics.csv          one row per epoch;  curves.png: loss and metric curves;  tensorboard/
  split/               the train/val(/test) image lists this run used (what `evaluate` reads)
  checkpoint.pt        last epoch's full state, for resuming after an interruption
  data.json            the label file, read options and image folder (so `evaluate RUN` finds the data)
  thresholds.json      per-label decision thresholds fitted on the validation split (predict/export/serve)
  calibration.json     per-label probability calibration fitted on the validation split
  skipped_images.csv   images left out under --on-bad-image skip (with reasons)

This module is torch-free and imports nothing of tailtag but errors and fileio, so every layer can use it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tailtag.errors import LabelFileError

CONFIG = "config.yaml"
LABELS = "labels.json"
WEIGHTS = "model.safetensors"
MODEL = "model.json"
METRICS = "metrics.json"
METRICS_CSV = "metrics.csv"
CURVES = "curves.png"
TENSORBOARD = "tensorboard"
SPLIT = "split"
CHECKPOINT = "checkpoint.pt"
BEST_WEIGHTS = "best.safetensors"
DATA = "data.json"
THRESHOLDS = "thresholds.json"
CALIBRATION = "calibration.json"
SKIPPED = "skipped_images.csv"

OUTPUT_FILES = (CONFIG, LABELS, WEIGHTS, MODEL, METRICS)
"""What a finished `train` lists as written."""
FITTED_FILES = (THRESHOLDS, CALIBRATION, DATA)
"""Written next to the training outputs (the decision rule by `evaluate`, the data source by `train`)."""
REQUIRED = (CONFIG, MODEL, LABELS, WEIGHTS)
"""Without these a run cannot be loaded."""
TRAINING_STATE = (CHECKPOINT, BEST_WEIGHTS, METRICS_CSV, CURVES)
"""Working files of the training loop, removed with the outputs by `train --restart`."""
DECISION_FILES = (CALIBRATION, THRESHOLDS)
"""The decision rule: written as one unit (see `tailtag.thresholds.decision`)."""

OUTPUTS = ("sigmoid", "softmax", "powerset_marginals")
# model.json backbone "kind" of a run trained on features computed elsewhere (`tailtag train --features`)
FEATURES_KIND = "features"
"""How logits become per-label probabilities (model.json's "output")."""


@dataclass
class HeadInfo:
    """model.json's "head": what `tailtag.models.create_head` needs to rebuild the head."""

    name: str
    in_features: int
    n_outputs: int
    hidden: int = 512
    dropout: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "in_features": self.in_features,
            "n_outputs": self.n_outputs,
            "hidden": self.hidden,
            "dropout": self.dropout,
        }


@dataclass
class ModelInfo:
    """What model.json holds: how to rebuild a run's network and turn its logits into probabilities.

    Attributes:
        backbone: `Backbone.describe()`: name, weights_id, num_features, preprocess.
        head: the head's constructor arguments.
        loss: the training loss's registry name.
        output: one of OUTPUTS.
        views: the views scored per image (head mode).
        labelsets: (M, K) 0/1 label combinations of the powerset outputs, when output is powerset_marginals.
    """

    backbone: dict[str, Any]
    head: HeadInfo
    loss: str | None = None
    output: str = "sigmoid"
    views: list[str] = field(default_factory=lambda: ["center"])
    labelsets: list[list[int]] | None = None
    format_version: int = 1

    def to_dict(self) -> dict[str, Any]:
        data = {
            "format_version": self.format_version,
            "backbone": self.backbone,
            "head": self.head.to_dict(),
            "loss": self.loss,
            "output": self.output,
            "views": list(self.views),
        }
        if self.labelsets is not None:
            data["labelsets"] = self.labelsets
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | Path = MODEL) -> ModelInfo:
        """Parse model.json's object; LabelFileError naming `source` and the key otherwise."""
        for key in ("backbone", "head"):
            if key not in data:
                raise LabelFileError(source, f"key {key!r} is missing", fix="retrain with this tailtag version")
        output = data.get("output", "sigmoid")
        if output not in OUTPUTS:
            raise LabelFileError(source, f"key 'output' is {output!r}, expected one of {OUTPUTS}")
        if output == "powerset_marginals" and not isinstance(data.get("labelsets"), list):
            raise LabelFileError(source, "key 'labelsets' is missing (output is powerset_marginals)", fix="retrain")
        head = data["head"]
        try:
            head_info = HeadInfo(
                name=str(head["name"]),
                in_features=int(head["in_features"]),
                n_outputs=int(head["n_outputs"]),
                hidden=int(head.get("hidden", 512)),
                dropout=float(head.get("dropout", 0.0)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise LabelFileError(source, f"key 'head' is malformed ({exc!r})", fix="retrain") from exc
        return cls(
            backbone=data["backbone"],
            head=head_info,
            loss=data.get("loss"),
            output=output,
            views=list(data.get("views", ["center"])),
            labelsets=data.get("labelsets") if output == "powerset_marginals" else None,
            format_version=int(data.get("format_version", 1)),
        )


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from `path`; LabelFileError naming the file and the fix otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise LabelFileError(
            path, f"{what} not found", fix="point at a run directory written by tailtag train"
        ) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LabelFileError(path, f"{what} is not valid JSON ({exc})", fix="retrain, or restore the file") from exc
    if not isinstance(data, dict):
        raise LabelFileError(path, f"{what} must hold a JSON object, got {type(data).__name__}", fix="retrain")
    return data

"""`tailtag compare` CONFIG files: the grid they describe and its expansion into trainings and cells (reading and
checking a CONFIG file: `tailtag.compare.validate`).

A grid is losses x samplers x heads x decision rules x seeds. One *training* is a (loss, sampler, head,
seed) tuple; decision rules need no retraining, so every training is scored under each rule and a *cell*
is a (training, rule) pair. Every training and cell has a content hash of everything that determines its
result (data, split, base config, its own settings), which keys the resumable results file.

Example CONFIG::

    data: {labels: data/labels.csv, images: data/images, fractions: [0.6, 0.2, 0.2], split_seed: 0}
    train: {epochs: 30, top_blocks: 0}
    losses: [bce, {name: focal, params: {gamma: 2.0}}, asl]
    samplers: [none, class_aware]
    heads: [linear]
    thresholds: [fixed, {name: per_class_f1, calibration: temperature}]
    seeds: [0, 1, 2]
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

TOP_KEYS = ("data", "train", "losses", "samplers", "heads", "thresholds", "seeds", "rank_by", "baseline")
DATA_KEYS = ("labels", "images", "options", "split", "fractions", "split_seed")
RULE_KEYS = ("name", "strategy", "params", "calibration")
# Training defaults of a comparison: pooled features are cached once and each training takes about a second.
TRAIN_DEFAULTS: dict[str, Any] = {"mode": "head", "top_blocks": 0}


@dataclass(frozen=True)
class Choice:
    """One grid entry of a registry (a loss, sampler or head) with its parameters."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Short display name, e.g. `focal(gamma=2.0)`."""
        if not self.params:
            return self.name
        return f"{self.name}(" + ",".join(f"{k}={v}" for k, v in sorted(self.params.items())) + ")"


@dataclass(frozen=True)
class Rule:
    """A decision rule: calibration then a threshold strategy, fitted on VAL, applied on TEST."""

    name: str
    strategy: str
    params: dict[str, Any] = field(default_factory=dict)
    calibration: str = "none"


@dataclass(frozen=True)
class DataSpec:
    """Where the labelled images come from and how they are split into train / val / test."""

    labels: str
    images: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    split: str | None = None
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    split_seed: int = 0


@dataclass(frozen=True)
class Training:
    """One model to train: a (loss, sampler, head, seed) point of the grid."""

    loss: Choice
    sampler: Choice
    head: str
    seed: int

    @property
    def config_label(self) -> str:
        return f"{self.loss.label} | {self.sampler.label} | {self.head}"


@dataclass
class CompareConfig:
    """A parsed and validated CONFIG (see the module docstring)."""

    data: DataSpec
    train: dict[str, Any]
    losses: list[Choice]
    samplers: list[Choice]
    heads: list[str]
    rules: list[Rule]
    seeds: list[int]
    rank_by: str = "macro_f1"
    baseline: dict[str, str] = field(default_factory=dict)
    source: str = "config"

    def trainings(self) -> list[Training]:
        """Every (loss, sampler, head, seed), seeds innermost so that early results cover whole configs."""
        return [
            Training(loss, sampler, head, seed)
            for loss in self.losses
            for sampler in self.samplers
            for head in self.heads
            for seed in self.seeds
        ]

    def n_cells(self) -> int:
        return len(self.trainings()) * len(self.rules)

    def train_values(self, training: Training) -> dict[str, Any]:
        """The TrainConfig mapping of one training (base config + its grid point)."""
        return {
            **self.train,
            "loss": training.loss.name,
            "loss_params": dict(training.loss.params),
            "sampler": training.sampler.name,
            "sampler_params": dict(training.sampler.params),
            "head": training.head,
            "seed": training.seed,
        }


def digest(payload: Any) -> str:
    """16-hex content hash of a JSON-able payload (sorted keys, so key order never changes it)."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def training_key(config: CompareConfig, training: Training, data_id: str) -> str:
    return digest({"data": data_id, "train": config.train_values(training)})


def cell_key(train_key: str, rule: Rule) -> str:
    return digest({"training": train_key, "rule": dataclasses.asdict(rule)})

"""Training configuration: one typed dataclass, YAML files, `--set key=value` overrides.

Every field has a docstring-style comment; a bad value raises `OptionError` naming the key, the value and
what is allowed. The resolved config is written as `config.yaml` in every run directory.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from tailtag.errors import OptionError
from tailtag.fileio import write_text

Mode = Literal["head", "finetune"]
Optimizer = Literal["adamw", "sgd"]
Schedule = Literal["cosine", "plateau", "none"]
InputPipeline = Literal["auto", "cpu", "device"]
SelectMetric = Literal["macro_f1", "micro_f1", "mAP", "tail_mAP", "minority_recall", "label_accuracy"]


@dataclass
class TrainConfig:
    """What `tailtag train` does. Defaults are the fast CPU path: frozen Lite0 features + MLP head."""

    mode: Mode = "head"
    """head: frozen backbone, cached features, train only the head. finetune: train end to end."""
    backbone: str = "tf_efficientnet_lite0"
    """timm model name."""
    weights: str = "imagenet"
    """'imagenet' (offline for tf_efficientnet_lite0 and tf_efficientnet_lite2), a weights file
    (.safetensors / .pth), or 'none'."""
    views: list[str] = field(default_factory=lambda: ["center"])
    """head mode: views cached per image (center, flip, full); training draws one per sample and step,
    evaluation averages the probabilities of all views."""
    top_blocks: int = 1
    """head mode: the last N backbone stages (plus its final 1x1 conv) train on cached activations of the
    stage before them, with random horizontal flips of the cached maps; 0 caches pooled features and trains
    only the head. Needs an EfficientNet/MobileNet-style timm model (blocks + conv_head) when > 0."""
    top_lr_scale: float = 0.3
    """Learning rate of trained backbone stages relative to 'lr' (head mode top_blocks > 0)."""
    head: str = "linear"
    """Classifier head: linear, mlp, scaled (per-class learnable logit scale and bias)."""
    hidden: int = 512
    """Hidden units of the mlp head."""
    dropout: float = 0.25
    """Dropout before the last layer of the head."""
    loss: str = "bce"
    """Loss name (see `tailtag train --help`)."""
    loss_params: dict[str, Any] = field(default_factory=dict)
    """Extra parameters of the loss, e.g. {gamma: 2.0}."""
    sampler: str = "none"
    """Sampler name (see `tailtag train --help`)."""
    sampler_params: dict[str, Any] = field(default_factory=dict)
    """Extra parameters of the sampler."""
    optimizer: Optimizer = "adamw"
    """adamw or sgd (momentum 0.9, nesterov)."""
    lr: float = 1e-3
    """Peak learning rate."""
    weight_decay: float = 1e-4
    """Decoupled weight decay (AdamW) or L2 (SGD)."""
    epochs: int = 12
    """Maximum number of epochs."""
    batch_size: int = 64
    """Images per optimisation step (per process under DDP)."""
    schedule: Schedule = "cosine"
    """Learning-rate schedule after warmup: cosine, plateau (reduce on plateau of the selection metric), none."""
    warmup_epochs: int = 1
    """Linear warmup epochs."""
    plateau_factor: float = 0.5
    """plateau schedule: multiply the learning rate by this factor..."""
    plateau_patience: int = 2
    """...after this many validations without improvement."""
    ema_decay: float = 0.0
    """Exponential moving average of the weights (0 disables); the EMA weights are validated and saved."""
    ema_warmup: bool = True
    """Warm the EMA decay up as timm's ModelEmaV3: min(ema_decay, 1 - (1 + step) ** -2/3), so the validated
    weights follow the live ones in the first epochs instead of lagging behind the random head."""
    backbone_lr_scale: float = 1.0
    """finetune: learning rate of the pretrained backbone relative to 'lr' (the new head's); mode=finetune
    defaults to 0.2."""
    grad_clip: float = 5.0
    """Clip the gradient norm to this value (0 disables)."""
    select_metric: SelectMetric = "macro_f1"
    """Validation metric that picks the best checkpoint and drives early stopping."""
    early_stop: int = 10
    """Stop after this many epochs without improvement of select_metric (0 disables)."""
    threshold: float = 0.5
    """Decision threshold used for validation metrics during training."""
    seed: int = 0
    """Seed of everything random: initialisation, sampling, augmentation, the split when none is given."""
    val_fraction: float = 0.25
    """Held-out fraction when no --split folder is given (stratified, seeded)."""
    num_workers: int = 2
    """DataLoader worker processes for image decoding."""
    feature_batch_size: int = 64
    """Batch size for feature extraction."""
    cache_dir: str = "~/.cache/tailtag/features"
    """Where cached features live (keyed by model, weights, preprocessing and image content)."""
    finetune_blocks: int = -1
    """finetune: train only the last N backbone blocks (-1: all; 0: backbone frozen, head only)."""
    image_size: int = 0
    """Square network input side in pixels (0: the backbone's pretraining size, e.g. 224 for Lite0)."""
    augment: Literal["light", "strong"] = "light"
    """finetune: augmentation strength for ordinary samples."""
    minority_augment: bool = True
    """finetune: samples that carry a tail label get the strong augmentation."""
    amp: bool = True
    """Mixed precision on GPU (bf16 when supported); on CPU see cpu_amp."""
    cpu_amp: bool = False
    """finetune on CPU: bfloat16 autocast, for CPUs with native bf16 instructions (AVX512-BF16 or AMX; elsewhere
    bf16 is emulated and slower, so it is ignored with a note). Off by default: it changes the numbers of a run."""
    channels_last: bool = False
    """finetune: channels-last memory format (GPU, and CPU where oneDNN's convolutions prefer it)."""
    compile: bool = False
    """GPU: torch.compile the model, with static shapes (the last partial training batch is dropped,
    validation batches are padded) and a warm-up before the first timed epoch."""
    input_pipeline: InputPipeline = "auto"
    """finetune: where images are decoded and augmented. cpu: PIL in DataLoader workers. device: workers read
    the JPEG bytes, the training device decodes them in batches (torchvision.io.decode_jpeg) and resizes,
    crops, flips and colour-jitters batched tensors (other formats decode on the CPU). auto: device on CUDA,
    cpu otherwise."""
    sync_bn: bool = False
    """finetune under DDP on GPU: BatchNorm statistics over the global batch (SyncBatchNorm), for small per-GPU
    batches."""
    head_min: int = 101
    """Bucket thresholds: a label with >= head_min training positives is head..."""
    tail_max: int = 19
    """...with <= tail_max it is tail, otherwise medium."""


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}

FINETUNE_DEFAULTS: dict[str, Any] = {
    "lr": 1e-3,
    "backbone_lr_scale": 0.2,
    "weight_decay": 0.01,
    "warmup_epochs": 2,
    "epochs": 15,
    "ema_decay": 0.998,
    "ema_warmup": True,
}
"""Defaults that `mode: finetune` uses where the config does not set the key. The pretrained backbone learns
at 1/5 of the new head's rate (2e-4 vs 1e-3): with one rate of 1e-3 for both, the first H200 runs
(docs of 2026-12-04) swung by up to 0.12 macro-F1 between epochs; two warmup epochs keep the random head's
first large gradients out of the backbone; the warmed-up EMA smooths the validated weights without the
three-epoch lag of a fixed decay from the random head."""
_HINTS = typing.get_type_hints(TrainConfig)


def _coerce(key: str, value: Any) -> Any:
    """Convert a YAML/CLI value to the field's type, or raise OptionError naming the key."""
    hint = _HINTS[key]
    origin = typing.get_origin(hint)
    try:
        if origin is Literal:
            allowed = typing.get_args(hint)
            if value not in allowed:
                raise ValueError(f"must be one of {', '.join(map(str, allowed))}")
            return value
        if hint is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "yes", "1", "on"):
                return True
            if str(value).lower() in ("false", "no", "0", "off"):
                return False
            raise ValueError("must be true or false")
        if hint in (int, float):
            if isinstance(value, bool):
                raise ValueError(f"must be a number ({hint.__name__})")
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"must be a {'whole number' if hint is int else 'number'}") from None
            if hint is int and not number.is_integer():
                raise ValueError("must be a whole number")
            return hint(number)
        if hint is str:
            if not isinstance(value, (str, int, float)):
                raise ValueError("must be a string")
            return str(value)
        if origin is list:
            items = value if isinstance(value, list) else [v.strip() for v in str(value).split(",") if v.strip()]
            return [str(v) for v in items]
        if origin is dict:
            if not isinstance(value, dict):
                raise ValueError("must be a mapping, e.g. {gamma: 2.0}")
            return dict(value)
    except (TypeError, ValueError) as error:
        raise OptionError(f"config key '{key}': {error}; got {value!r}") from None
    return value


def _check_ranges(config: TrainConfig) -> None:
    problems = []
    positive = ("lr", "epochs", "batch_size", "hidden", "feature_batch_size")
    for key in positive:
        if getattr(config, key) <= 0:
            problems.append(f"'{key}' must be > 0, got {getattr(config, key)}")
    if config.top_blocks < 0:
        problems.append(f"'top_blocks' must be >= 0, got {config.top_blocks}")
    if config.backbone_lr_scale < 0:
        problems.append(f"'backbone_lr_scale' must be >= 0, got {config.backbone_lr_scale}")
    if config.top_lr_scale <= 0:
        problems.append(f"'top_lr_scale' must be > 0, got {config.top_lr_scale}")
    for key in ("dropout", "ema_decay"):
        if not 0 <= getattr(config, key) < 1:
            problems.append(f"'{key}' must be in [0, 1), got {getattr(config, key)}")
    if not 0 < config.val_fraction < 1:
        problems.append(f"'val_fraction' must be in (0, 1), got {config.val_fraction}")
    for key in ("weight_decay", "grad_clip", "early_stop", "warmup_epochs", "num_workers"):
        if getattr(config, key) < 0:
            problems.append(f"'{key}' must be >= 0, got {getattr(config, key)}")
    if config.finetune_blocks < -1:
        problems.append(
            f"'finetune_blocks' must be -1 (all), 0 (head only) or a number of blocks, got {config.finetune_blocks}"
        )
    if config.image_size != 0 and config.image_size < 8:
        problems.append(f"'image_size' must be 0 (the backbone's default) or >= 8 pixels, got {config.image_size}")
    if not config.views:
        problems.append("'views' must name at least one of center, flip, full")
    problems += _check_names(config)
    if problems:
        raise OptionError("bad config value" + ("s" if len(problems) > 1 else "") + ":\n  " + "\n  ".join(problems))


def _check_names(config: TrainConfig) -> list[str]:
    """Registry names and their parameters, checked before features are extracted: a typo costs seconds."""
    from tailtag.losses import LOSSES, loss_params  # the registries import torch; config files alone do not
    from tailtag.models import HEADS, backbone_name_problem
    from tailtag.sampling import SAMPLERS, sampler_parameters

    problems = []
    backbone = backbone_name_problem(config.backbone)
    if backbone is not None:
        problems.append(f"'backbone': {backbone}")
    for key, registry in (("loss", LOSSES), ("sampler", SAMPLERS), ("head", HEADS)):
        if getattr(config, key) not in registry:
            problems.append(f"'{key}' must be one of {', '.join(registry)}, got {getattr(config, key)!r}")
    # The trainer needs a scalar (mean) loss, and powerset's label sets come from the training split.
    accepted = {
        "loss_params": set(loss_params(config.loss)) - {"reduction", "labelsets"} if config.loss in LOSSES else None,
        "sampler_params": set(sampler_parameters(config.sampler)) if config.sampler in SAMPLERS else None,
    }
    for key, valid in accepted.items():
        unknown = sorted(set(getattr(config, key)) - valid) if valid is not None else []
        if unknown:
            owner = config.loss if key == "loss_params" else config.sampler
            problems.append(
                f"'{key}' of {key.split('_')[0]} {owner!r} has no parameter(s) {', '.join(unknown)}; "
                f"valid: {', '.join(sorted(valid)) or 'none'}"
            )
    return problems


def make_config(values: dict[str, Any] | None = None, *, source: str = "config") -> TrainConfig:
    """A validated TrainConfig from a mapping of overrides; unknown keys are errors that list the valid ones."""
    values = dict(values or {})
    if values.get("mode") == "finetune":
        values = {**FINETUNE_DEFAULTS, **values}
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise OptionError(f"{source}: unknown config key(s) {', '.join(unknown)}; valid keys: {', '.join(FIELDS)}")
    config = TrainConfig(**{key: _coerce(key, value) for key, value in values.items()})
    _check_ranges(config)
    return config


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`--set key=value` pairs -> mapping; values are parsed as YAML scalars/flow collections."""
    values = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"--set {pair!r}: expected key=value, e.g. --set loss=asl")
        try:
            values[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            values[key.strip()] = raw
    return values


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    *,
    allow_empty: bool = True,
    defaults: dict[str, Any] | None = None,
) -> TrainConfig:
    """Config file (YAML mapping) with `--set` overrides applied on top.

    `allow_empty=False` refuses a file without a mapping (zero bytes, comments only): a run directory's
    config.yaml always lists every key, so an empty one is damage, not "all defaults".
    `defaults`: a command's own defaults for keys that neither the file nor an override sets (e.g. the
    doctor's three views).
    """
    values: dict[str, Any] = dict(defaults or {})
    if path is not None:
        path = Path(path)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise OptionError(f"--config {path}: file not found") from None
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            raise OptionError(f"--config {path}: not valid YAML ({error})") from None
        if loaded is None and not allow_empty:
            raise OptionError(
                f"{path}: the run's config is empty (the file is damaged; a run's config.yaml lists every key)\n"
                "  fix: restore the file, or retrain the run"
            )
        if loaded is not None and not isinstance(loaded, dict):
            fix = "\n  fix: restore the file, or retrain"
            where, fix = (f"--config {path}", "") if allow_empty else (str(path), fix)
            raise OptionError(f"{where}: expected a mapping of key: value, got {type(loaded).__name__}{fix}")
        values.update(loaded or {})
    values.update(parse_overrides(overrides or []))
    return make_config(values, source=str(path) if path else "--set")


def save_config(config: TrainConfig, path: Path) -> None:
    """Write the resolved config as YAML, atomically."""
    write_text(path, yaml.safe_dump(dataclasses.asdict(config), sort_keys=False))

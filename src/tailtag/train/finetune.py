"""`finetune` mode: train backbone and head end to end on augmented images.

Same run directory as `head` mode (see `tailtag.rundir`), but every step decodes images in DataLoader
workers, augments them (minority-targeted, see `tailtag.train.augment`) and back-propagates through the
backbone, of which `finetune_blocks` can freeze all but the last N blocks (`tailtag.train.finetune_model`).
Validation averages the probabilities of each image and of its mirror image (flip test-time augmentation).

Device options: `amp` (GPU: bfloat16 autocast where supported, else float16 with loss scaling), `cpu_amp`
(CPU: bfloat16 autocast where the CPU has native bf16), `channels_last` (both), and, ignored with a note on
CPU, `compile` (torch.compile) and, under torchrun, `sync_bn`.

Example:
    tailtag train labels.csv --out runs/ft --set mode=finetune --set finetune_blocks=2 --set epochs=20
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn
from torch.utils.data import DataLoader

from tailtag import rundir
from tailtag.allocator import keep_freed_memory
from tailtag.config import TrainConfig
from tailtag.data import ImageDataset
from tailtag.data.device_pipeline import use_device_pipeline
from tailtag.errors import TailtagError
from tailtag.images import DEFAULT_MAX_PIXELS, apply_policy, check_images
from tailtag.labels import LabelTable
from tailtag.losses import TailLoss
from tailtag.models import (
    Backbone,
    PreprocessConfig,
    create_backbone,
    create_head,
    draft_size,
    eval_transform,
    train_draft_size,
    train_transform,
)
from tailtag.sampling import create_sampler
from tailtag.train import device_feed, distributed
from tailtag.train.augment import AugmentedImages, minority_labels, minority_rows
from tailtag.train.compile_static import PadToBatch, warm_up
from tailtag.train.finetune_data import DecodeProblems, EpochBatches, ImageBatches, ToDevice, make_loader, to_device_fn
from tailtag.train.finetune_model import (
    FinetuneModel,
    Precision,
    freeze_plan,
    gpu_notes,
    mixed_precision,
    prepare_for_device,
)
from tailtag.train.logs import RunLog
from tailtag.train.loop import fit
from tailtag.train.output import prepare_out, save_weights, write_run
from tailtag.train.setup import check_sampler_and_loss, label_buckets, make_loss, resolve_split, training_targets


def train_finetune(
    table: LabelTable,
    *,
    out: Path,
    config: TrainConfig,
    split_dir: Path | None = None,
    on_bad_image: str = "fail",
    max_pixels: int | None = None,
    restart: bool = False,
    data_source: dict | None = None,
) -> dict:
    """Fine-tune on `table`'s images and write the run directory `out`; returns the selected epoch's metrics.

    Arguments, outputs and resuming as `tailtag.train.run.train`. Images are header-checked first under
    `on_bad_image` (fail / skip); a file that still fails to decode during training or validation is left
    out of its batch, warned about once and appended to `out/skipped_images.csv`.
    """
    dist = distributed.setup()
    subsets = resolve_split(table, split_dir, config)
    check_sampler_and_loss(table, subsets, config)
    out = prepare_out(Path(out), config, dist, restart, data_source)
    log = RunLog(out, enabled=dist.is_main)
    if dist.device.type == "cpu":
        keep_freed_memory()  # before the DataLoader workers fork: see tailtag.allocator (1.4x per step)
    max_pixels = max_pixels or DEFAULT_MAX_PIXELS
    train_rows, val_rows = _usable_rows(table, subsets, on_bad_image, max_pixels, out, dist, log)
    train_table = table.subset(train_rows)
    backbone, head, loss, multiclass_loss = _networks(train_table, config)
    model = _build_model(backbone.model, head, config, dist, log)
    loss, precision = loss.to(dist.device), mixed_precision(config.amp, dist.device, cpu_amp=config.cpu_amp)
    problems = DecodeProblems(out / rundir.SKIPPED, log, rank=dist.rank)
    feed = _Feed(table, config, backbone.preprocess, max_pixels, dist, problems)
    batches = feed.training(train_rows, _strong_rows(train_table, config, log), multiclass_loss)
    validate = feed.validation(val_rows, loss, precision) if dist.is_main else None
    (height, width), steps = backbone.preprocess.input_size, batches.steps_per_epoch()
    log.info(
        f"finetune {backbone.name} at {width}x{height} px: {len(train_rows):,} training and {len(val_rows):,} "
        f"validation images, {steps} steps of {config.batch_size} per epoch, {precision.name} on {dist.device}, "
        f"{'device' if feed.on_device else 'cpu'} input pipeline"
    )
    if model.compiled:
        seconds = warm_up(
            model, batch_size=feed.local_batch, eval_batch_size=2 * config.batch_size, input_size=(height, width),
            device=dist.device, autocast=precision.autocast, channels_last=config.channels_last,
        )  # fmt: skip
        log.info(f"compile: train and eval graphs compiled in {seconds:.1f} s (before epoch 1)")
    counts, buckets, tail_mask = label_buckets(train_table, config)

    def save_best(module: nn.Module, metrics: dict) -> None:
        save_weights(module.state_dict(), out / rundir.BEST_WEIGHTS)

    state = fit(
        _wrap_ddp(model, dist), loss, batches=batches, steps_per_epoch=steps, validate=validate, config=config,
        run_dir=out, dist=dist, log=log, save_best=save_best, tail_mask=tail_mask,
        autocast=precision.autocast, scaler=precision.scaler, lr_scales={"backbone.": config.backbone_lr_scale},
    )  # fmt: skip
    if dist.is_main:
        model.load_state_dict(load_file(str(out / rundir.BEST_WEIGHTS)))
        write_run(
            out, table=table, config=config, backbone=backbone, head=head, loss=loss, state=state, subsets=subsets,
            train_rows=train_rows, val_rows=val_rows, counts=counts, buckets=buckets, log=log,
        )  # fmt: skip
    distributed.barrier(dist)
    distributed.teardown(dist)
    return state["best_metrics"]


def _networks(train_table: LabelTable, config: TrainConfig) -> tuple[Backbone, nn.Module, TailLoss, bool]:
    """(backbone, head, loss, whether the loss takes class indices), the head's output bias at the label prior."""
    torch.manual_seed(config.seed)  # random backbone weights ('weights: none') and the head start from the seed
    weights = None if config.weights == "none" else config.weights
    backbone = create_backbone(config.backbone, weights, input_size=config.image_size or None)
    loss, multiclass_loss, prior = make_loss(train_table.matrix, config)
    n_outputs = loss.n_outputs or train_table.n_labels
    head = create_head(
        config.head, backbone.num_features, n_outputs, hidden=config.hidden, dropout=config.dropout, prior=prior
    )
    return backbone, head, loss, multiclass_loss


def _usable_rows(table, subsets, on_bad_image, max_pixels, out, dist, log) -> tuple[np.ndarray, np.ndarray]:
    """Train and val rows whose image headers read, under the fail / skip policy (skipped ones listed in a CSV)."""
    rows = np.concatenate([subsets["train"], subsets["val"]])
    check = check_images(
        table.paths[rows], mode="header", find_duplicates=False, max_pixels=max_pixels, root=table.image_root
    )
    report = out / rundir.SKIPPED if on_bad_image == "skip" and dist.is_main else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        keep, summary = apply_policy(check, on_bad_image, report)
    for warning in caught:
        log.warn(str(warning.message))
    if not keep.all():
        log.warn(summary)
    n_train = len(subsets["train"])
    train_rows, val_rows = subsets["train"][keep[:n_train]], subsets["val"][keep[n_train:]]
    for name, kept in (("training", train_rows), ("validation", val_rows)):
        if len(kept) == 0:
            raise TailtagError(
                f"no usable {name} image is left after skipping unreadable files ({summary})\n"
                "  fix: repair the files listed in skipped_images.csv, or check --images"
            )
    return train_rows, val_rows


def _build_model(
    backbone: nn.Module, head: nn.Module, config: TrainConfig, dist: distributed.DistInfo, log: RunLog
) -> FinetuneModel:
    """TagModel with `finetune_blocks` applied, on the device, with the GPU options that apply."""
    model = FinetuneModel(backbone, head)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = freeze_plan(backbone, config.finetune_blocks)
    for warning in caught:
        log.warn(str(warning.message))
    model.freeze(plan)
    log.info(f"finetune_blocks={config.finetune_blocks}: {plan.describe(sum(1 for _ in backbone.parameters()))}")
    if plan.grouping != "blocks" and plan.frozen and plan.n_trainable_blocks:
        what = {"timm groups": "timm's coarse parameter groups (group_matcher), stem first"}.get(
            plan.grouping, "its top-level modules, in parameter order"
        )
        log.info(f"note: {type(backbone).__name__} has no `blocks` sequence; its blocks are {what}")
    for note in gpu_notes(
        amp=config.amp,
        cpu_amp=config.cpu_amp,
        compile_=config.compile,
        sync_bn=config.sync_bn,
        device=dist.device,
        world_size=dist.world_size,
    ):
        log.info(f"note: {note}")
    prepare_for_device(
        model,
        dist.device,
        channels_last=config.channels_last,
        compile_=config.compile,
        sync_bn=config.sync_bn and dist.enabled,
    )
    return model


def _wrap_ddp(model: nn.Module, dist: distributed.DistInfo) -> nn.Module:
    if not dist.enabled:
        return model
    device_ids = [dist.local_rank] if dist.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def _strong_rows(train_table: LabelTable, config: TrainConfig, log: RunLog) -> np.ndarray:
    """(N,) bool: training rows that get the strong pipeline under `minority_augment`."""
    none = np.zeros(train_table.n_images, dtype=bool)
    if not config.minority_augment:
        return none
    if config.augment == "strong":
        log.info("minority augmentation: every image already gets the strong pipeline (augment=strong)")
        return none
    counts = train_table.label_counts()
    minority, rule = minority_labels(counts, head_min=config.head_min, tail_max=config.tail_max)
    rows = minority_rows(train_table.matrix, minority)
    names = ", ".join(name for name, is_minority in zip(train_table.names, minority, strict=True) if is_minority)
    log.info(
        f"minority augmentation: {int(minority.sum())} of {len(minority)} labels are minority ({rule}): "
        f"{names or 'none'}; {int(rows.sum()):,} of {len(rows):,} training images get the strong pipeline"
    )
    return rows


@dataclass(frozen=True)
class _Feed:
    """What the training and validation image pipelines share."""

    table: LabelTable
    config: TrainConfig
    preprocess: PreprocessConfig
    max_pixels: int
    dist: distributed.DistInfo
    problems: DecodeProblems

    @property
    def to_device(self) -> ToDevice:
        return to_device_fn(self.dist.device, self.config.channels_last)

    @property
    def on_device(self) -> bool:
        """Decode and augment on the training device (`input_pipeline`)."""
        return use_device_pipeline(self.config.input_pipeline, self.dist.device)

    @property
    def compiled(self) -> bool:
        return self.config.compile and self.dist.device.type == "cuda"

    @property
    def local_batch(self) -> int:
        return max(1, self.config.batch_size // self.dist.world_size)

    @property
    def device_options(self) -> dict:
        return {"cfg": self.preprocess, "channels_last": self.config.channels_last,
                "max_pixels": self.max_pixels, "device": self.dist.device, "num_workers": self.config.num_workers,
                "seed": self.config.seed}  # fmt: skip

    @property
    def loader_options(self) -> dict:
        return {"num_workers": self.config.num_workers, "seed": self.config.seed, "device": self.dist.device}

    def paths(self, rows: np.ndarray) -> list[str]:
        return [str(self.table.resolve(path)) for path in self.table.paths[rows]]

    def training(self, rows: np.ndarray, strong: np.ndarray, multiclass_loss: bool) -> ImageBatches:
        """The loop's `batches(epoch)`: `strong` (N,) bool rows get the strong pipeline, the others `augment`."""
        config, cfg = self.config, self.preprocess
        strengths = (config.augment, "strong")
        sampler = create_sampler(config.sampler, self.table.matrix[rows], seed=config.seed, **config.sampler_params)
        order = EpochBatches(
            sampler, self.local_batch, config.seed, rank=self.dist.rank, world_size=self.dist.world_size,
            drop_last=self.compiled,
        )  # fmt: skip
        if self.on_device:
            choice = strong.astype(np.int64)
            loader = device_feed.training_batches(self.paths(rows), choice, strengths, order, **self.device_options)
        else:
            dataset = AugmentedImages(
                self.paths(rows),
                [train_transform(cfg, strength) for strength in strengths],
                strong.astype(np.int64),
                draft_sizes=[train_draft_size(cfg, strength) for strength in strengths],
                max_pixels=self.max_pixels,
            )
            loader = make_loader(dataset, **self.loader_options, batch_sampler=order)
        targets = torch.from_numpy(training_targets(self.table.matrix[rows], multiclass_loss))
        return ImageBatches(loader, order, targets, self.to_device, self.problems)

    def validation(self, rows: np.ndarray, loss: TailLoss, precision: Precision) -> Callable:
        """`validate(model) -> (targets (N, K), probabilities (N, K))` on the validation images (flip TTA)."""
        paths, cfg, batch_size = self.paths(rows), self.preprocess, self.config.batch_size
        if self.on_device:
            loader = device_feed.evaluation_batches(paths, batch_size=batch_size, **self.device_options)
        else:
            dataset = ImageDataset(paths, eval_transform(cfg), draft_size=draft_size(cfg), max_pixels=self.max_pixels)
            loader = make_loader(dataset, **self.loader_options, batch_size=batch_size, shuffle=False)
        targets = self.table.matrix[rows].toarray()
        to_device, problems, compiled = self.to_device, self.problems, self.compiled

        def validate(model: nn.Module) -> tuple[np.ndarray, np.ndarray]:
            net = PadToBatch(model, 2 * batch_size) if compiled else model  # static shapes: one eval graph
            probabilities, ok = predict_flip(net, loader, loss, len(paths), to_device, precision, problems)
            if not ok.any():
                raise TailtagError(
                    f"none of the {len(paths):,} validation images could be decoded; see {problems.report_path}"
                )
            return targets[ok], probabilities[ok]

        return validate


def predict_flip(
    model: nn.Module,
    loader: DataLoader,
    loss: TailLoss,
    n: int,
    to_device: ToDevice,
    precision: Precision,
    problems: DecodeProblems,
) -> tuple[np.ndarray, np.ndarray]:
    """((n, K) float32 probabilities averaged over each image and its mirror image, (n,) bool decoded).

    The image and its flip go through the network as one batch of 2B (eval mode: no batch statistics, so
    this equals two passes). Rows of images that could not be decoded stay 0 and are False in the mask.
    """
    probabilities, ok = None, np.zeros(n, dtype=bool)
    for batch in loader:
        problems.report(batch.problems, "validation")
        if batch.images is None:
            continue
        images = to_device(batch.images)
        with precision.autocast():
            logits = model(torch.cat([images, images.flip(-1)]))
        probs = loss.probabilities(logits.float()).view(2, len(images), -1).mean(0).cpu().numpy()
        if probabilities is None:
            probabilities = np.zeros((n, probs.shape[1]), dtype=np.float32)
        probabilities[batch.indices.numpy()] = probs
        ok[batch.indices.numpy()] = True
    return (probabilities if probabilities is not None else np.zeros((n, 0), np.float32)), ok

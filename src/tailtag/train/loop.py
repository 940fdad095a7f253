"""The training loop shared by `head` and `finetune` mode: setup -> fit -> validate, resumable.

A mode supplies three things: `batches(epoch)` yielding this process's (inputs, targets) for the epoch,
`validate(model)` returning (targets (N, K), probabilities (N, K)) on the validation set, and the model.
Every epoch is a pure function of (seed, epoch, state at its start): the sampler and the view/augmentation
RNG are reseeded per epoch, so a run killed mid-epoch and restarted from the last checkpoint ends with the
same metrics as an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tailtag import rundir
from tailtag.config import TrainConfig
from tailtag.errors import TailtagError
from tailtag.metrics import multilabel_metrics
from tailtag.train import distributed
from tailtag.train.checkpoint import load_checkpoint, save_atomic
from tailtag.train.collapse import collapse_warnings
from tailtag.train.logs import RunLog
from tailtag.train.optim import create_ema, create_optimizer, warmup_cosine

Batches = Callable[[int], Iterable[tuple[torch.Tensor, torch.Tensor]]]
Validate = Callable[[nn.Module], tuple[np.ndarray, np.ndarray]]
MAX_BAD_STEPS = 20
# Logits a step's forward + backward hold at once, at most: 2^21 float32 = 8 MiB a (B, K) tensor. The BCE of a
# step keeps about a dozen tensors of that size alive (logsigmoids, products, their gradients), and glibc keeps
# the freed ones as heap: a 256 x 10,000 step measured +310 MB private memory in one slice, +183 MB in two.
PASS_ELEMENTS = 1 << 21


def step_passes(batch_rows: int, max_pass_rows: int | None) -> int:
    """How many slices of rows a step of `batch_rows` runs its forward and backward in (1: the whole batch)."""
    return 1 if max_pass_rows is None else max(1, math.ceil(batch_rows / max_pass_rows))


def pass_rows_limit(n_outputs: int, loss_fn: nn.Module, model_has_batch_statistics: bool) -> int | None:
    """Rows of one forward + backward pass when a step is too large for `PASS_ELEMENTS`; None: no limit.

    A step in slices (gradient accumulation inside one optimizer step) gives the gradient of the whole batch
    only when each image's loss depends on its own row (`TailLoss.rows_independent`) and the model has no
    batch statistics (BatchNorm): otherwise the batch is never sliced.
    """
    if model_has_batch_statistics or not getattr(loss_fn, "rows_independent", False):
        return None
    return max(1, PASS_ELEMENTS // max(1, n_outputs))


def make_optimizer(
    model: nn.Module, config: TrainConfig, lr_scales: dict[str, float] | None = None
) -> torch.optim.Optimizer:
    """AdamW or SGD over the trainable parameters (`tailtag.train.optim`); `lr_scales` maps a parameter-name
    prefix to a factor of config.lr, kept as `lr_scale`. Finetune mode exempts biases and norm weights from decay."""
    return create_optimizer(
        model,
        name=config.optimizer,
        lr=config.lr,
        weight_decay=config.weight_decay,
        lr_scales=lr_scales,
        decay_1d=config.mode != "finetune",
    )


def lr_factor(step: int, steps_per_epoch: int, config: TrainConfig) -> float:
    """Linear warmup, then cosine to 0 (or constant for 'none'/'plateau', whose decay is applied per epoch)."""
    return warmup_cosine(
        step,
        warmup_steps=config.warmup_epochs * steps_per_epoch,
        total_steps=config.epochs * steps_per_epoch,
        cosine=config.schedule == "cosine",
    )


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch


def train_one_epoch(
    model,
    loss_fn,
    optimizer,
    batches,
    *,
    epoch,
    steps_per_epoch,
    config,
    ema,
    plateau_scale,
    log,
    autocast=nullcontext,
    scaler=None,
    max_pass_rows: int | None = None,
):
    """One pass over this process's batches; returns (mean loss, number of skipped non-finite steps).

    `autocast` wraps the forward pass (mixed precision); the loss is computed in float32 outside it. With a
    `scaler` (float16 autocast) the loss is scaled for backward and gradients unscaled before clipping.
    With `max_pass_rows` (see `pass_rows_limit`), a larger batch runs forward + backward in slices of rows
    and one optimizer step.
    """
    model.train()
    total, count, bad = 0.0, 0, 0
    step = epoch * steps_per_epoch
    for inputs, targets in log.progress(batches(epoch), total=steps_per_epoch, desc=f"epoch {epoch + 1}"):
        factor = plateau_scale * lr_factor(step, steps_per_epoch, config)
        for group in optimizer.param_groups:
            group["lr"] = config.lr * group.get("lr_scale", 1.0) * factor
        step += 1
        optimizer.zero_grad(set_to_none=True)
        passes = step_passes(len(inputs), max_pass_rows)
        loss = _forward_backward(model, loss_fn, inputs, targets, passes, autocast, scaler)
        if loss is None:
            bad += 1
            if bad > MAX_BAD_STEPS:
                raise TailtagError(
                    f"training diverged: {bad} non-finite losses in epoch {epoch + 1}; lower 'lr' "
                    f"(now {config.lr:g}), keep 'grad_clip' on, or turn 'amp' off"
                )
            optimizer.zero_grad(set_to_none=True)
            continue
        if scaler is not None:
            scaler.unscale_(optimizer)
        if config.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        if scaler is not None:
            scaler.step(optimizer)  # skips the step when the unscaled gradients hold inf/NaN
            scaler.update()
        else:
            optimizer.step()
        if ema is not None:
            ema.update_parameters(model)
        total += float(loss)
        count += 1
    return total / max(count, 1), bad


def _forward_backward(model, loss_fn, inputs, targets, passes: int, autocast, scaler) -> torch.Tensor | None:
    """The batch's loss (detached) with its gradients accumulated in the parameters; None when not finite.

    In `passes` slices of rows, each slice's mean loss weighted by its share of the rows: the batch's mean
    (the losses that allow it are row-independent, `pass_rows_limit`). Under DDP only the last slice's backward
    all-reduces the accumulated gradients (`no_sync`).
    """
    total = None
    slices = zip(inputs.tensor_split(passes), targets.tensor_split(passes), strict=True)
    for i, (part_inputs, part_targets) in enumerate(slices):
        last = i == passes - 1
        sync = nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync()
        with sync:
            with autocast():
                logits = model(part_inputs)
            loss = loss_fn(logits.float(), part_targets)
            if not torch.isfinite(loss):
                return None
            if passes > 1:
                loss = loss * (len(part_inputs) / len(inputs))
            (scaler.scale(loss) if scaler is not None else loss).backward()
        total = loss.detach() if total is None else total + loss.detach()
    return total


def evaluate(model: nn.Module, validate: Validate, config: TrainConfig, tail_mask: np.ndarray | None) -> tuple:
    model.eval()
    with torch.inference_mode():
        targets, probabilities = validate(model)
    metrics = multilabel_metrics(targets, probabilities, config.threshold, tail_mask=tail_mask)
    return metrics, collapse_warnings(probabilities)


def fit(
    model: nn.Module,
    loss_fn: nn.Module,
    *,
    batches: Batches,
    steps_per_epoch: int,
    validate: Validate,
    config: TrainConfig,
    run_dir: Path,
    dist: distributed.DistInfo,
    log: RunLog,
    save_best: Callable[[nn.Module, dict], None],
    tail_mask: np.ndarray | None = None,
    autocast: Callable[[], AbstractContextManager] = nullcontext,
    scaler: torch.amp.GradScaler | None = None,
    lr_scales: dict[str, float] | None = None,
    max_pass_rows: int | None = None,
) -> dict:
    """Train, validating after every epoch; returns the metrics of the selected (best) epoch.

    `model` may be wrapped in DistributedDataParallel; validation, checkpoints and `save_best` run on the
    main process with the unwrapped (or EMA) model, and the stop decision is broadcast to every process.
    `autocast` (a context factory for the forward pass) and `scaler` (float16 loss scaling, saved in the
    checkpoint) are the mixed-precision hooks of finetune mode; the defaults train in float32.
    `max_pass_rows`: run larger batches' forward + backward in slices of rows (`pass_rows_limit`).
    """
    raw_model = model.module if hasattr(model, "module") else model
    optimizer = make_optimizer(raw_model, config, lr_scales)
    ema = create_ema(raw_model, config.ema_decay, warmup=config.ema_warmup)
    state = {
        "epoch": 0,
        "best_score": -math.inf,
        "best_epoch": -1,
        "best_metrics": None,
        "history": [],
        "plateau_scale": 1.0,
        "since_best": 0,
        "since_plateau_best": 0,
        "plateau_best": -math.inf,
    }
    checkpoint_path = run_dir / rundir.CHECKPOINT
    resumed = load_checkpoint(checkpoint_path)
    if resumed is not None:
        if resumed["config"] != asdict(config):
            raise TailtagError(
                f"{checkpoint_path}: this run directory holds an unfinished run with a different config; "
                "rerun with the same options to resume it, or pass a new --out (or --restart to start over)"
            )
        raw_model.load_state_dict(resumed["model"])
        optimizer.load_state_dict(resumed["optimizer"])
        if ema is not None:
            ema.load_state_dict(resumed["ema"])
        if scaler is not None and "scaler" in resumed:
            scaler.load_state_dict(resumed["scaler"])
        state = resumed["state"]
        if state.get("finished"):
            log.info(f"{run_dir} already holds this finished run; rewriting its outputs")
            return state
        log.info(f"resuming from {checkpoint_path} after epoch {state['epoch']}")

    for epoch in range(state["epoch"], config.epochs):
        torch.manual_seed(_epoch_seed(config.seed, epoch))
        started = time.perf_counter()
        train_loss, bad_steps = train_one_epoch(
            model,
            loss_fn,
            optimizer,
            batches,
            epoch=epoch,
            steps_per_epoch=steps_per_epoch,
            config=config,
            ema=ema,
            plateau_scale=state["plateau_scale"],
            log=log,
            autocast=autocast,
            scaler=scaler,
            max_pass_rows=max_pass_rows,
        )
        stop = False
        if dist.is_main:
            scored = ema.module if ema is not None else raw_model
            metrics, warnings = evaluate(scored, validate, config, tail_mask)
            score = float(metrics[config.select_metric])
            row = {
                "epoch": epoch + 1,
                "train_loss": train_loss,
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": time.perf_counter() - started,
                "skipped_steps": bad_steps,
                **{k: v for k, v in metrics.items() if k != "per_class"},
            }
            state["history"].append(row)
            for warning in warnings:
                log.warn(f"epoch {epoch + 1}: {warning}")
            if score > state["best_score"]:
                state.update(best_score=score, best_epoch=epoch + 1, best_metrics=metrics, since_best=0)
                save_best(scored, metrics)
            else:
                state["since_best"] += 1
            _step_plateau(state, score, config)
            log.epoch(row, best=state["best_epoch"] == epoch + 1)
            stop = bool(config.early_stop and state["since_best"] >= config.early_stop)
            state["epoch"] = epoch + 1
            checkpoint = {
                "config": asdict(config),
                "model": raw_model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "state": state,
            }
            if ema is not None:
                checkpoint["ema"] = ema.state_dict()
            if scaler is not None:
                checkpoint["scaler"] = scaler.state_dict()
            save_atomic(checkpoint, checkpoint_path)
            log.write_history(state["history"])
        else:
            state["epoch"] = epoch + 1
        stop, state["plateau_scale"] = distributed.broadcast(dist, (stop, state["plateau_scale"]))
        if stop:
            if dist.is_main:
                log.info(f"early stop: no {config.select_metric} improvement for {config.early_stop} epochs")
            break
    state["finished"] = True
    if dist.is_main:
        checkpoint = load_checkpoint(checkpoint_path) or {}
        checkpoint["state"] = state
        save_atomic(checkpoint, checkpoint_path)
    return state


def _step_plateau(state: dict, score: float, config: TrainConfig) -> None:
    """Reduce-on-plateau of the selection metric, counted in validations after warmup."""
    if config.schedule != "plateau" or state["epoch"] < config.warmup_epochs:
        return
    if score > state["plateau_best"]:
        state["plateau_best"], state["since_plateau_best"] = score, 0
        return
    state["since_plateau_best"] += 1
    if state["since_plateau_best"] > config.plateau_patience:
        state["plateau_scale"] *= config.plateau_factor
        state["since_plateau_best"] = 0

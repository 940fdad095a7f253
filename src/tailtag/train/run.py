"""`tailtag train` as a library function: label table + split + config -> a complete run directory.

run/
  config.yaml          the resolved config (every default written out)
  labels.json          label names in column order, task, training counts and buckets
  model.safetensors    backbone + head weights of the selected epoch (safe format, no pickle)
  model.json           how to rebuild the model: backbone identity, head, loss outputs, views
  metrics.json         validation metrics of the selected epoch (+ per class) and the epoch history
  metrics.csv          one row per epoch;  curves.png: loss and metric curves;  tensorboard/
  split/               the train/val(/test) image lists this run used (what `evaluate` reads)
  checkpoint.pt        last epoch's full state, for resuming after an interruption
  data.json            the label file, read options and image folder (so `evaluate RUN` finds the data)
  thresholds.json      per-label decision thresholds fitted on the validation split (predict/export/serve)
  calibration.json     per-label probability calibration fitted on the validation split
  skipped_images.csv   images left out under --on-bad-image skip (with reasons)
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from tailtag.errors import OptionError, TailtagError
from tailtag.labels import LabelTable
from tailtag.losses import LOSSES, TailLoss, create_loss, labelsets_from_matrix
from tailtag.split import read_split, split_table, write_split
from tailtag.stats.imbalance import assign_buckets
from tailtag.train import distributed
from tailtag.train.checkpoint import load_checkpoint
from tailtag.train.config import TrainConfig, save_config
from tailtag.train.logs import RunLog
from tailtag.train.loop import fit

OUTPUT_FILES = ("config.yaml", "labels.json", "model.safetensors", "model.json", "metrics.json")
FITTED_FILES = ("thresholds.json", "calibration.json", "data.json")


def resolve_split(table: LabelTable, split_dir: Path | None, config: TrainConfig) -> dict[str, np.ndarray]:
    """Row indices of train/val (and test if present): from a split folder, or a stratified hold-out."""
    if split_dir is not None:
        subsets = read_split(split_dir, table)
        missing = [name for name in ("train", "val") if name not in subsets]
        if missing:
            raise OptionError(
                f"--split {split_dir}: no {' or '.join(m + '.txt' for m in missing)}; training needs train and val\n"
                f"  fix: tailtag split LABELS --out {split_dir} --fractions 0.75,0.25"
            )
        return subsets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate-label warnings are printed by `inspect`
        split = split_table(table, fractions=[1 - config.val_fraction, config.val_fraction], seed=config.seed)
    return split.indices()


def check_sampler_and_loss(table: LabelTable, subsets: dict[str, np.ndarray], config: TrainConfig) -> None:
    """Raise now, before anything is written, extracted or decoded, if the sampler or the powerset loss cannot
    work on the training split (e.g. a powerset_ros epoch too large for memory); their warnings wait for the
    real construction, so they print once."""
    from tailtag.sampling import create_sampler

    train_matrix = table.matrix[subsets["train"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        create_sampler(config.sampler, train_matrix, seed=config.seed, **config.sampler_params)
        if config.loss == "powerset":
            labelsets_from_matrix(train_matrix)


def _atomic_json(data: dict, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(path)


def _save_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(tmp))
    tmp.replace(path)


def _targets(table: LabelTable, rows: np.ndarray, multiclass_loss: bool) -> np.ndarray:
    dense = table.matrix[rows].toarray().astype(np.float32)
    return dense.argmax(axis=1).astype(np.int64) if multiclass_loss else dense


def train(
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
    """Train on `table` and write the run directory `out`; returns the selected epoch's metrics.

    Resumes automatically when `out` holds an unfinished run with the same config (`restart` starts over).
    `data_source` ({"labels": file, "images": folder, "options": ReadOptions fields}) is saved as data.json
    so that `tailtag evaluate RUN` can reread the same data.
    """
    from tailtag.models import create_backbone, create_head
    from tailtag.sampling import create_sampler
    from tailtag.train.head_mode import CachedFeatureBatches, predict_views, split_backbone

    if config.mode != "head":
        from tailtag.train.finetune import train_finetune

        return train_finetune(
            table,
            out=out,
            config=config,
            split_dir=split_dir,
            on_bad_image=on_bad_image,
            max_pixels=max_pixels,
            restart=restart,
            data_source=data_source,
        )
    dist = distributed.setup()
    subsets = resolve_split(table, split_dir, config)
    check_sampler_and_loss(table, subsets, config)
    out = _prepare_out(Path(out), config, dist, restart, data_source)
    log = RunLog(out, enabled=dist.is_main)
    torch.manual_seed(config.seed)  # random backbone weights ('weights: none') are part of the run: seed them
    backbone = create_backbone(
        config.backbone, None if config.weights == "none" else config.weights, input_size=config.image_size or None
    )
    cached, top, map_shape = split_backbone(backbone, config.top_blocks)
    train_rows, val_rows, train_x, val_x = _cached_features(
        cached, table, subsets, config, dist, on_bad_image, max_pixels, out, log
    )
    train_table = table.subset(train_rows)
    counts = train_table.label_counts()
    loss, multiclass_loss, prior = make_loss(train_table, config)
    warn_if_weights_cancel(config)
    loss = loss.to(dist.device)
    n_outputs = loss.n_outputs or table.n_labels
    torch.manual_seed(config.seed)
    head = create_head(
        config.head, backbone.num_features, n_outputs, hidden=config.hidden, dropout=config.dropout, prior=prior
    ).to(dist.device)
    sampler = create_sampler(config.sampler, train_table.matrix, seed=config.seed, **config.sampler_params)
    batches = CachedFeatureBatches(
        train_x, _targets(table, train_rows, multiclass_loss), sampler, config.batch_size, config.seed, dist, map_shape
    )
    val_targets = table.matrix[val_rows].toarray()
    trained = torch.nn.Sequential(top, head).to(dist.device) if top is not None else head
    lr_scales = {"0.": config.top_lr_scale} if top is not None else None
    model = torch.nn.parallel.DistributedDataParallel(trained) if dist.enabled else trained

    def validate(module: torch.nn.Module) -> tuple[np.ndarray, np.ndarray]:
        return val_targets, predict_views(module, loss.probabilities, val_x, dist.device, map_shape)

    def save_best(module: torch.nn.Module, metrics: dict) -> None:
        _save_weights(module.state_dict(), out / "best.safetensors")

    buckets = assign_buckets(counts, head_min=config.head_min, tail_max=config.tail_max)
    tail_mask = np.array([b == "tail" for b in buckets])
    state = fit(
        model,
        loss,
        batches=batches,
        steps_per_epoch=batches.steps_per_epoch(),
        validate=validate,
        config=config,
        run_dir=out,
        dist=dist,
        log=log,
        save_best=save_best,
        tail_mask=tail_mask if tail_mask.any() else None,
        lr_scales=lr_scales,
    )
    if dist.is_main:
        trained.load_state_dict(load_file(str(out / "best.safetensors")))
        _finalize(out, table, config, backbone, head, loss, state, subsets, train_rows, val_rows, counts, buckets, log)
    distributed.barrier(dist)
    distributed.teardown(dist)
    return state["best_metrics"]


def _prepare_out(
    out: Path, config: TrainConfig, dist: distributed.DistInfo, restart: bool, data_source: dict | None = None
) -> Path:
    if not restart:  # on every rank: a raise on rank 0 alone would leave the others waiting at the barrier
        _refuse_other_config(out, config)
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob(".checkpoint.pt.tmp*"):  # left by a process killed while saving (save_atomic)
            stale.unlink(missing_ok=True)
        if restart:  # nothing of the old run may survive next to the new config (a killed restart included)
            stale = ("checkpoint.pt", "best.safetensors", "metrics.csv", "curves.png", *OUTPUT_FILES, *FITTED_FILES)
            for name in stale:
                (out / name).unlink(missing_ok=True)
            shutil.rmtree(out / "tensorboard", ignore_errors=True)
        save_config(config, out / "config.yaml")
        if data_source is not None:
            _atomic_json(data_source, out / "data.json")
    distributed.barrier(dist)
    return out


def _refuse_other_config(out: Path, config: TrainConfig) -> None:
    """Stop before any work (and before config.yaml is rewritten) when `out` holds a run of another config."""
    checkpoint = load_checkpoint(out / "checkpoint.pt")
    new = asdict(config)
    if checkpoint is None or checkpoint["config"] == new:
        return
    old = checkpoint["config"]
    changed = [f"{key}: {old.get(key)!r} -> {new[key]!r}" for key in new if old.get(key) != new[key]]
    status = "a finished" if checkpoint["state"].get("finished") else "an unfinished"
    raise TailtagError(
        f"--out {out} holds {status} run with a different config ({'; '.join(changed)})\n"
        "  fix: rerun with the same options to resume it, choose a new --out, or add --restart to start over"
    )


def make_loss(train_table: LabelTable, config: TrainConfig) -> tuple[TailLoss, bool, np.ndarray | None]:
    """(loss, whether it takes class indices, (K,) prior for the head's output bias or None), from the
    training split's label counts."""

    counts, n_train = train_table.label_counts(), train_table.n_images
    info = LOSSES.get(config.loss)
    extra = {"labelsets": labelsets_from_matrix(train_table.matrix)[0]} if config.loss == "powerset" else {}
    loss = create_loss(config.loss, class_counts=counts, n_samples=n_train, **extra, **config.loss_params)
    multiclass_loss = info is not None and info.task == "multiclass"
    n_outputs = loss.n_outputs or train_table.n_labels
    prior = counts / n_train if (n_outputs == train_table.n_labels and not multiclass_loss) else None
    return loss, multiclass_loss, prior


def warn_if_weights_cancel(config: TrainConfig) -> None:
    """Warn when the loss's per-label weights cannot change the model: a constant per-label factor scales only the
    gradients of that label's own head parameters when nothing upstream trains (top_blocks 0, linear or scaled
    head), and Adam's per-parameter normalisation divides such a scale out (Kingma & Ba 2015, section 2.1:
    the step is invariant to rescaling the gradient)."""
    weighted = config.loss in ("cb_bce", "cb_focal") or (
        config.loss == "focal" and config.loss_params.get("class_weight", "none") != "none"
    )
    if weighted and config.optimizer == "adamw" and config.top_blocks == 0 and config.head in ("linear", "scaled"):
        warnings.warn(
            f"loss {config.loss}: its class weights multiply each label's whole loss, and with a {config.head} head "
            "on frozen pooled features (top_blocks 0) each label trains only its own parameters, whose AdamW steps "
            "do not depend on that factor: expect the same model as without the weights. To make them count: "
            "optimizer=sgd, head=mlp or top_blocks>=1; or weigh positives against negatives (bce_pos_weight, "
            "bce_weighted, asl, dbloss)",
            stacklevel=2,
        )


def _cached_features(backbone, table, subsets, config, dist, on_bad_image, max_pixels, out, log):
    """(train_rows, val_rows, train (V, n, D), val (V, m, D)) with unusable images left out (and reported)."""
    from tailtag.features import extract_features
    from tailtag.images import DEFAULT_MAX_PIXELS

    rows = np.concatenate([subsets["train"], subsets["val"]])
    paths = [table.resolve(p) for p in table.paths[rows]]
    kwargs = dict(
        views=tuple(config.views),
        batch_size=config.feature_batch_size,
        num_workers=config.num_workers,
        cache_dir=Path(config.cache_dir).expanduser(),
        progress=dist.is_main,
        max_pixels=max_pixels or DEFAULT_MAX_PIXELS,
        input_pipeline=config.input_pipeline,
        on_bad=on_bad_image,
        report_path=out / "skipped_images.csv" if on_bad_image == "skip" else None,
    )
    if dist.is_main:  # one process extracts; the others then read the warm cache
        features = extract_features(backbone, paths, **kwargs)
    distributed.barrier(dist)
    if not dist.is_main:
        features = extract_features(backbone, paths, **{**kwargs, "report_path": None})
    ok = ~np.isnan(features[0, :, 0])
    n_train = len(subsets["train"])
    return (
        subsets["train"][ok[:n_train]],
        subsets["val"][ok[n_train:]],
        features[:, :n_train][:, ok[:n_train]],
        features[:, n_train:][:, ok[n_train:]],
    )


def _finalize(out, table, config, backbone, head, loss, state, subsets, train_rows, val_rows, counts, buckets, log):
    """Write the run directory's artifacts from the selected epoch."""
    weights = {f"backbone.{k}": v for k, v in backbone.model.state_dict().items()}
    weights.update({f"head.{k}": v for k, v in head.state_dict().items()})
    _save_weights(weights, out / "model.safetensors")
    model_info = {
        "format_version": 1,
        "backbone": backbone.describe(),
        "head": {
            "name": config.head,
            "in_features": backbone.num_features,
            "n_outputs": loss.n_outputs or table.n_labels,
            "hidden": config.hidden,
            "dropout": config.dropout,
        },
        "loss": config.loss,
        "output": "powerset_marginals"
        if config.loss == "powerset"
        else ("softmax" if loss.task == "multiclass" else "sigmoid"),
        "views": list(config.views),
    }
    if config.loss == "powerset":
        model_info["labelsets"] = loss.labelsets.cpu().numpy().astype(int).tolist()
    _atomic_json(model_info, out / "model.json")
    _atomic_json(
        {
            "names": table.names,
            "task": table.task,
            "train_counts": counts.astype(int).tolist(),
            "buckets": dict(zip(table.names, buckets, strict=True)),
        },
        out / "labels.json",
    )
    best = dict(state["best_metrics"])
    per_class = best.pop("per_class")
    best["per_class"] = {name: {key: per_class[key][j] for key in per_class} for j, name in enumerate(table.names)}
    best.update(
        epoch=state["best_epoch"],
        select_metric=config.select_metric,
        threshold=config.threshold,
        n_train=len(train_rows),
        n_val=len(val_rows),
        history=state["history"],
    )
    _atomic_json(best, out / "metrics.json")
    subsets_used = {"train": train_rows, "val": val_rows, **({"test": subsets["test"]} if "test" in subsets else {})}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_split(out / "split", table, subsets_used, force=True)
    log.plot_curves(state["history"])
    log.close()
    log.info(
        f"selected epoch {state['best_epoch']}: "
        + "  ".join(f"{k} {best[k]:.4f}" for k in ("macro_f1", "micro_f1", "mAP", "label_accuracy", "subset_accuracy"))
    )
    log.info(f"wrote {out}: " + ", ".join(OUTPUT_FILES))

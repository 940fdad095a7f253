"""`tailtag train` as a library function: label table + split + config -> a complete run directory.

The run directory's layout is described (and its file names owned) by `tailtag.rundir`; `tailtag.train.output`
writes it for both modes. Head mode extracts (and caches) the frozen trunk's activations of the usable images,
then trains through `tailtag.train.head.train_head`; finetune mode is `tailtag.train.finetune`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tailtag import rundir
from tailtag.config import TrainConfig
from tailtag.labels import LabelTable
from tailtag.train import distributed
from tailtag.train.logs import RunLog
from tailtag.train.output import no_partial_run, prepare_out, write_run
from tailtag.train.setup import (  # noqa: F401  (re-exported: the names callers used from here)
    check_sampler_and_loss,
    label_buckets,
    make_loss,
    resolve_split,
    warn_if_weights_cancel,
)

OUTPUT_FILES = rundir.OUTPUT_FILES
FITTED_FILES = rundir.FITTED_FILES


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
    so that `tailtag evaluate RUN` can reread the same data. A training that fails before its first epoch
    (bad images under --on-bad-image fail, say) leaves no run directory behind.
    """
    # Under torchrun only rank 0 writes (and so undoes) files; RANK is set before the process group exists.
    with no_partial_run(Path(out), is_main=os.environ.get("RANK", "0") == "0"):
        return _train_mode(
            table,
            out=out,
            config=config,
            split_dir=split_dir,
            on_bad_image=on_bad_image,
            max_pixels=max_pixels,
            restart=restart,
            data_source=data_source,
        )


def _train_mode(table: LabelTable, *, out: Path, config: TrainConfig, **options) -> dict:
    if config.mode != "head":
        from tailtag.train.finetune import train_finetune

        return train_finetune(table, out=out, config=config, **options)
    return train_head_run(table, out=out, config=config, **options)


def train_head_run(
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
    """Head mode of `train`: extract the trunk's activations, `train_head` on them, write the run directory."""
    import torch

    from tailtag.models import create_backbone
    from tailtag.models.trunk import split_backbone
    from tailtag.train.head import HeadData, train_head

    dist = distributed.setup()
    subsets = resolve_split(table, split_dir, config)
    check_sampler_and_loss(table, subsets, config)
    out = prepare_out(Path(out), config, dist, restart, data_source)
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
    counts, buckets, tail_mask = label_buckets(train_table, config)
    data = HeadData(train_x, train_table.matrix, val_x, table.matrix[val_rows].toarray(), map_shape)
    trained = train_head(
        data,
        config,
        top=top,
        in_features=backbone.num_features,
        tail_mask=tail_mask,
        dist=dist,
        run_dir=out,
        log=log,
    )
    if dist.is_main:
        write_run(
            out, table=table, config=config, backbone=backbone, head=trained.head, loss=trained.loss,
            state=trained.state, subsets=subsets, train_rows=train_rows, val_rows=val_rows, counts=counts,
            buckets=buckets, log=log,
        )  # fmt: skip
    distributed.barrier(dist)
    distributed.teardown(dist)
    return trained.state["best_metrics"]


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
        report_path=out / rundir.SKIPPED if on_bad_image == "skip" and dist.is_main else None,
    )
    if dist.enabled:
        _extract_own_block(backbone, paths, kwargs, dist, log)
    # One process: extract (and cache) everything. Under torchrun: every block is cached now, so each process
    # reads all of them; rank 0 applies the bad-image policy and writes its report.
    features = extract_features(backbone, paths, device=dist.device, **kwargs)
    ok = ~np.isnan(features[0, :, 0])
    n_train = len(subsets["train"])
    return (
        subsets["train"][ok[:n_train]],
        subsets["val"][ok[n_train:]],
        features[:, :n_train][:, ok[:n_train]],
        features[:, n_train:][:, ok[n_train:]],
    )


def _extract_own_block(backbone, paths: list, kwargs: dict, dist: distributed.DistInfo, log: RunLog) -> None:
    """Sharded extraction under torchrun: rank r runs the backbone on the r-th contiguous block of the distinct
    images, on its own device, and writes its own shards into the shared cache (named `...-r{r}-...`; the
    store's temp-file-and-rename writes make concurrent writers safe). After the barrier every block is cached."""
    from tailtag.features import compute_features

    distinct = list(dict.fromkeys(paths))
    per_rank = -(-len(distinct) // dist.world_size)
    mine = distinct[dist.rank * per_rank : (dist.rank + 1) * per_rank]
    names = ("views", "batch_size", "num_workers", "cache_dir", "progress", "max_pixels", "input_pipeline")
    options = {key: kwargs[key] for key in names}
    result = compute_features(backbone, mine, device=dist.device, writer=f"r{dist.rank}", **options)
    counts = distributed.gather_counts(dist, result.n_computed)
    log.info(
        f"features: extracted by {dist.world_size} processes, each its own block of the {len(distinct):,} images "
        f"(image-views computed per rank: {', '.join(f'{n:,}' for n in counts)})"
    )
    distributed.barrier(dist)

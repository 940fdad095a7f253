"""`tailtag train LABELS --features FEATS`: head-mode training on embeddings computed elsewhere.

The features (CLIP, DINOv2, a previous model; formats in `tailtag.features.external`) stand where the frozen
trunk's pooled activations stand in head mode: the rows are matched to the label table by path, the split is
resolved on the label table as usual and then keeps the images that have features, and `train_head` trains
the configured head with every loss, sampler, threshold and calibration option. The training rows are streamed
from the files (`tailtag.train.feature_stream`), so a shard folder larger than memory trains; the validation
rows are read into memory, with their dense (m, K) targets: keep the hold-out small at millions of images.
No backbone runs, so `top_blocks` is 0 (a trainable top needs the trunk's feature maps) and `views` is the
one vector per image.

The run directory is the usual one; model.json's backbone entry is `{"kind": "features", ...}` with the
features' dimension and source, and data.json remembers the source so that `tailtag evaluate RUN` reads it
again (`--features` overrides it). Such a run scores feature vectors, not images: `predict --features`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from tailtag import rundir
from tailtag.allocator import release_freed_memory
from tailtag.config import TrainConfig
from tailtag.errors import OptionError
from tailtag.features.external import FeatureMatch, FeatureSet, match_paths, read_features
from tailtag.labels import LabelTable
from tailtag.train import distributed
from tailtag.train.logs import RunLog
from tailtag.train.output import no_partial_run, prepare_out, write_run
from tailtag.train.setup import check_sampler_and_loss, label_buckets, resolve_split


class FeaturesInput:
    """What stands in a run for the backbone when the features come from a file: nothing to run or save.

    Attributes:
        num_features: D, the features' dimension (the head's input).
        source: the features file or folder (absolute), as saved in model.json.
        model: an empty module (no backbone tensors in model.safetensors).
    """

    def __init__(self, features: FeatureSet):
        self.num_features = features.dim
        self.source = str(Path(features.source).resolve())
        self.model = torch.nn.Identity()
        # Which vectors the run was trained on: the paths and the shape, cheap to hash at any size.
        digest = hashlib.sha256()
        for start in range(0, len(features.paths), 65536):  # the digest of "\n".join(paths), a block at a time
            block = "\n".join(map(str, features.paths[start : start + 65536]))
            digest.update((("\n" if start else "") + block).encode("utf-8"))
        digest.update(f"{len(features)}x{features.dim}".encode())
        self.weights_id = f"features:{digest.hexdigest()[:16]}"

    def describe(self) -> dict:
        return {
            "kind": rundir.FEATURES_KIND,
            "name": rundir.FEATURES_KIND,
            "num_features": self.num_features,
            "source": self.source,
            "weights_id": self.weights_id,
        }


def features_config(config: TrainConfig) -> TrainConfig:
    """The config as trained on external features: head mode, no trainable top, one vector per image."""
    if config.mode != "head":
        raise OptionError(
            f"--features: mode {config.mode!r} fine-tunes a backbone on images, but features computed elsewhere "
            "have no backbone to tune\n  fix: leave mode at 'head' (the default) with --features"
        )
    return dataclasses.replace(config, top_blocks=0, views=["center"])


def train_from_features(
    table: LabelTable,
    *,
    out: Path,
    config: TrainConfig,
    features: str | Path,
    feature_paths: str | Path | None = None,
    split_dir: Path | None = None,
    restart: bool = False,
    data_source: dict | None = None,
) -> dict:
    """Train the head on precomputed features and write the run directory `out`; returns the selected metrics.

    Args:
        table: the labels; their paths are matched to the features' paths (`match_paths`).
        features: FEATS (.npz / .npy / .parquet / folder of shards); `feature_paths` is the paths file of a .npy.
        split_dir, restart, data_source: as for `tailtag.train.run.train`; data.json also records FEATS.
    """
    from tailtag.train.feature_stream import StreamedFeatures
    from tailtag.train.head import HeadData, train_head

    config = features_config(config)
    feature_set = read_features(features, paths_file=feature_paths)
    match = match_paths(table.paths, feature_set, label_source=table.source or "the label file")
    source = {"path": str(Path(features).resolve())}
    if feature_paths is not None:
        source["paths"] = str(Path(feature_paths).resolve())
    data_source = {**(data_source or {}), "features": source}
    with no_partial_run(Path(out), is_main=os.environ.get("RANK", "0") == "0"):
        dist = distributed.setup()
        subsets = _with_features(resolve_split(table, split_dir, config), match)
        check_sampler_and_loss(table, subsets, config)
        out = prepare_out(Path(out), config, dist, restart, data_source)
        log = RunLog(out, enabled=dist.is_main)
        log.info(match.summary(len(feature_set)))
        train_rows, val_rows = subsets["train"], subsets["val"]
        train_table = table.subset(train_rows)
        counts, buckets, tail_mask = label_buckets(train_table, config)
        # Training rows stay on disk and stream (StreamedFeatures); the validation rows, a small part, are read.
        data = HeadData(
            StreamedFeatures(feature_set, match.rows[train_rows]),
            train_table.matrix,
            feature_set.take(match.rows[val_rows])[None],
            table.matrix[val_rows].toarray(),
        )
        del train_table  # its copy of the training paths (16 MB at a million short paths): not used by training
        release_freed_memory()  # the set-up's freed temporaries (tens of MB at 1M rows): not held through training
        trained = train_head(
            data,
            config,
            top=None,
            in_features=feature_set.dim,
            tail_mask=tail_mask,
            dist=dist,
            run_dir=out,
            log=log,
        )
        release_freed_memory()  # the same before the decision-rule fit of write_run
        if dist.is_main:
            write_run(
                out, table=table, config=config, backbone=FeaturesInput(feature_set), head=trained.head,
                loss=trained.loss, state=trained.state, subsets=subsets, train_rows=train_rows, val_rows=val_rows,
                counts=counts, buckets=buckets, log=log,
            )  # fmt: skip
        distributed.barrier(dist)
        distributed.teardown(dist)
    return trained.state["best_metrics"]


def _with_features(subsets: dict[str, np.ndarray], match: FeatureMatch) -> dict[str, np.ndarray]:
    """Each part of the split without the images that have no feature row; train and val must keep some."""
    kept = {name: rows[match.rows[rows] >= 0] for name, rows in subsets.items()}
    empty = [name for name in ("train", "val") if len(kept[name]) == 0]
    if empty:
        raise OptionError(
            f"--features: no image of the {' and '.join(empty)} split has a feature row "
            f"({match.n_matched:,} of {len(match.rows):,} label rows matched)\n"
            "  fix: compute features for those images, or split only the images that have features"
        )
    return kept

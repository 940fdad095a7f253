"""Head-mode training as one reusable function: in-memory features and labels in, the trained model out.

`tailtag train` (after extracting and caching the frozen trunk's activations), `tailtag compare` (one call per
grid cell) and any caller holding precomputed embeddings (cross-fitted models, `--features`) all train through
`train_head`, so they produce the same model for the same config. It prints nothing and writes no run
directory; with `run_dir` it keeps the loop's checkpoint and the best epoch's weights there, so an
interrupted training resumes.

Example:
    >>> data = HeadData(train_x, train_labels, val_x, val_targets)  # (V, n, D), (n, K), (V, m, D), (m, K)
    >>> trained = train_head(data, make_config({"epochs": 5}))  # doctest: +SKIP
    >>> trained.probabilities(test_x).shape  # doctest: +SKIP
    (200, 12)
"""

from __future__ import annotations

import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from safetensors.torch import load_file
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm  # as finetune_model: every BatchNorm kind

from tailtag import rundir
from tailtag.allocator import release_freed_memory
from tailtag.config import TrainConfig
from tailtag.losses import TailLoss
from tailtag.models import create_head
from tailtag.models.trunk import predict_views
from tailtag.sampling import create_sampler
from tailtag.train import distributed
from tailtag.train.feature_stream import StreamedFeatureBatches, StreamedFeatures
from tailtag.train.head_mode import CachedFeatureBatches
from tailtag.train.logs import RunLog
from tailtag.train.loop import fit, pass_rows_limit
from tailtag.train.output import save_weights
from tailtag.train.setup import make_loss, sparse_targets, warn_if_weights_cancel


@dataclass
class HeadData:
    """What head-mode training reads.

    Attributes:
        train_features: (V, n, D) float32 features (or flattened trunk maps) of the n training images, V views,
            in memory; or a `StreamedFeatures` (one view, read from disk as training goes:
            `tailtag.train.feature_stream`).
        train_labels: (n, K) 0/1 labels of the same images (scipy sparse or dense).
        val_features: (V, m, D) float32 features of the m validation images.
        val_targets: (m, K) 0/1 validation labels (dense), what the per-epoch metrics compare against.
        map_shape: (C, H, W) of the cached maps when a trainable top runs on them, else None.
    """

    train_features: np.ndarray | StreamedFeatures
    train_labels: sp.spmatrix | np.ndarray
    val_features: np.ndarray
    val_targets: np.ndarray
    map_shape: tuple | None = None


@dataclass
class TrainedHead:
    """The result of `train_head`.

    Attributes:
        model: top + head (or the head alone), with the selected epoch's weights, on the training device.
        head: the head inside `model`; top: the trainable top stages or None.
        loss: the training loss (its `probabilities` maps logits to (N, K) per-label probabilities).
        state: the loop's state: best_epoch, best_metrics (with per_class), epoch, history.
    """

    model: nn.Module
    head: nn.Module
    top: nn.Module | None
    loss: TailLoss
    state: dict[str, Any]
    map_shape: tuple | None
    device: torch.device

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(N, K) probabilities averaged over the V views of (V, N, D) `features`, in eval mode."""
        self.model.eval()
        with torch.inference_mode():
            return predict_views(self.model, self.loss.probabilities, features, self.device, self.map_shape)


def train_head(
    data: HeadData,
    config: TrainConfig,
    *,
    top: nn.Module | None = None,
    in_features: int | None = None,
    tail_mask: np.ndarray | None = None,
    dist: distributed.DistInfo | None = None,
    run_dir: Path | None = None,
    log: RunLog | None = None,
    warn_weights: bool = True,
) -> TrainedHead:
    """Train `config`'s head (and `top`, when given) on cached features; the best epoch by `select_metric`.

    Args:
        data: features and labels (see `HeadData`).
        config: the training config (loss, head, sampler, optimizer, epochs, seed...).
        top: trainable top stages that map `data.map_shape` maps to pooled features (`split_backbone`).
        in_features: the head's input width: the top's pooled features (`Backbone.num_features`); default
            the feature width D of `data`. Required with `top`.
        tail_mask: (K,) bool tail labels, for the tail metrics of model selection; None when no label is tail.
        dist: the process group (default: one CPU process).
        run_dir: where the loop keeps checkpoint.pt and best.safetensors (resumable); None: a temporary
            folder, the best weights kept in memory.
        log: the run's log (default: silent).
        warn_weights: warn when the loss's class weights cannot change the model (`warn_if_weights_cancel`).
    """
    dist = dist or distributed.DistInfo()
    log = log or RunLog(None, enabled=False)
    train_labels = sp.csr_matrix(data.train_labels)
    loss, multiclass_loss, prior = make_loss(train_labels, config)
    if warn_weights:
        warn_if_weights_cancel(config)
    loss = loss.to(dist.device)
    n_outputs = loss.n_outputs or train_labels.shape[1]
    torch.manual_seed(config.seed)
    if top is not None and in_features is None:
        raise ValueError("train_head: pass in_features (the pooled width the top produces) with top")
    streamed = isinstance(data.train_features, StreamedFeatures)
    if in_features is None:
        in_features = data.train_features.features.dim if streamed else data.train_features.shape[2]
    head = create_head(
        config.head,
        in_features,
        n_outputs,
        hidden=config.hidden,
        dropout=config.dropout,
        prior=prior,
    ).to(dist.device)
    sampler = create_sampler(config.sampler, train_labels, seed=config.seed, **config.sampler_params)
    targets = sparse_targets(train_labels, multiclass_loss)  # (n, K) CSR: dense per batch only
    if streamed:
        batches = StreamedFeatureBatches(data.train_features, targets, sampler, config.batch_size, config.seed, dist)
    else:
        batches = CachedFeatureBatches(
            data.train_features, targets, sampler, config.batch_size, config.seed, dist, data.map_shape
        )
    trained = nn.Sequential(top, head).to(dist.device) if top is not None else head
    lr_scales = {"0.": config.top_lr_scale} if top is not None else None
    model = nn.parallel.DistributedDataParallel(trained) if dist.enabled else trained
    val_x, val_targets = data.val_features, data.val_targets

    def validate(module: nn.Module) -> tuple[np.ndarray, np.ndarray]:
        # The epoch's freed step temporaries stay in glibc's heap, between live blocks, and validation's (m, K)
        # arrays need not fit in their gaps: handed back first, they do not add to what the epoch holds.
        release_freed_memory()
        return val_targets, predict_views(module, loss.probabilities, val_x, dist.device, data.map_shape)

    best: dict[str, Any] = {}

    def save_best(module: nn.Module, metrics: dict) -> None:
        if run_dir is not None:
            save_weights(module.state_dict(), run_dir / rundir.BEST_WEIGHTS)
        else:
            best["state"] = {k: v.detach().clone() for k, v in module.state_dict().items()}

    # Without a run directory the loop's checkpoint goes to a temporary folder: nothing is kept.
    keep = tempfile.TemporaryDirectory(prefix="tailtag-head-") if run_dir is None else nullcontext(str(run_dir))
    with keep as folder:
        state = fit(
            model, loss, batches=batches, steps_per_epoch=batches.steps_per_epoch(), validate=validate,
            config=config, run_dir=Path(folder), dist=dist, log=log,
            save_best=save_best, tail_mask=tail_mask, lr_scales=lr_scales,
            max_pass_rows=pass_rows_limit(n_outputs, loss, _has_batch_statistics(trained)),
        )  # fmt: skip
    if run_dir is None:
        trained.load_state_dict(best["state"])
    elif dist.is_main:
        trained.load_state_dict(load_file(str(run_dir / rundir.BEST_WEIGHTS)))
    return TrainedHead(trained, head, top, loss, state, data.map_shape, dist.device)


def _has_batch_statistics(model: nn.Module) -> bool:
    """Whether a forward pass in training mode depends on the other images of the batch (BatchNorm)."""
    return any(isinstance(m, _BatchNorm) for m in model.modules())

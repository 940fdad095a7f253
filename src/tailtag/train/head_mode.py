"""`head` mode: the backbone trunk is frozen, its activations are extracted once (and cached on disk), and
only what sits on top trains, on CPU in seconds per epoch.

With `top_blocks = 0` the cache holds pooled features and only the head trains (a linear probe or an MLP).
With `top_blocks = N > 0` the cache holds the feature maps entering the last N stages, and those stages
(plus the final 1x1 conv) train together with the head: most of the benefit of fine-tuning for a small
fraction of its cost, since the frozen trunk runs once per image instead of once per epoch. Random
horizontal flips of the cached maps stand in for image flips.

Several views per image can be cached (centre crop, its flip, the whole image): training draws one view
per sample and step; validation averages the probabilities of all views (and of flipped maps).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from tailtag.errors import OptionError
from tailtag.models import Backbone
from tailtag.sampling.base import EpochSampler
from tailtag.train.distributed import DistInfo


class _Trunk(nn.Module):
    """Stem and the first `cut` stages of an EfficientNet/MobileNet-style timm model -> flattened maps."""

    def __init__(self, model: nn.Module, cut: int):
        super().__init__()
        self.stem = nn.Sequential(model.conv_stem, model.bn1)
        self.blocks = model.blocks[:cut]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(images)).flatten(1)


class _Top(nn.Module):
    """The remaining stages, final 1x1 conv and pooling: flattened maps (B, C*H*W) -> pooled (B, D)."""

    def __init__(self, model: nn.Module, cut: int, map_shape: tuple[int, int, int]):
        super().__init__()
        self.map_shape = map_shape
        self.blocks = model.blocks[cut:]
        self.conv_head, self.bn2, self.global_pool = model.conv_head, model.bn2, model.global_pool

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        maps = maps.reshape(-1, *self.map_shape)
        return self.global_pool(self.bn2(self.conv_head(self.blocks(maps))))


def split_backbone(backbone: Backbone, top_blocks: int) -> tuple[Backbone, nn.Module | None, tuple | None]:
    """(what to cache, the trainable top or None, the cached map shape (C, H, W) or None).

    The trunk shares its modules with `backbone.model`, so after training `backbone.model.state_dict()`
    holds the trained top stages: the saved model is the ordinary timm model.
    """
    if top_blocks == 0:
        return backbone, None, None
    model = backbone.model
    if not all(hasattr(model, name) for name in ("conv_stem", "bn1", "blocks", "conv_head", "bn2", "global_pool")):
        raise OptionError(
            f"config key 'top_blocks': {backbone.name} is not an EfficientNet/MobileNet-style timm model "
            "(conv_stem, blocks, conv_head); set top_blocks=0 (pooled features) or use mode=finetune"
        )
    cut = len(model.blocks) - top_blocks
    if cut < 1:
        raise OptionError(f"config key 'top_blocks': {backbone.name} has {len(model.blocks)} stages; got {top_blocks}")
    trunk = _Trunk(model, cut).eval()
    size = backbone.preprocess.input_size
    with torch.no_grad():
        probe = model.blocks[:cut](model.bn1(model.conv_stem(torch.zeros(1, 3, *size))))
    map_shape = tuple(probe.shape[1:])
    cached = Backbone(
        name=f"{backbone.name}:trunk{cut}",
        model=trunk,
        num_features=int(np.prod(map_shape)),
        preprocess=backbone.preprocess,
        weights_id=backbone.weights_id,
    )
    return cached, _Top(model, cut, map_shape), map_shape


class CachedFeatureBatches:
    """This process's batches of one epoch: (features (B, D), targets) drawn from cached views.

    Args:
        features: (V, N, D) float32 training features.
        targets: (N, K) float32 multi-hot, or (N,) int64 class indices for multi-class losses.
        sampler: epoch sampler over the N training rows.
        batch_size: global batch size; each of W processes takes batch_size / W per step.
        seed: view and flip choices are seeded by (seed, epoch) and sharded like the rows, so epochs replay
            exactly after a resume and do not depend on the number of processes.
    """

    def __init__(
        self,
        features: np.ndarray,
        targets: np.ndarray,
        sampler: EpochSampler,
        batch_size: int,
        seed: int,
        dist: DistInfo,
        map_shape: tuple | None = None,
    ):
        self.features = torch.from_numpy(np.ascontiguousarray(features))
        self.targets = torch.from_numpy(targets)
        self.sampler = sampler
        self.local_batch = max(1, batch_size // dist.world_size)
        self.seed = seed
        self.dist = dist
        self.map_shape = map_shape

    def _shard(self, epoch: int) -> np.ndarray:
        return self.sampler.shard(self.dist.rank, self.dist.world_size, epoch=epoch)

    def steps_per_epoch(self) -> int:
        return math.ceil(len(self._shard(0)) / self.local_batch)

    def __call__(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        rows = torch.from_numpy(np.array(self._shard(epoch), dtype=np.int64))  # copy: the shard is read-only
        # Views and flips are drawn for the whole (padded) epoch and sharded like the rows, so a sample gets
        # the same draw whatever the number of processes, as in finetune mode's EpochBatches.
        world, padded = self.dist.world_size, len(rows) * self.dist.world_size
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch * 101)
        views = torch.randint(self.features.shape[0], (padded,), generator=generator)[self.dist.rank :: world]
        flips = (torch.rand(padded, generator=generator) < 0.5)[self.dist.rank :: world]
        for start in range(0, len(rows), self.local_batch):
            batch = slice(start, start + self.local_batch)
            inputs = self.features[views[batch], rows[batch]]
            if self.map_shape is not None:  # flip the cached maps of about half the samples
                inputs = inputs.reshape(-1, *self.map_shape)
                inputs = torch.where(flips[batch, None, None, None], inputs.flip(-1), inputs)
            yield inputs.to(self.dist.device), self.targets[rows[batch]].to(self.dist.device)


def predict_views(
    model: nn.Module,
    probabilities: Callable[[torch.Tensor], torch.Tensor],
    features: np.ndarray,
    device: torch.device,
    map_shape: tuple | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """(N, K) probabilities averaged over the V cached views of (V, N, D) `features` (and map flips).

    `probabilities` maps logits to per-label probabilities, e.g. `TailLoss.probabilities`.
    """
    total, count = None, 0
    for view in features:
        for flip in (False, True) if map_shape is not None else (False,):
            parts = []
            for start in range(0, view.shape[0], batch_size):
                chunk = torch.from_numpy(np.ascontiguousarray(view[start : start + batch_size])).to(device)
                if flip:
                    chunk = chunk.reshape(-1, *map_shape).flip(-1)
                parts.append(probabilities(model(chunk)).float().cpu().numpy())
            probs = np.concatenate(parts)
            total, count = (probs if total is None else total + probs), count + 1
    return total / count

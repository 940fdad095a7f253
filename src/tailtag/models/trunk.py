"""A backbone cut into a frozen trunk (whose activations are cached) and a trainable top, and the scoring of
cached activations: what head-mode training trains on and what inference replays on new images.

With `top_blocks = 0` the trunk is the whole backbone (pooled features). With `top_blocks = N > 0` the trunk
ends before the last N stages of an EfficientNet/MobileNet-style timm model; those stages (plus the final
1x1 conv and pooling) form the top.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from tailtag.errors import OptionError
from tailtag.models.backbones import Backbone


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


def predict_views(
    model: nn.Module,
    probabilities: Callable[[torch.Tensor], torch.Tensor],
    features: np.ndarray,
    device: torch.device,
    map_shape: tuple | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """(N, K) probabilities averaged over the V cached views of (V, N, D) `features` (and map flips).

    `probabilities` maps logits to per-label probabilities, e.g. `TailLoss.probabilities`. The batches are
    written into one (N, K) float32 array and further views added to it in place: at 2,000 x 10,000 a list of
    batches, their concatenation and the average would hold three 80 MB copies at once.
    """
    total, count = None, 0
    for view in features:
        for flip in (False, True) if map_shape is not None else (False,):
            for start in range(0, view.shape[0], batch_size):
                chunk = torch.from_numpy(np.ascontiguousarray(view[start : start + batch_size])).to(device)
                if flip:
                    chunk = chunk.reshape(-1, *map_shape).flip(-1)
                probs = probabilities(model(chunk)).float().cpu().numpy()
                if total is None:
                    total = np.empty((view.shape[0], probs.shape[1]), dtype=probs.dtype)
                if count == 0:
                    total[start : start + len(probs)] = probs
                else:
                    total[start : start + len(probs)] += probs
            count += 1
    if total is None:
        raise ValueError("predict_views: no rows to score")
    if count > 1:
        total /= count
    return total

"""Static shapes for `compile`: one compiled graph per mode (train, eval), compiled before the timed epochs.

`torch.compile` specialises a graph on input shapes and on the module's training flag. Without care a
fine-tune compiles: the training step, the last partial training batch, the validation batch (2B images: each
image and its mirror), the last partial validation batch, and with `dynamic=None` a dynamic-shape
recompilation on the second new size; each inductor compile of an EfficientNet forward + backward takes tens
of seconds, which is how the first H200 run spent 150 s without finishing an epoch. Here:

- training drops the last partial batch (`EpochBatches(drop_last=True)`; the images come back in later
  epochs, as the sampler reshuffles);
- validation pads every batch to the full size with zero images and trims the outputs (`PadToBatch`); in eval
  mode BatchNorm uses running statistics, so padding does not change the real rows' outputs;
- `warm_up` runs one training step's forward + backward and one validation forward on a throwaway copy of
  the model before epoch 1, so compile time is logged on its own and not inside the first epoch's time. The
  compiled function guards on the module's structure, not its identity (torch >= 2.5 inlines built-in
  modules), so the copy, the live model and the EMA copy share the graphs.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch
from torch import nn


class PadToBatch:
    """Callable around `model`: pads (n, ...) inputs with zeros to (size, ...) rows, returns the first n outputs.

    Args:
        model: images (B, 3, H, W) -> logits (B, K), in eval mode (padding rows must not affect real rows).
        size: the static batch size; a larger input passes through unpadded.
    """

    def __init__(self, model: nn.Module, size: int):
        self.model, self.size = model, int(size)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        n = images.shape[0]
        if n >= self.size:
            return self.model(images)
        pad = images.new_zeros((self.size - n, *images.shape[1:]))
        padded = torch.cat([images, pad])
        if images.is_contiguous(memory_format=torch.channels_last) and images.ndim == 4:
            padded = padded.contiguous(memory_format=torch.channels_last)
        return self.model(padded)[:n]

    def __getattr__(self, name: str):
        return getattr(self.model, name)


def warm_up(
    model: nn.Module,
    *,
    batch_size: int,
    eval_batch_size: int,
    input_size: tuple[int, int],
    device: torch.device,
    autocast: Callable[[], AbstractContextManager] = nullcontext,
    channels_last: bool = False,
) -> float:
    """Compile the training and evaluation graphs of `model` on a deep copy; returns the seconds it took.

    Args:
        model: the (compiled-forward) model; left untouched (BatchNorm statistics included).
        batch_size: training batch (B) of the static training graph.
        eval_batch_size: padded validation batch (2B with flip test-time augmentation).
        input_size: (H, W) of the network input.
        device: where the model lives.
        autocast: the forward's mixed-precision context, as in training (autocast state is part of the guards).
        channels_last: the memory format the feed delivers.
    """
    started = time.perf_counter()
    copy_ = copy.deepcopy(model)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    images = torch.zeros((batch_size, 3, *input_size), device=device).contiguous(memory_format=fmt)
    copy_.train()
    with autocast():
        logits = copy_(images)
    logits.float().sum().backward()
    copy_.eval()
    with torch.inference_mode(), autocast():
        copy_(torch.zeros((eval_batch_size, 3, *input_size), device=device).contiguous(memory_format=fmt))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started

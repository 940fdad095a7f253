"""finetune mode's loaders over the device input pipeline (`tailtag.data.device_pipeline`), chosen by
`input_pipeline` (auto: on CUDA). Workers only read files; the training device decodes and augments."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tailtag.data.device_pipeline import DeviceBatches, DeviceTransform, EncodedImages, collate_encoded
from tailtag.models import PreprocessConfig
from tailtag.train.finetune_data import EpochBatches, make_loader


def training_batches(
    paths: Sequence[str],
    choice: np.ndarray,
    strengths: Sequence[str],
    order: EpochBatches,
    *,
    cfg: PreprocessConfig,
    device: torch.device,
    channels_last: bool,
    max_pixels: int,
    num_workers: int,
    seed: int,
) -> DeviceBatches:
    """Training batches of `order`'s draws; row i gets `strengths[choice[i]]` augmentation (minority policy)."""
    dataset = EncodedImages(paths, choice=choice, max_pixels=max_pixels)
    loader = make_loader(
        dataset, num_workers=num_workers, seed=seed, device=device, collate_fn=collate_encoded, batch_sampler=order
    )
    transform = DeviceTransform(
        cfg, device, train=True, strengths=strengths, channels_last=channels_last, max_pixels=max_pixels
    )
    return DeviceBatches(loader, transform)


def evaluation_batches(
    paths: Sequence[str],
    *,
    batch_size: int,
    cfg: PreprocessConfig,
    device: torch.device,
    channels_last: bool,
    max_pixels: int,
    num_workers: int,
    seed: int,
) -> DeviceBatches:
    """Batches of `paths` in order, resized and centre-cropped as `tailtag.models.eval_transform`."""
    dataset = EncodedImages(paths, max_pixels=max_pixels)
    loader = make_loader(
        dataset,
        num_workers=num_workers,
        seed=seed,
        device=device,
        collate_fn=collate_encoded,
        batch_size=batch_size,
        shuffle=False,
    )
    transform = DeviceTransform(cfg, device, channels_last=channels_last, max_pixels=max_pixels)
    return DeviceBatches(loader, transform)

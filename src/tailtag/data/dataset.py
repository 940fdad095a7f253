"""`ImageDataset`: image files (+ optional targets) for a torch DataLoader, with bad images flagged, not fatal.

A file that cannot be decoded must neither kill a DataLoader worker (an exception there aborts the whole
epoch with a traceback that hides which file it was) nor vanish silently. So `__getitem__` catches
`BadImageError` and returns a sample with `image=None` and the reason; `collate_images` stacks the good
samples and hands the bad ones over as `ImageProblem`s in `ImageBatch.problems`. The caller applies the
fail/skip policy (`tailtag.images.apply_policy`) and reports every skipped file.

Decoding goes through `tailtag.images.load_image` (EXIF rotation, CMYK/16-bit/alpha handled, pixel limit);
`draft_size` lets large JPEGs decode at 1/2, 1/4 or 1/8 scale, which keeps the workers ahead of the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from tailtag.errors import BadImageError
from tailtag.images import DEFAULT_MAX_PIXELS, ImageProblem, load_image


class ImageBatch(NamedTuple):
    """A collated batch: the decodable samples stacked, the others listed.

    Attributes:
        indices: (B,) int64 dataset indices of the decoded samples, in batch order.
        images: (B, ...) float32 transformed images (e.g. (B, 3, H, W), or (B, V, 3, H, W) for multi-view
            transforms); None when no sample of the batch could be decoded.
        targets: (B, K) float32 targets of those samples, or None when the dataset has no targets.
        problems: the samples that could not be decoded, as (path, reason).
    """

    indices: torch.Tensor
    images: torch.Tensor | None
    targets: torch.Tensor | None
    problems: list[ImageProblem]


class ImageDataset(Dataset):
    """Decodes `paths[i]`, applies `transform`, and returns a sample dict (see `__getitem__`).

    Args:
        paths: (N,) image files.
        transform: PIL RGB image -> tensor (e.g. `tailtag.models.eval_transform(cfg)`).
        targets: (N, K) float32 targets (multi-hot, or soft), or None for unlabelled images.
        draft_size: (width, height) the transform needs at least; JPEGs decode at the smallest DCT scale
            keeping both sides >= it (`tailtag.models.draft_size(cfg, views)`). None decodes at full size.
        max_pixels: images whose header declares more pixels are reported as bad (`--max-pixels`).

    Use with `DataLoader(dataset, collate_fn=collate_images, ...)`; the default collate cannot stack the
    `None` image of a bad sample.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        transform: Callable[[Any], torch.Tensor],
        *,
        targets: np.ndarray | None = None,
        draft_size: tuple[int, int] | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ):
        self.paths = [str(path) for path in paths]  # as given, so problems name the path the caller knows
        self.transform = transform
        self.targets = None
        if targets is not None:
            targets = np.asarray(targets, dtype=np.float32)
            if targets.ndim != 2 or targets.shape[0] != len(self.paths):
                raise ValueError(f"targets must be (N, K) with N={len(self.paths)} paths; got shape {targets.shape}")
            self.targets = torch.from_numpy(np.ascontiguousarray(targets))
        self.draft_size = tuple(draft_size) if draft_size is not None else None
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """{"index": int, "image": tensor or None, "target": (K,) float32 or None, "error": reason or None}."""
        path = self.paths[index]
        target = self.targets[index] if self.targets is not None else None
        try:
            image = load_image(path, max_pixels=self.max_pixels, draft_size=self.draft_size)
        except BadImageError as error:
            return {"index": index, "image": None, "target": target, "error": error.reason, "path": path}
        return {"index": index, "image": self.transform(image), "target": target, "error": None, "path": path}


def collate_images(samples: list[dict[str, Any]]) -> ImageBatch:
    """DataLoader `collate_fn` for `ImageDataset`: stack decoded samples, list the bad ones."""
    good = [sample for sample in samples if sample["error"] is None]
    problems = [ImageProblem(sample["path"], sample["error"]) for sample in samples if sample["error"] is not None]
    indices = torch.tensor([sample["index"] for sample in good], dtype=torch.int64)
    images = torch.stack([sample["image"] for sample in good]) if good else None
    has_targets = bool(samples) and samples[0]["target"] is not None
    targets = torch.stack([sample["target"] for sample in good]) if has_targets and good else None
    return ImageBatch(indices=indices, images=images, targets=targets, problems=problems)

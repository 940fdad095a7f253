"""Image preprocessing: the backbone's `PreprocessConfig` and the torchvision.transforms.v2 pipelines built from it.

Every pipeline takes an RGB `PIL.Image` (as `tailtag.images.load_image` returns) and gives a normalized
(3, H, W) float32 tensor. Resizing and cropping run on the PIL image, before the tensor conversion,
because Pillow's SIMD resampling is faster than tensor resizing on one CPU core (the DataLoader workers).

Pipelines:
    eval: resize the shorter side to input/crop_pct, centre crop (the timm / "ResNet" evaluation protocol).
    views for feature caching: "center" (eval), "flip" (eval, mirrored), "full" (the whole image squashed
        to the input size, so objects near the border that the centre crop cuts away are seen).
    train "light": RandomResizedCrop + horizontal flip + mild colour jitter.
    train "strong": wider crops + RandAugment (Cubuk et al., "RandAugment: Practical automated data
        augmentation with a reduced search space", CVPR-W 2020, arXiv:1909.13719) + random erasing (Zhong
        et al., "Random Erasing Data Augmentation", AAAI 2020, arXiv:1708.04896), for the minority-targeted
        policy: a tail image that the sampler repeats many times per epoch should look different each time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch

from tailtag.errors import OptionError

# torchvision (~1 s and ~100 MB with the torch._dynamo it imports) is imported by the functions that build
# pipelines: `PreprocessConfig` is read with every run's model.json, also for heads trained on embeddings.
if TYPE_CHECKING:
    from torchvision.transforms import InterpolationMode, v2

View = Literal["center", "flip", "full"]
VIEWS: tuple[str, ...] = ("center", "flip", "full")
Strength = Literal["light", "strong"]
STRENGTHS: tuple[str, ...] = ("light", "strong")
Interpolation = Literal["nearest", "bilinear", "bicubic", "lanczos"]
INTERPOLATIONS: tuple[str, ...] = ("nearest", "bilinear", "bicubic", "lanczos")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Smallest crop area (fraction of the image) of RandomResizedCrop per strength. ImageNet training uses 0.08;
# multi-label scenes are larger: a crop that small often cuts out a labelled object and so teaches a wrong label.
_MIN_CROP_AREA = {"light": 0.35, "strong": 0.2}


@dataclass(frozen=True)
class PreprocessConfig:
    """How images are prepared for a backbone; part of the feature-cache key.

    Attributes:
        input_size: (H, W) of the network input in pixels.
        interpolation: resampling filter for resizing: nearest, bilinear, bicubic or lanczos.
        crop_pct: evaluation crop fraction in (0, 1]: the shorter side is resized to input/crop_pct,
            then the centre input_size is cropped (1.0: no border is cut away).
        mean: (3,) per-channel mean subtracted after scaling pixels to [0, 1].
        std: (3,) per-channel standard deviation divided by.
    """

    input_size: tuple[int, int] = (224, 224)
    interpolation: Interpolation = "bicubic"
    crop_pct: float = 0.875
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        problems = []
        if len(self.input_size) != 2 or min(self.input_size) < 8:
            problems.append(f"input_size must be (H, W) with both sides >= 8 pixels, got {self.input_size}")
        if self.interpolation not in INTERPOLATIONS:
            problems.append(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {self.interpolation!r}")
        if not 0.0 < float(self.crop_pct) <= 1.0:
            problems.append(f"crop_pct must be in (0, 1], got {self.crop_pct}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            problems.append(f"mean and std must hold 3 values with std > 0, got mean={self.mean} std={self.std}")
        if problems:
            raise OptionError("bad preprocessing config: " + "; ".join(problems))

    @classmethod
    def from_timm(cls, data_config: Mapping[str, Any], input_size: int | None = None) -> PreprocessConfig:
        """From timm's data config (`timm.data.resolve_model_data_config(model)`); `input_size` overrides the side."""
        _, height, width = data_config.get("input_size", (3, 224, 224))
        if input_size is not None:
            height = width = int(input_size)
        interpolation = data_config.get("interpolation", "bicubic")
        if interpolation not in INTERPOLATIONS:  # timm's "random" is a training-time choice
            interpolation = "bicubic"
        return cls(
            input_size=(height, width),
            interpolation=interpolation,
            crop_pct=float(data_config.get("crop_pct") or 0.875),
            mean=tuple(data_config.get("mean", IMAGENET_MEAN)),
            std=tuple(data_config.get("std", IMAGENET_STD)),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (lists instead of tuples), saved with runs and hashed into cache keys."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @property
    def resize_size(self) -> int | tuple[int, int]:
        """Evaluation resize target: the shorter side for a square input, else the exact (H, W)."""
        height, width = self.input_size
        if height == width:
            return math.floor(height / self.crop_pct)
        return (math.floor(height / self.crop_pct), math.floor(width / self.crop_pct))


def interpolation_mode(name: Interpolation) -> InterpolationMode:
    """torchvision's resampling filter for one of `INTERPOLATIONS` ("bicubic" -> `InterpolationMode.BICUBIC`)."""
    from torchvision.transforms import InterpolationMode

    return InterpolationMode(name)  # its values are these names: InterpolationMode("bicubic") is BICUBIC


def _mode(cfg: PreprocessConfig) -> InterpolationMode:
    return interpolation_mode(cfg.interpolation)


def _to_normalized_tensor(cfg: PreprocessConfig) -> list[v2.Transform]:
    from torchvision.transforms import v2

    return [v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(cfg.mean, cfg.std)]


def eval_transform(cfg: PreprocessConfig) -> v2.Compose:
    """PIL RGB image -> (3, H, W) float32: resize to input/crop_pct, centre crop, normalize."""
    from torchvision.transforms import v2

    resize = v2.Resize(cfg.resize_size, interpolation=_mode(cfg), antialias=True)
    return v2.Compose([resize, v2.CenterCrop(cfg.input_size), *_to_normalized_tensor(cfg)])


def view_transform(cfg: PreprocessConfig, view: View) -> v2.Compose:
    """PIL RGB image -> (3, H, W) float32 for one cached view: "center", "flip" or "full"."""
    from torchvision.transforms import v2

    if view == "center":
        return eval_transform(cfg)
    if view == "flip":
        return v2.Compose([eval_transform(cfg), v2.RandomHorizontalFlip(p=1.0)])
    if view == "full":
        resize = v2.Resize(cfg.input_size, interpolation=_mode(cfg), antialias=True)
        return v2.Compose([resize, *_to_normalized_tensor(cfg)])
    raise OptionError(f"unknown view {view!r}; valid views: {', '.join(VIEWS)} (config key 'views')")


class MultiView:
    """PIL RGB image -> (V, 3, H, W) float32: several views of one decoded image, in the order given."""

    def __init__(self, cfg: PreprocessConfig, views: Sequence[View]):
        self.views = tuple(views)
        self.transforms = [view_transform(cfg, view) for view in self.views]

    def __call__(self, image: Any) -> torch.Tensor:
        if len(self.transforms) == 1:
            return self.transforms[0](image).unsqueeze(0)  # a view, no copy
        return torch.stack([transform(image) for transform in self.transforms])


def train_transform(cfg: PreprocessConfig, strength: Strength = "light") -> v2.Compose:
    """PIL RGB image -> (3, H, W) float32 with random augmentation ("light" or "strong", see the module doc)."""
    if strength not in STRENGTHS:
        raise OptionError(f"unknown augmentation strength {strength!r}; valid: {', '.join(STRENGTHS)} ('augment')")
    from torchvision.transforms import v2

    crop = v2.RandomResizedCrop(
        cfg.input_size, scale=(_MIN_CROP_AREA[strength], 1.0), interpolation=_mode(cfg), antialias=True
    )
    # No vertical flips or large rotations: scenes and most photos have an up, and labels like "sky" rely on it.
    steps: list[v2.Transform] = [crop, v2.RandomHorizontalFlip()]
    if strength == "light":
        steps.append(v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2))
        return v2.Compose([*steps, *_to_normalized_tensor(cfg)])
    steps += [
        v2.RandAugment(num_ops=2, magnitude=9, interpolation=_mode(cfg)),
        v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05),
    ]
    # Erasing runs on the normalized tensor, so value 0 fills with the dataset mean colour.
    return v2.Compose([*steps, *_to_normalized_tensor(cfg), v2.RandomErasing(p=0.25, value=0)])


def draft_size(cfg: PreprocessConfig, views: Sequence[View] = ("center",)) -> tuple[int, int]:
    """(width, height) a JPEG may be decoded down to (`load_image(draft_size=...)`) without losing detail.

    The views resize to at most this size, so decoding at a smaller DCT scale that keeps both sides at
    least this large gives the same pixels after resampling, several times faster on large photos.
    """
    height, width = cfg.input_size
    need_w, need_h = width, height  # "full" squashes the whole image to the input size
    if any(view in ("center", "flip") for view in views):
        resize = cfg.resize_size
        resize_h, resize_w = (resize, resize) if isinstance(resize, int) else resize
        need_w, need_h = max(need_w, resize_w), max(need_h, resize_h)
    return need_w, need_h


def train_draft_size(cfg: PreprocessConfig, strength: Strength = "light") -> tuple[int, int]:
    """(width, height) to decode training images at: the smallest random crop must still cover the input."""
    height, width = cfg.input_size
    grow = 1.0 / math.sqrt(_MIN_CROP_AREA[strength])  # side of the smallest crop, relative to the image
    return math.ceil(width * grow), math.ceil(height * grow)

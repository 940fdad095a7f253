"""The device input pipeline: JPEGs decoded in batches on the training device, augmented as batched tensors.

On a GPU the CPU pipeline (`ImageDataset`: PIL decode + resize + augment in DataLoader workers) bounds a
fine-tune epoch: the first H200 runs trained at ~500 img/s while the model step alone ran at ~1,900 img/s.
Here the workers only read files, and the device does the pixel work:

1. `EncodedImages` (DataLoader workers): a baseline/progressive RGB or greyscale JPEG without an EXIF rotation
   is returned as its file bytes (a (n,) uint8 tensor, what `torchvision.io.decode_jpeg` takes); any other
   image (PNG, WebP, CMYK JPEG, rotated JPEG, ...) is decoded on the CPU by `tailtag.images.load_image` and
   returned as a (3, H, W) uint8 tensor. Unreadable files give `error` (the bad-image policy of
   `ImageDataset`: reported, left out of the batch, never fatal to a worker).
2. `collate_encoded` keeps the variable-size items as a list (`EncodedBatch`); the DataLoader pins them.
3. `DeviceTransform` (main process): one batched `decode_jpeg(list, device=device)` (nvjpeg on CUDA); a JPEG
   that fails there is decoded again on the CPU by `load_image`, and reported only if that fails too. Then
   per image (sizes differ) resize + centre crop (eval) or random-resized crop + horizontal flip (train),
   one stack, and per-image brightness / contrast / saturation factors applied to the whole batch at once,
   random erasing ("strong"), normalisation with the backbone's mean and std.

Randomness: each training draw carries its seed (`tailtag.train.finetune_data.EpochBatches`), and its crop,
flip, jitter factors and erasing box are drawn on the CPU from a generator seeded with it, so the pixels of a
draw do not depend on batch composition, worker count or device.

Differences from the CPU pipeline, by design: "strong" has no RandAugment (a per-image op zoo on the GPU would
cost more than it gives; wider crops, stronger jitter and erasing remain); jitter applies brightness,
contrast, saturation in this fixed order (torchvision's ColorJitter permutes them), no hue. The eval transform
matches `tailtag.models.eval_transform` up to decoder and resampling rounding (see tests/data).

Everything runs on CPU tensors too (`device="cpu"`), which is how CI tests it.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torchvision.transforms.v2 import functional as F

from tailtag.data.dataset import ImageBatch
from tailtag.errors import BadImageError
from tailtag.images import DEFAULT_MAX_PIXELS, ImageProblem, load_image
from tailtag.models.preprocess import _MIN_CROP_AREA, PreprocessConfig, interpolation_mode

_JPEG_MAGIC = b"\xff\xd8\xff"
_EXIF_ORIENTATION = 0x0112
_JITTER = {"light": 0.2, "strong": 0.3}
_ERASE_P = {"light": 0.0, "strong": 0.25}


class EncodedBatch(NamedTuple):
    """A collated batch of `EncodedImages` samples.

    Attributes:
        indices: (B,) int64 dataset rows of the usable samples, in batch order.
        items: B uint8 tensors: (n,) JPEG bytes where `encoded`, else (3, H, W) decoded RGB.
        encoded: (B,) bool, True for JPEG bytes.
        seeds: (B,) int64 augmentation seeds of the draws (0 for evaluation samples).
        strengths: (B,) int64 index into the transform's strengths (0 for evaluation samples).
        paths: B file paths (for the CPU fallback and problem reports).
        problems: samples that could not be read, as (path, reason).
    """

    indices: torch.Tensor
    items: list[torch.Tensor]
    encoded: torch.Tensor
    seeds: torch.Tensor
    strengths: torch.Tensor
    paths: list[str]
    problems: list[ImageProblem]


def _decode_on_cpu(path: str, max_pixels: int) -> torch.Tensor:
    """(3, H, W) uint8 RGB of `path` via `load_image` (EXIF rotation, CMYK, 16-bit, alpha handled)."""
    array = np.asarray(load_image(path, max_pixels=max_pixels))
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def _device_decodable(data: bytes, max_pixels: int) -> bool:
    """Whether JPEG `data` can go to `decode_jpeg` as is: RGB/greyscale, upright, within the pixel limit."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:  # header only; no pixels are decoded here
            width, height = image.size
            rotated = image.getexif().get(_EXIF_ORIENTATION, 1) not in (1, None)
            return (
                image.format == "JPEG" and image.mode in ("RGB", "L") and width * height <= max_pixels and not rotated
            )
    except Exception:  # noqa: BLE001 - any header problem: let load_image decide and explain
        return False


class EncodedImages(torch.utils.data.Dataset):
    """Image files as JPEG bytes or decoded uint8 tensors (see the module doc), for `DeviceTransform`.

    Args:
        paths: (N,) image files.
        choice: (N,) int index of each row's augmentation strength (the minority policy); None: all 0.
        max_pixels: images whose header declares more pixels are reported as bad.

    `dataset[i]` (evaluation) or `dataset[(row, seed)]` (training draws) returns a sample dict; collate with
    `collate_encoded`.
    """

    def __init__(
        self, paths: Sequence[str | Path], *, choice: np.ndarray | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
    ):
        self.paths = [str(path) for path in paths]
        self.choice = np.zeros(len(self.paths), np.int64) if choice is None else np.asarray(choice, np.int64)
        if self.choice.shape != (len(self.paths),):
            raise ValueError(f"choice must have shape ({len(self.paths)},), got {self.choice.shape}")
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        row, seed = key if isinstance(key, tuple) else (key, 0)
        path = self.paths[row]
        sample = {"index": row, "seed": seed, "strength": int(self.choice[row]), "path": path, "error": None}
        try:
            try:
                data = Path(path).read_bytes()
            except OSError:
                data = b""  # missing, a folder, unreadable: load_image below says which, in its words
            if data[:3] == _JPEG_MAGIC and _device_decodable(data, self.max_pixels):
                return {**sample, "item": torch.frombuffer(bytearray(data), dtype=torch.uint8), "encoded": True}
            return {**sample, "item": _decode_on_cpu(path, self.max_pixels), "encoded": False}
        except BadImageError as error:
            return {**sample, "item": None, "encoded": False, "error": error.reason}


def collate_encoded(samples: list[dict[str, Any]]) -> EncodedBatch:
    """DataLoader `collate_fn` for `EncodedImages`: list the usable items, report the others."""
    good = [sample for sample in samples if sample["error"] is None]
    problems = [ImageProblem(sample["path"], sample["error"]) for sample in samples if sample["error"] is not None]

    def column(key: str, dtype: torch.dtype) -> torch.Tensor:
        return torch.tensor([sample[key] for sample in good], dtype=dtype)

    return EncodedBatch(
        indices=column("index", torch.int64),
        items=[sample["item"] for sample in good],
        encoded=column("encoded", torch.bool),
        seeds=column("seed", torch.int64),
        strengths=column("strength", torch.int64),
        paths=[sample["path"] for sample in good],
        problems=problems,
    )


class DeviceTransform:
    """`EncodedBatch` -> `ImageBatch` with (B, 3, H, W) float32 normalised images on `device`.

    Args:
        cfg: the backbone's preprocessing (input size, interpolation, crop_pct, mean, std).
        device: where decoding and transforms run ("cuda", "cpu", ...).
        train: random-resized crop + flip + jitter (+ erasing for "strong") instead of resize + centre crop.
        strengths: augmentation strength per `EncodedBatch.strengths` index, e.g. ("light", "strong").
        channels_last: return the batch in channels-last memory format.
        max_pixels: pixel limit of the CPU fallback decode.
        views: evaluation only: cached views ("center", "flip", "full" of `tailtag.models.view_transform`);
            the batch is then (B, V, 3, H, W).
    """

    def __init__(
        self,
        cfg: PreprocessConfig,
        device: str | torch.device,
        *,
        train: bool = False,
        strengths: Sequence[str] = ("light",),
        channels_last: bool = False,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        views: Sequence[str] | None = None,
    ):
        if views is not None and (train or not set(views) <= {"center", "flip", "full"} or not views):
            raise ValueError(f"views must be evaluation views among center, flip, full; got {views!r}")
        self.views = tuple(views) if views is not None else None
        self.cfg, self.device, self.train = cfg, torch.device(device), train
        self.strengths = tuple(strengths)
        self.channels_last, self.max_pixels = channels_last, max_pixels
        self.interpolation = interpolation_mode(cfg.interpolation)
        self.mean = torch.tensor(cfg.mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg.std, device=self.device).view(1, 3, 1, 1)

    def decode(self, batch: EncodedBatch) -> tuple[list[torch.Tensor], list[ImageProblem]]:
        """((3, h, w) uint8 images on the device, or None where even the CPU fallback failed; problems)."""
        images: list[torch.Tensor | None] = [None] * len(batch.items)
        jpegs = [i for i, encoded in enumerate(batch.encoded.tolist()) if encoded]
        decoded = self._decode_jpegs([batch.items[i] for i in jpegs]) if jpegs else []
        for i, image in zip(jpegs, decoded, strict=True):
            images[i] = image
        problems = []
        for i, item in enumerate(batch.items):
            if images[i] is not None:
                continue
            try:
                cpu = _decode_on_cpu(batch.paths[i], self.max_pixels) if batch.encoded[i] else item
            except BadImageError as error:
                problems.append(ImageProblem(batch.paths[i], error.reason))
                continue
            images[i] = cpu.to(self.device, non_blocking=True)
        return images, problems

    def _decode_jpegs(self, data: list[torch.Tensor]) -> list[torch.Tensor | None]:
        """Batched decode; if the batch call fails, each file alone (None where that fails too)."""
        from torchvision.io import ImageReadMode, decode_jpeg

        with warnings.catch_warnings():
            # torchvision 0.2x announces the move of decoding to torchcodec; the API still works and is the
            # one that takes a list and decodes it with nvjpeg in one call.
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                return list(decode_jpeg(data, mode=ImageReadMode.RGB, device=self.device))
            except RuntimeError:
                out: list[torch.Tensor | None] = []
                for one in data:
                    try:
                        out.append(decode_jpeg(one, mode=ImageReadMode.RGB, device=self.device))
                    except RuntimeError:
                        out.append(None)
                return out

    def __call__(self, batch: EncodedBatch) -> ImageBatch:
        images, problems = self.decode(batch)
        keep = [i for i, image in enumerate(images) if image is not None]
        problems = list(batch.problems) + problems
        if not keep:
            return ImageBatch(torch.zeros(0, dtype=torch.int64), None, None, problems)
        if self.train:
            params = [self._draw(int(batch.seeds[i]), self.strengths[int(batch.strengths[i])], images[i]) for i in keep]
            stacked = torch.stack([self._geometry(images[i], p) for i, p in zip(keep, params, strict=True)])
            stacked = self._photometric(stacked, params)
        elif self.views is not None:
            stacked = torch.stack([self._views(images[i]) for i in keep])  # (B, V, 3, H, W)
        else:
            stacked = torch.stack([self._eval_geometry(images[i]) for i in keep])
        stacked = (stacked - self.mean) / self.std
        if self.train:
            stacked = self._erase(stacked, params)
        if self.channels_last and stacked.ndim == 4:
            stacked = stacked.contiguous(memory_format=torch.channels_last)
        return ImageBatch(batch.indices[keep], stacked, None, problems)

    def _eval_geometry(self, image: torch.Tensor) -> torch.Tensor:
        """(3, H, W) float in [0, 1]: resize to input/crop_pct (antialiased), centre crop: `eval_transform`."""
        resized = F.resize(image.float(), self.cfg.resize_size, interpolation=self.interpolation, antialias=True)
        # PIL rounds and clips to uint8 after resampling; doing the same keeps the two pipelines comparable.
        return F.center_crop(resized.round_().clamp_(0, 255), list(self.cfg.input_size)) / 255.0

    def _views(self, image: torch.Tensor) -> torch.Tensor:
        """(V, 3, H, W) in [0, 1]: `self.views` of one image ("full": the whole image squashed to the input)."""
        out, center = [], None
        for view in self.views:
            if view == "full":
                full = F.resize(image.float(), list(self.cfg.input_size), self.interpolation, antialias=True)
                out.append(full.round_().clamp_(0, 255) / 255.0)
                continue
            center = self._eval_geometry(image) if center is None else center
            out.append(center if view == "center" else center.flip(-1))
        return torch.stack(out)

    def _draw(self, seed: int, strength: str, image: torch.Tensor) -> dict[str, Any]:
        """This draw's crop box, flip, jitter factors and erasing box, from a CPU generator seeded with `seed`."""
        generator = torch.Generator().manual_seed(seed)
        uniform = lambda low, high: low + (high - low) * float(torch.rand((), generator=generator))  # noqa: E731
        height, width = image.shape[-2:]
        box = _crop_box(height, width, (_MIN_CROP_AREA[strength], 1.0), uniform)
        jitter = _JITTER[strength]
        factors = [uniform(1 - jitter, 1 + jitter) for _ in range(3)]
        erase = None
        if uniform(0, 1) < _ERASE_P[strength]:
            erase = _erase_box(*self.cfg.input_size, uniform)
        return {"box": box, "flip": uniform(0, 1) < 0.5, "factors": factors, "erase": erase}

    def _geometry(self, image: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        top, left, height, width = params["box"]
        out = F.resized_crop(
            image.float(), top, left, height, width, list(self.cfg.input_size), self.interpolation, antialias=True
        )
        out = out.round_().clamp_(0, 255) / 255.0
        return out.flip(-1) if params["flip"] else out

    def _photometric(self, images: torch.Tensor, params: list[dict[str, Any]]) -> torch.Tensor:
        """Per-image brightness, contrast and saturation factors, applied to the (B, 3, H, W) batch at once
        (the blends of torchvision's `adjust_brightness` / `adjust_contrast` / `adjust_saturation`)."""
        factors = torch.tensor([p["factors"] for p in params], device=images.device, dtype=images.dtype)
        brightness, contrast, saturation = (factors[:, i].view(-1, 1, 1, 1) for i in range(3))
        images = (images * brightness).clamp_(0, 1)
        mean = F.rgb_to_grayscale(images).mean(dim=(-3, -2, -1), keepdim=True)
        images = (mean + contrast * (images - mean)).clamp_(0, 1)
        grey = F.rgb_to_grayscale(images)
        return (grey + saturation * (images - grey)).clamp_(0, 1)

    @staticmethod
    def _erase(images: torch.Tensor, params: list[dict[str, Any]]) -> torch.Tensor:
        """Random erasing (Zhong et al., AAAI 2020, arXiv:1708.04896) with 0, the mean colour after normalising."""
        for i, p in enumerate(params):
            if p["erase"] is not None:
                top, left, height, width = p["erase"]
                images[i, :, top : top + height, left : left + width] = 0
        return images


def _crop_box(height: int, width: int, scale: tuple[float, float], uniform) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a random-resized crop: `v2.RandomResizedCrop.make_params`'s rule (10 tries of area
    in `scale` and log-uniform aspect in [3/4, 4/3], else the centre crop clamped to that aspect range)."""
    area = height * width
    log_ratio = (math.log(3 / 4), math.log(4 / 3))
    for _ in range(10):
        target = area * uniform(*scale)
        ratio = math.exp(uniform(*log_ratio))
        w, h = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            return int(uniform(0, height - h + 1 - 1e-9)), int(uniform(0, width - w + 1 - 1e-9)), h, w
    in_ratio = width / height
    if in_ratio < 3 / 4:
        w, h = width, round(width / (3 / 4))
    elif in_ratio > 4 / 3:
        h, w = height, round(height * (4 / 3))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def _erase_box(height: int, width: int, uniform) -> tuple[int, int, int, int] | None:
    """(top, left, h, w) of an erasing box: area 2-33% of the input, aspect log-uniform in [0.3, 3.3]."""
    for _ in range(10):
        target = height * width * uniform(0.02, 0.33)
        ratio = math.exp(uniform(math.log(0.3), math.log(3.3)))
        h, w = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < h < height and 0 < w < width:
            return int(uniform(0, height - h + 1 - 1e-9)), int(uniform(0, width - w + 1 - 1e-9)), h, w
    return None


class DeviceBatches:
    """Iterate `loader`'s `EncodedBatch`es as `ImageBatch`es transformed on the device (the loop's loader)."""

    def __init__(self, loader: torch.utils.data.DataLoader, transform: DeviceTransform):
        self.loader, self.transform = loader, transform

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[ImageBatch]:
        for batch in self.loader:
            yield self.transform(batch)


def use_device_pipeline(setting: str, device: torch.device) -> bool:
    """`input_pipeline` -> whether to use this pipeline: "device" always, "cpu" never, "auto" on CUDA."""
    return setting == "device" or (setting == "auto" and torch.device(device).type == "cuda")


__all__ = [
    "DeviceBatches",
    "DeviceTransform",
    "EncodedBatch",
    "EncodedImages",
    "collate_encoded",
    "use_device_pipeline",
]

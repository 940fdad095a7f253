"""Frozen-backbone features of image files, computed once and cached on disk by image content.

The cache key is (backbone name, weights id, preprocessing config, view, feature dimension); within a key
each image is found by the BLAKE2b digest of its bytes (`tailtag.features.hashing`), so a renamed or moved
image hits the cache, an edited one misses it, and identical copies are computed once. Storage is an
append-only, crash-safe shard store (`tailtag.features.store`). A second call with the same images only
stats the files and reads the shards: well under a second for thousands of images.

Images that fail to decode are collected as `ImageProblem`s, never dropped silently: `compute_features`
returns them; `extract_features` applies the fail/skip policy of `tailtag.images.apply_policy`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from tailtag.allocator import keep_freed_memory
from tailtag.data import ImageDataset, collate_images, prefetch_in_thread
from tailtag.data.device_pipeline import (
    DeviceBatches,
    DeviceTransform,
    EncodedImages,
    collate_encoded,
    use_device_pipeline,
)
from tailtag.errors import OptionError
from tailtag.features.hashing import INDEX_NAME, content_digests
from tailtag.features.progress import Progress
from tailtag.features.runtime import decode_workers
from tailtag.features.store import FORMAT_VERSION, FeatureStore
from tailtag.images import DEFAULT_MAX_PIXELS, ImageCheck, ImageProblem, OnBadImage, apply_policy
from tailtag.models import VIEWS, Backbone, MultiView, View, draft_size

logger = logging.getLogger(__name__)

_SHARD_ROWS = 1024  # rows per shard: a killed run loses at most this many images' work...
_SHARD_SECONDS = 60.0  # ...or this much time, whichever comes first


@dataclass
class FeatureResult:
    """What `compute_features` produced.

    Attributes:
        features: (V, N, D) float32, one (N, D) block per view in `views` order; rows of unusable images are NaN.
        views: the V view names.
        ok: (N,) bool, False for images that could not be read or decoded.
        problems: one (path, reason) per unusable path, in input order.
        n_cached: (path, view) rows served from the cache.
        n_computed: (image content, view) pairs run through the backbone in this call; identical files
            count once.
        seconds: wall time of the call.
    """

    features: np.ndarray
    views: tuple[str, ...]
    ok: np.ndarray
    problems: list[ImageProblem] = field(default_factory=list)
    n_cached: int = 0
    n_computed: int = 0
    seconds: float = 0.0


def cache_key(backbone: Backbone, view: View) -> dict:
    """Everything that determines a cached feature vector besides the image bytes."""
    return {
        "format": FORMAT_VERSION,
        "backbone": backbone.name,
        "weights_id": backbone.weights_id,
        "preprocess": backbone.preprocess.to_dict(),
        "view": view,
        "dim": backbone.num_features,
    }


def open_store(cache_dir: Path, backbone: Backbone, view: View, writer: str = "") -> FeatureStore:
    """The shard store of (backbone, view) under `cache_dir`, named `<model>-<view>-<16 hex of the key>`;
    `writer` tags the names of the shards written through it (`FeatureStore`)."""
    key = cache_key(backbone, view)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return FeatureStore(Path(cache_dir) / f"{backbone.name}-{view}-{digest}", key, backbone.num_features, writer)


def _check_arguments(views: Sequence[str], batch_size: int, num_workers: int) -> tuple[str, ...]:
    views = tuple(views) if not isinstance(views, str) else (views,)
    problems = [f"unknown view {view!r}" for view in views if view not in VIEWS]
    if not views or len(set(views)) != len(views):
        problems.append(f"views must be distinct and at least one, got {list(views)}")
    if not isinstance(batch_size, int) or batch_size < 1:
        problems.append(f"batch_size must be a positive int, got {batch_size!r}")
    if not isinstance(num_workers, int) or num_workers < 0:
        problems.append(f"num_workers must be an int >= 0, got {num_workers!r}")
    if problems:
        raise OptionError("feature extraction: " + "; ".join(problems) + f" (valid views: {', '.join(VIEWS)})")
    return views


def compute_features(
    backbone: Backbone,
    paths: Sequence[str | Path],
    *,
    views: Sequence[View] = ("center",),
    batch_size: int = 64,
    num_workers: int = 2,
    cache_dir: str | Path,
    progress: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    device: str | torch.device | None = None,
    input_pipeline: str = "auto",
    writer: str = "",
) -> FeatureResult:
    """Features of every image and view, from the cache where possible, computing and caching the rest.

    Args:
        backbone: from `tailtag.models.create_backbone`; run in eval mode, moved to `device` in place.
        paths: (N,) image files.
        views: any of "center", "flip", "full" (see `tailtag.models.preprocess`).
        batch_size: images per forward pass.
        num_workers: at most this many DataLoader processes decode images (0: decode in this process);
            on the CPU only as many as leave torch's threads their cores (`features.runtime.decode_workers`).
        cache_dir: root folder of the cache (shared by all backbones and views).
        progress: print progress to stderr while computing.
        max_pixels: larger images are reported as unusable (`--max-pixels`).
        device: where the backbone runs; default CUDA when available, else CPU. On the CPU, glibc is
            told to keep freed memory for reuse (`tailtag.allocator.keep_freed_memory`).
        input_pipeline: "device" decodes JPEGs in batches on `device` and resizes there
            (`tailtag.data.device_pipeline`), "cpu" decodes with PIL in the workers, "auto" is device on CUDA.
            Both give the same preprocessing up to decoder/resampler rounding (about one grey level), so
            they share the cache.
        writer: a tag in the names of the shards this call writes, e.g. "r1" for torchrun rank 1
            (`extract_sharded`).

    Returns:
        A `FeatureResult`; `features` is (V, N, D) float32.
    """
    start = time.perf_counter()
    views = _check_arguments(views, batch_size, num_workers)
    cache_dir = Path(cache_dir).expanduser()
    given = [str(path) for path in paths]
    digests, problems = content_digests(given, index_file=cache_dir / INDEX_NAME)
    stores = {view: open_store(cache_dir, backbone, view, writer) for view in views}
    features, groups = _read_cached(stores, digests, backbone.num_features)
    n_cached = int(np.isfinite(features[:, :, 0]).sum())
    n_computed = 0
    device = torch.device(device) if device is not None else _default_device()
    if groups and device.type == "cpu":
        keep_freed_memory()  # 2-3x faster CPU forward passes; see tailtag.allocator
    for todo, group in groups.items():
        first = {}
        for path, digest in zip(given, digests, strict=True):
            if digest in todo:
                first.setdefault(digest, path)
        computed, bad = _run_backbone(
            backbone,
            list(first.values()),
            list(first),
            group,
            [stores[view] for view in group],
            batch_size=batch_size,
            num_workers=num_workers,
            max_pixels=max_pixels,
            device=device,
            progress=progress,
            input_pipeline=input_pipeline,
        )
        _fill(features, views, group, digests, computed)
        n_computed += len(computed) * len(group)
        problems += _spread(bad, first, given, digests, problems)
    order = {path: i for i, path in reversed(list(enumerate(given)))}
    problems.sort(key=lambda problem: order[problem.path])
    ok = np.isfinite(features[:, :, 0]).all(axis=0)
    result = FeatureResult(features, views, ok, problems, n_cached, n_computed, time.perf_counter() - start)
    logger.info(
        "features: %d image-views cached, %d computed, %d unusable images, %.2f s",
        n_cached,
        n_computed,
        len(problems),
        result.seconds,
    )
    return result


def _read_cached(
    stores: dict[View, FeatureStore], digests: list[str | None], dim: int
) -> tuple[np.ndarray, dict[frozenset[str], list[View]]]:
    """(V, N, D) cached features (NaN where missing), and the views to compute grouped by the digests
    they miss: views missing the same images are computed in one pass, decoding each image once."""
    features = np.full((len(stores), len(digests), dim), np.nan, dtype=np.float32)
    groups: dict[frozenset[str], list[View]] = {}
    for v, (view, store) in enumerate(stores.items()):
        found, features[v] = store.read(digests)
        missing = frozenset(d for d, hit in zip(digests, found, strict=True) if d is not None and not hit)
        if missing:
            groups.setdefault(missing, []).append(view)
    return features, groups


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _fill(
    features: np.ndarray, views: tuple[str, ...], group: list[View], digests: list, computed: dict[str, np.ndarray]
) -> None:
    """Copy computed (V_group, D) vectors into the (V, N, D) output, for every path with that content."""
    rows = [i for i, digest in enumerate(digests) if digest in computed]
    if rows:
        block = np.stack([computed[digests[i]] for i in rows])  # (n, V_group, D)
        for g, view in enumerate(group):
            features[views.index(view), rows] = block[:, g]


def _spread(bad: list[ImageProblem], first: dict, given: list[str], digests: list, known: list) -> list[ImageProblem]:
    """A decode failure of one file applies to every path with the same bytes; skip paths already reported."""
    reason_of_path = {problem.path: problem.reason for problem in bad}
    reason_of = {digest: reason_of_path[path] for digest, path in first.items() if path in reason_of_path}
    seen = {problem.path for problem in known}
    out = []
    for path, digest in zip(given, digests, strict=True):
        if digest in reason_of and path not in seen:
            seen.add(path)
            out.append(ImageProblem(path, reason_of[digest]))
    return out


def _run_backbone(
    backbone: Backbone,
    paths: list[str],
    digests: list[str],
    views: list[View],
    stores: list[FeatureStore],
    *,
    batch_size: int,
    num_workers: int,
    max_pixels: int,
    device: torch.device,
    progress: bool,
    input_pipeline: str = "auto",
) -> tuple[dict[str, np.ndarray], list[ImageProblem]]:
    """Decode `paths`, run the backbone on `views`, append shards to `stores` as it goes.

    Returns:
        digest -> (len(views), D) float32 features of the decoded images, and the undecodable ones.
    """
    cfg = backbone.preprocess
    on_device = use_device_pipeline(input_pipeline, device)
    if on_device:
        dataset, collate = EncodedImages(paths, max_pixels=max_pixels), collate_encoded
    else:
        views_of = MultiView(cfg, views)
        dataset = ImageDataset(paths, views_of, draft_size=draft_size(cfg, views), max_pixels=max_pixels)
        collate = collate_images
    # No worker start-up for a handful of images; on the CPU, no workers taking cores from the forward pass.
    workers = min(decode_workers(num_workers, device.type), -(-len(paths) // batch_size))
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if workers else None,
    )
    model = backbone.model
    was_training = model.training
    model.eval().to(device)
    computed: dict[str, np.ndarray] = {}
    problems: list[ImageProblem] = []
    pending: list[str] = []
    last_flush = time.monotonic()
    meter = Progress(len(paths), f"features ({backbone.name}, {'+'.join(views)})", enabled=progress)
    # Without worker processes, a thread decodes the next batch while this one runs through the model.
    batches = loader if workers else prefetch_in_thread(loader, depth=2)
    if on_device:  # the workers read the files; decoding and resizing run here, on the device
        batches = DeviceBatches(batches, DeviceTransform(cfg, device, max_pixels=max_pixels, views=views))
    try:
        with torch.inference_mode():
            for batch in batches:
                problems += batch.problems
                meter.update(len(batch.indices) + len(batch.problems))
                if batch.images is None:
                    continue
                n, n_views = batch.images.shape[:2]
                images = batch.images.to(device, non_blocking=True).flatten(0, 1)  # (n * V, 3, H, W)
                out = model(images).float().reshape(n, n_views, -1).cpu().numpy()
                for index, vectors in zip(batch.indices.tolist(), out, strict=True):
                    computed[digests[index]] = vectors
                    pending.append(digests[index])
                if len(pending) >= _SHARD_ROWS or time.monotonic() - last_flush > _SHARD_SECONDS:
                    _flush(stores, pending, computed)
                    pending, last_flush = [], time.monotonic()
        _flush(stores, pending, computed)
    finally:
        model.train(was_training)
        meter.close()
    return computed, problems


def _flush(stores: list[FeatureStore], pending: list[str], computed: dict[str, np.ndarray]) -> None:
    """Write the pending rows, and keep the stored (float16-rounded) values: a cold call returns the same
    numbers as a warm one."""
    if pending:
        block = np.stack([computed[digest] for digest in pending])  # (n, V_group, D)
        for g, store in enumerate(stores):
            block[:, g] = store.write(pending, block[:, g])
        for digest, vectors in zip(pending, block, strict=True):
            computed[digest] = vectors


def extract_features(
    backbone: Backbone,
    paths: Sequence[str | Path],
    *,
    views: Sequence[View] = ("center",),
    batch_size: int = 64,
    num_workers: int = 2,
    cache_dir: str | Path,
    progress: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    device: str | torch.device | None = None,
    input_pipeline: str = "auto",
    on_bad: OnBadImage = "fail",
    report_path: Path | None = None,
) -> np.ndarray:
    """(V, N, D) float32 features of `paths` for each view, cached on disk (see `compute_features`).

    Args:
        on_bad: "fail" raises one `TailtagError` listing the unusable images (after caching the rest, so
            a rerun once they are fixed is fast); "skip" leaves their rows NaN and warns with the count
            (`--on-bad-image`). `np.isnan(features[0, :, 0])` finds them.
        report_path: under "skip", a CSV with one `path,reason` row per skipped image.
        Other arguments: as in `compute_features`.

    Example:
        >>> feats = extract_features(create_backbone(), ["a.jpg", "b.jpg"], views=("center", "flip"),
        ...                          cache_dir=Path("~/.cache/tailtag/features"))
        >>> feats.shape, feats.dtype
        ((2, 2, 1280), dtype('float32'))
    """
    result = compute_features(
        backbone,
        paths,
        views=views,
        batch_size=batch_size,
        num_workers=num_workers,
        cache_dir=cache_dir,
        progress=progress,
        max_pixels=max_pixels,
        device=device,
        input_pipeline=input_pipeline,
    )
    check = ImageCheck(result.problems, [], len(result.ok), tuple(str(path) for path in paths))
    outcome = apply_policy(check, on_bad, report_path)
    if result.problems:
        warnings.warn(f"feature extraction: {outcome.summary}", stacklevel=2)
    return result.features

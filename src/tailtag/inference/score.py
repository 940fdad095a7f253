"""Per-label probabilities of image files under a run's model, computed the way training validated.

Two paths, the same mathematics (views and map flips averaged in probability space like
`tailtag.train.head_mode.predict_views`; fine-tuned runs average the centre crop and its mirror image):

- direct (default): decode, run `RunModel.view_scorer()` per view in float32. Exactly what `predict`, the
  exported model and the service compute, so evaluation's decisions are the tags users will get.
- cached (`cache=True`): the frozen part's activations come from the feature cache, keyed like training's,
  so scoring a run's own validation split is a cache read plus the small top. The cache stores float16, so
  probabilities differ from the direct path by up to ~1e-4: fine for fitting thresholds, not for reporting
  the tags of borderline images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tailtag.features.external import FeatureSet
from tailtag.images import DEFAULT_MAX_PIXELS, ImageProblem
from tailtag.inference.model import RunModel
from tailtag.models.trunk import predict_views, split_backbone


@dataclass
class Scores:
    """What `score_images` produced.

    Attributes:
        probabilities: (N, K) float32; rows of unusable images are NaN.
        ok: (N,) bool, False for images that could not be read or decoded.
        problems: one (path, reason) per unusable image, in input order.
    """

    probabilities: np.ndarray
    ok: np.ndarray
    problems: list[ImageProblem] = field(default_factory=list)


def scoring_views(model: RunModel) -> tuple[str, ...]:
    """The views validation averaged: the configured ones in head mode; centre + mirror when fine-tuned."""
    return tuple(model.run.config.views) if model.run.config.mode == "head" else ("center", "flip")


def score_images(
    model: RunModel,
    paths: Sequence[str | Path],
    *,
    cache: bool = False,
    cache_dir: str | Path | None = None,
    batch_size: int | None = None,
    num_workers: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: bool = True,
) -> Scores:
    """Probabilities of every image in `paths` (unusable images are reported in `Scores.problems`, not raised).

    Args:
        model: from `load_model`.
        paths: (N,) image files.
        cache: read / fill the feature cache (see the module docstring) instead of computing directly.
        cache_dir: feature cache (default: the run's `cache_dir`).
        batch_size, num_workers: default: the run's `feature_batch_size` and `num_workers`.
    """
    if not cache:
        return _score_direct(model, paths, batch_size, num_workers, max_pixels, progress)
    from tailtag.features import compute_features

    config = model.run.config
    top_blocks = config.top_blocks if config.mode == "head" else 0
    cached, top, map_shape = split_backbone(model.backbone, top_blocks)
    rest = nn.Sequential(top, model.head) if top is not None else model.head
    rest.eval()
    result = compute_features(
        cached,
        list(paths),
        views=scoring_views(model),
        batch_size=batch_size or config.feature_batch_size,
        num_workers=config.num_workers if num_workers is None else num_workers,
        cache_dir=Path(cache_dir or config.cache_dir).expanduser(),
        progress=progress,
        max_pixels=max_pixels,
        device="cpu",
    )
    probabilities = np.full((len(result.ok), len(model.names)), np.nan, dtype=np.float32)
    if result.ok.any():
        with torch.inference_mode():
            probabilities[result.ok] = predict_views(
                rest, model.probabilities, result.features[:, result.ok], torch.device("cpu"), map_shape
            )
    return Scores(probabilities, result.ok, list(result.problems))


def _score_direct(
    model: RunModel,
    paths: Sequence[str | Path],
    batch_size: int | None,
    num_workers: int | None,
    max_pixels: int,
    progress: bool,
) -> Scores:
    from torch.utils.data import DataLoader

    from tailtag.allocator import keep_freed_memory
    from tailtag.data import ImageDataset, collate_images, prefetch_in_thread
    from tailtag.features.progress import Progress
    from tailtag.features.runtime import decode_workers
    from tailtag.models import MultiView, draft_size

    config, views = model.run.config, scoring_views(model)
    batch_size = batch_size or config.feature_batch_size
    dataset = ImageDataset(
        [str(p) for p in paths],
        MultiView(model.preprocess, views),
        draft_size=draft_size(model.preprocess, views),
        max_pixels=max_pixels,
    )
    requested = config.num_workers if num_workers is None else num_workers
    workers = min(decode_workers(requested, "cpu"), -(-len(dataset) // batch_size))
    loader = DataLoader(
        dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate_images,
        prefetch_factor=4 if workers else None,
    )  # fmt: skip
    keep_freed_memory()  # 2-3x faster CPU forward passes; see tailtag.allocator
    scorer = model.view_scorer()
    probabilities = np.full((len(dataset), len(model.names)), np.nan, dtype=np.float32)
    problems: list[ImageProblem] = []
    meter = Progress(len(dataset), f"scoring ({'+'.join(views)})", enabled=progress)
    with torch.inference_mode():
        for batch in loader if workers else prefetch_in_thread(loader, depth=2):
            problems += batch.problems
            if batch.images is not None:
                per_view = [scorer(batch.images[:, v].contiguous()) for v in range(len(views))]
                probabilities[batch.indices.numpy()] = torch.stack(per_view).mean(0).numpy()
            meter.update(len(batch.indices) + len(batch.problems))
    meter.close()
    ok = ~np.isnan(probabilities[:, 0]) if probabilities.shape[1] else np.ones(len(dataset), dtype=bool)
    order = {str(p): i for i, p in enumerate(paths)}
    problems.sort(key=lambda problem: order.get(problem.path, 0))
    return Scores(probabilities, ok, problems)


def score_features(model: RunModel, features: FeatureSet, paths: Sequence[str], *, batch_size: int = 8192) -> Scores:
    """Probabilities of the images `paths` (N,) from their rows in `features`, under a run trained on features
    (`model.on_features`). Images without a feature row are reported in `Scores.problems` (their rows NaN);
    none at all is an error naming both files' paths. Batched, so (N, K) is the only large array made: when
    one batch holds every image, its output is the result (no second (N, K) array to copy it into)."""
    from tailtag.features.external import match_paths

    match = match_paths(list(paths), features, label_source="the images to score")
    ok = match.rows >= 0
    problems = [ImageProblem(str(paths[i]), f"no feature row in {features.source}") for i in np.flatnonzero(~ok)]
    with torch.inference_mode():
        if ok.all() and len(paths) <= batch_size:
            return Scores(_feature_probabilities(model, features.take(match.rows)), ok, problems)
        probabilities = np.full((len(paths), len(model.names)), np.nan, dtype=np.float32)
        wanted = np.flatnonzero(ok)
        for start in range(0, len(wanted), batch_size):
            at = wanted[start : start + batch_size]
            probabilities[at] = _feature_probabilities(model, features.take(match.rows[at]))
    return Scores(probabilities, ok, problems)


def _feature_probabilities(model: RunModel, vectors: np.ndarray) -> np.ndarray:
    """(B, K) float32 `model.feature_scorer()` of (B, D) vectors, with a sigmoid applied in place on the fresh
    logits: the same kernel and values as `Probabilities`, one (B, K) tensor instead of two (80 MB at
    2,000 x 10,000)."""
    logits = model.head(torch.from_numpy(vectors))
    if model.probabilities.output == "sigmoid" and logits.dtype == torch.float32:
        return torch.sigmoid_(logits).numpy()
    return model.probabilities(logits).numpy()

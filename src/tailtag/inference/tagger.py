"""`Tagger`: images in, tags and probabilities out, the way a run's evaluation decided them.

The pipeline shared by `tailtag predict`, the HTTP service and the Python API (`tailtag.load`):
decode (EXIF-upright RGB, JPEG draft decoding) -> the run's views -> a scorer per view, averaged ->
calibration -> the fitted thresholds. A scorer is any callable mapping one view's (B, 3, H, W) float32
batch to (B, K) probabilities: the PyTorch `ViewScorer` by default, an onnxruntime session for exports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tailtag.errors import TailtagError
from tailtag.images import DEFAULT_MAX_PIXELS, load_image
from tailtag.inference.model import RunModel, load_model
from tailtag.inference.score import scoring_views
from tailtag.models import MultiView, draft_size
from tailtag.thresholds.decision import Decision, load_decision

Scorer = Callable[[torch.Tensor], np.ndarray]


def torch_scorer(model: RunModel) -> Scorer:
    """The PyTorch backend: `RunModel.view_scorer()` under inference mode, on the CPU."""
    scorer = model.view_scorer()

    def score(images: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            return scorer(images).float().numpy()

    return score


@dataclass
class Tags:
    """One image's result: `tags` in descending probability, `probabilities` name -> calibrated probability."""

    tags: list[str]
    probabilities: dict[str, float]


class Tagger:
    """A run's model + decision, ready to tag images.

    Args:
        model: from `load_model`.
        decision: the run's fitted calibration + thresholds (`load_decision(run)`).
        scorer: one view's batch -> probabilities; default the PyTorch model.
    """

    def __init__(self, model: RunModel, decision: Decision, scorer: Scorer | None = None):
        self.model = model
        self.decision = decision
        self.scorer = scorer or torch_scorer(model)
        self.views = scoring_views(model)
        self.transform = MultiView(model.preprocess, self.views)
        self.draft_size = draft_size(model.preprocess, self.views)

    @classmethod
    def load(cls, run: str | Path, scorer_factory: Callable[[RunModel], Scorer] | None = None) -> Tagger:
        """Load the run directory `run`; TailtagError if it has no fitted thresholds yet."""
        model = load_model(run)
        decision = load_decision(model.run.path)
        if decision is None:
            raise TailtagError(
                f"{model.run.path} has no thresholds.json\n"
                f"  fix: tailtag evaluate {model.run.path} --refit (fits and saves them)"
            )
        return cls(model, decision, scorer_factory(model) if scorer_factory else None)

    @property
    def names(self) -> list[str]:
        return self.model.names

    def decode(self, image: str | Path | Image.Image, max_pixels: int = DEFAULT_MAX_PIXELS) -> torch.Tensor:
        """(V, 3, H, W) float32 views of one image file or PIL image (BadImageError if unusable)."""
        if not isinstance(image, Image.Image):
            image = load_image(image, max_pixels=max_pixels, draft_size=self.draft_size)
        return self.transform(image.convert("RGB"))

    def raw_probabilities(self, views: torch.Tensor) -> np.ndarray:
        """(B, K) uncalibrated probabilities of (B, V, 3, H, W) decoded views, averaged over the views."""
        return np.mean([self.scorer(views[:, v].contiguous()) for v in range(views.shape[1])], axis=0)

    def decide(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """((B, K) calibrated probabilities, (B, K) uint8 decisions) of raw probabilities."""
        return self.decision.probabilities(raw), self.decision.predict(raw)

    def tags_of(self, probabilities: np.ndarray, decisions: np.ndarray) -> list[Tags]:
        """One `Tags` per row, tags ordered by descending probability."""
        out = []
        for row_p, row_d in zip(probabilities, decisions, strict=True):
            chosen = np.flatnonzero(row_d)
            chosen = chosen[np.argsort(-row_p[chosen], kind="stable")]
            out.append(Tags([self.names[j] for j in chosen], dict(zip(self.names, map(float, row_p), strict=True))))
        return out

    def predict(self, images: Sequence[str | Path | Image.Image], batch_size: int = 32) -> list[Tags]:
        """Tags of each image (files or PIL images); an unusable file raises BadImageError naming it."""
        results: list[Tags] = []
        for start in range(0, len(images), batch_size):
            views = torch.stack([self.decode(image) for image in images[start : start + batch_size]])
            results += self.tags_of(*self.decide(self.raw_probabilities(views)))
        return results

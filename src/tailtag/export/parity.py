"""The parity check every export ends with: the exported model must score like the PyTorch model it came from.

A sample of the run's validation images is decoded exactly as `Tagger.decode` does (same views, same draft
decoding); each view goes through both scorers, in batches of another size than the one the export was
traced with, so the dynamic batch axis is exercised too. The export passes when every per-view probability
is within `tolerance` (1e-4) of PyTorch and the tags after the run's decision are identical on every image,
as timm's ONNX export checks its outputs against the source model (timm/utils/onnx.py).
When the run's data cannot be found, rendered demo scenes stand in, with a warning: they check the graph
but not the image statistics the model will see.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from tailtag.errors import BadImageError, TailtagError
from tailtag.inference import RunFiles, Scorer, Tagger
from tailtag.thresholds.decision import Decision

DEFAULT_SAMPLE = 32
TOLERANCE = 1e-4
_BATCH = 16  # checking batch; exports are traced with 2 images, so this runs the batch axis at other sizes


class ParityError(TailtagError):
    """The exported model does not reproduce the PyTorch model's probabilities or tags."""


@dataclass
class ParitySample:
    """Images to check an export on.

    Attributes:
        images: (N, V, 3, H, W) float32, the run's views of each image.
        ids: (N,) image names for messages (paths relative to the image folder, or "synthetic-K").
        source: "validation" or "synthetic".
        note: why synthetic images were used, or how many validation images could not be decoded.
    """

    images: torch.Tensor
    ids: list[str]
    source: Literal["validation", "synthetic"]
    note: str | None = None


@dataclass
class ParityReport:
    """How closely an exported model reproduced PyTorch.

    Attributes:
        max_diff: max |p_export - p_torch| over images, views and labels (inf when the export gave NaN/inf).
        worst: (image id, label, view) where `max_diff` was found.
        values: (torch, export) probabilities at `worst`.
        n_images: images compared; views: the views compared.
        mismatches: (image id, torch tags, export tags) of each image whose tag set differs.
        tolerance: the largest difference allowed.
        source: "validation" or "synthetic" images.
    """

    max_diff: float
    worst: tuple[str, str, str]
    values: tuple[float, float]
    n_images: int
    views: tuple[str, ...]
    tolerance: float
    source: str
    mismatches: list[tuple[str, list[str], list[str]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.max_diff <= self.tolerance and not self.mismatches)

    def describe(self, backend: str) -> str:
        """One line (success) or a few (failure) naming the worst label and image and the difference."""
        image, label, view = self.worst
        where = f"label {label!r} of {image} ({view} view)"
        head = (
            f"parity on {self.n_images} {self.source} images x {len(self.views)} views ({', '.join(self.views)}): "
            f"max |p_{backend} - p_torch| = {self.max_diff:.2e} (tolerance {self.tolerance:.0e}) at {where}"
        )
        if self.ok:
            return f"{head}; tags identical on {self.n_images}/{self.n_images} images"
        lines = [head + f": torch {self.values[0]:.6f}, {backend} {self.values[1]:.6f}"]
        if self.mismatches:
            image, want, got = self.mismatches[0]
            lines.append(
                f"tags differ on {len(self.mismatches)}/{self.n_images} images, e.g. {image}: torch {want}, "
                f"{backend} {got}"
            )
        return "\n".join(lines)


def compare_scorers(
    reference: Scorer,
    candidate: Scorer,
    sample: ParitySample,
    decision: Decision,
    names: list[str],
    views: tuple[str, ...],
    tolerance: float = TOLERANCE,
) -> ParityReport:
    """Score every view of `sample` with both scorers and compare probabilities and decided tags.

    Args:
        reference: the PyTorch scorer; candidate: the exported model's (both (B, 3, H, W) -> (B, K)).
        sample: the images; decision: the run's calibration + thresholds; names: (K,) labels; views: (V,).
    """
    n, n_views = sample.images.shape[:2]
    ref = np.empty((n_views, n, len(names)), dtype=np.float32)
    got = np.empty_like(ref)
    for view in range(n_views):
        for start in range(0, n, _BATCH):
            batch = sample.images[start : start + _BATCH, view].contiguous()
            ref[view, start : start + len(batch)] = reference(batch)
            got[view, start : start + len(batch)] = _checked(candidate(batch), (len(batch), len(names)))
    diff = np.abs(ref.astype(np.float64) - got)
    diff[~np.isfinite(diff)] = np.inf
    view, image, label = np.unravel_index(int(np.argmax(diff)), diff.shape)
    report = ParityReport(
        max_diff=float(diff[view, image, label]),
        worst=(sample.ids[image], names[label], views[view]),
        values=(float(ref[view, image, label]), float(got[view, image, label])),
        n_images=n,
        views=tuple(views),
        tolerance=tolerance,
        source=sample.source,
    )
    if np.isfinite(report.max_diff):  # the calibrator refuses NaN: the report already fails
        want, have = decision.predict(ref.mean(0)), decision.predict(got.mean(0))
        for row in np.flatnonzero((want != have).any(axis=1)):
            report.mismatches.append((sample.ids[row], _tags(want[row], names), _tags(have[row], names)))
    return report


def _checked(probabilities: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    probabilities = np.asarray(probabilities)
    if probabilities.shape != shape:
        raise ParityError(
            f"the exported model returned probabilities of shape {probabilities.shape} for a batch of {shape[0]} "
            f"images, expected {shape}; the file was not kept (a bug in the export: please report it)"
        )
    return probabilities


def _tags(row: np.ndarray, names: list[str]) -> list[str]:
    return [names[j] for j in np.flatnonzero(row)]


def parity_sample(tagger: Tagger, n: int = DEFAULT_SAMPLE, seed: int = 0) -> ParitySample:
    """Up to `n` of the run's validation images (a seeded random choice), decoded as `tagger.decode` does.

    Falls back to `n` rendered demo scenes, with a UserWarning saying why, when the run's label file, split
    or images cannot be found. Validation images that cannot be decoded are replaced by others.
    """
    paths, reason = _validation_paths(tagger.model.run)
    order = np.random.default_rng(seed).permutation(len(paths))
    images, ids, bad = [], [], 0
    for index in order:
        if len(images) == n:
            break
        try:
            images.append(tagger.decode(paths[index]))
        except BadImageError:
            bad += 1
            continue
        ids.append(_short(paths[index], tagger.model.run))
    if images:
        note = f"{bad} validation images could not be decoded and were replaced" if bad else None
        return ParitySample(torch.stack(images), ids, "validation", note)
    reason = reason or f"none of the {len(paths)} validation images could be decoded"
    note = f"checking on {n} synthetic images instead of validation images: {reason}"
    warnings.warn(note, UserWarning, stacklevel=2)
    return ParitySample(_synthetic(tagger, n, seed), [f"synthetic-{k}" for k in range(n)], "synthetic", note)


def _validation_paths(run: RunFiles) -> tuple[list[Path], str | None]:
    """The run's validation image files, or ([], why not)."""
    from tailtag.split import read_split

    try:
        table = run.training_table()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a stale-split note is for `train`; any validation image will do
            subsets = read_split(run.path / "split", table)
    except (TailtagError, OSError) as exc:
        return [], str(exc).splitlines()[0]
    if "val" not in subsets:
        return [], f"the run's split folder {run.path / 'split'} has no val.txt"
    return [table.resolve(path) for path in table.paths[subsets["val"]]], None


def _short(path: Path, run: RunFiles) -> str:
    root = (run.data or {}).get("images")
    try:
        return str(Path(path).relative_to(root)) if root else str(path)
    except ValueError:
        return str(path)


def _synthetic(tagger: Tagger, n: int, seed: int) -> torch.Tensor:
    """(n, V, 3, H, W) views of rendered demo scenes a little larger than the network input."""
    from tailtag.demo import render_scene, sample_scene

    side = min(1024, max(64, round(max(tagger.model.preprocess.input_size) * 1.25)))
    views = []
    for k in range(n):
        rng = np.random.default_rng([seed, k])
        views.append(tagger.decode(render_scene(sample_scene(rng), rng, side)))
    return torch.stack(views)

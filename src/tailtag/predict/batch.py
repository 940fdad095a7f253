"""Batch prediction: a run's `Tagger` over thousands of image files, into a resumable CSV or JSONL.

Per batch: DataLoader workers (or a prefetch thread on small CPU machines, `features.runtime.decode_workers`)
decode the next images while the model scores this one; each view goes through the backend's scorer, the
views are averaged, the run's calibration and thresholds decide (`Tagger.decide`, the same code the service
and `tailtag.load` use), then `--min-tags` / `--max-tags` clip the tag count. Unusable images (corrupt,
truncated, empty, too many pixels) never stop the job: they go to the skipped file with their reason.
Decisions are per image, so batch boundaries only matter to the floating-point arithmetic, and the resume
and sharding code keep those boundaries where an uninterrupted one-process run has them.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from tailtag import __version__, rundir
from tailtag.allocator import keep_freed_memory
from tailtag.data import ImageDataset, prefetch_in_thread
from tailtag.errors import OptionError
from tailtag.features.progress import Progress
from tailtag.features.runtime import decode_workers
from tailtag.images import DEFAULT_MAX_PIXELS
from tailtag.inference import Tagger
from tailtag.predict.formats import clip_tags, format_of, format_rows, format_skipped
from tailtag.predict.inputs import Inputs
from tailtag.predict.resume import Journal, Target
from tailtag.predict.shards import shard_block


@dataclass(frozen=True)
class PredictOptions:
    """How `predict_files` runs; every field but `workers`, `progress` and `force` is part of the job's identity.

    Attributes:
        batch_size: images per forward pass (--batch-size).
        workers: at most this many decode processes; on the CPU only cores torch leaves free (--workers).
        min_tags: images the thresholds give fewer tags get their best-scored labels up to this many (--min-tags).
        max_tags: at most this many tags per image, the best-scored ones; None for no cap (--max-tags).
        max_pixels: images with more pixels are skipped as decompression bombs (--max-pixels).
        flush_rows: flush + fsync the output after at least this many rows (--flush-every).
        progress: show a progress bar with images/s on stderr (off with --quiet).
        force: discard any earlier output or partial output of FILE and start over (--force).
    """

    batch_size: int = 32
    workers: int = 2
    min_tags: int = 0
    max_tags: int | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    flush_rows: int = 256
    progress: bool = True
    force: bool = False

    def __post_init__(self) -> None:
        problems = []
        for flag, value, low in (
            ("--batch-size", self.batch_size, 1),
            ("--workers", self.workers, 0),
            ("--min-tags", self.min_tags, 0),
            ("--max-pixels", self.max_pixels, 1),
            ("--flush-every", self.flush_rows, 1),
        ):
            if not isinstance(value, int) or value < low:
                problems.append(f"{flag} must be an integer >= {low}, got {value!r}")
        if self.max_tags is not None and (not isinstance(self.max_tags, int) or self.max_tags < max(1, self.min_tags)):
            problems.append(
                f"--max-tags must be an integer >= max(1, --min-tags={self.min_tags}), got {self.max_tags!r}"
            )
        if problems:
            raise OptionError("; ".join(problems))

    def identity(self) -> dict[str, Any]:
        """The options that change the output bytes (a resumed job must keep them)."""
        return {k: v for k, v in asdict(self).items() if k not in ("workers", "progress", "force", "flush_rows")}


@dataclass(frozen=True)
class PredictSummary:
    """What one process wrote: its output and skipped files, row counts, and the time it took."""

    out: Path
    skipped: Path
    n_inputs: int
    n_rows: int
    n_skipped: int
    n_resumed: int
    seconds: float

    @property
    def images_per_s(self) -> float:
        return (self.n_inputs - self.n_resumed) / max(self.seconds, 1e-9)


def job_fingerprint(
    tagger: Tagger, backend: str, device: str, options: PredictOptions, inputs: Inputs, out: Path
) -> dict[str, Any]:
    """The identity of a prediction job: the run's files, backend, output-changing options and the input list."""
    run = tagger.model.run.path
    names = [rundir.MODEL, rundir.CONFIG, rundir.WEIGHTS, rundir.THRESHOLDS, rundir.CALIBRATION]
    if backend == "onnx":
        names.append("model.onnx")
    return {
        "tailtag": __version__,
        "run": {name: _file_digest(run / name) for name in names},
        "backend": backend,
        "device": torch.device(device).type,
        "format": format_of(out),
        "options": options.identity(),
        "inputs": {"n": len(inputs), "digest": inputs.digest()},
    }


def _file_digest(path: Path) -> str | None:
    if not path.is_file():
        return None
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            hasher.update(chunk)
    return hasher.hexdigest()


def predict_files(
    tagger: Tagger,
    inputs: Inputs,
    out: str | Path,
    options: PredictOptions | None = None,
    *,
    backend: str = "torch",
    device: str = "cpu",
    rank: int = 0,
    world: int = 1,
) -> PredictSummary:
    """Tag `inputs` into `out` (.csv or .jsonl) and its skipped file, resuming an interrupted run of the same job.

    Args:
        tagger: the run's tagger (`tagger_for(run, backend)`); `backend` and `device` name what it runs on.
        inputs: from `find_inputs`.
        rank, world: under torchrun, this process writes the shard `out.shard-{rank}-of-{world}` of its block.

    Returns:
        A `PredictSummary` of this process's part.
    """
    options = options or PredictOptions()
    out = Path(out)
    target = Target.of(out, format_of(out), rank, world)
    start, end = shard_block(len(inputs), rank, world, options.batch_size)
    fingerprint = job_fingerprint(tagger, backend, device, options, inputs, out)
    fingerprint["shard"] = {"rank": rank, "world": world, "start": start, "end": end}
    journal = Journal(
        target,
        fingerprint,
        inputs.names[start:end],
        options.batch_size,
        flush_rows=options.flush_rows,
        force=options.force,
    )
    began = time.perf_counter()
    target.out.parent.mkdir(parents=True, exist_ok=True)
    done = journal.open()
    if done is None:
        return PredictSummary(
            target.out, target.skipped, end - start, journal.n_rows, journal.n_skipped, end - start, 0
        )
    try:
        _run_batches(tagger, inputs, start + done, end, journal, options, device, target.fmt)
    except BaseException:  # an interruption leaves flushed, resumable partial files
        journal.close()
        raise
    journal.finish(keep_state=world > 1)
    seconds = time.perf_counter() - began
    return PredictSummary(target.out, target.skipped, end - start, journal.n_rows, journal.n_skipped, done, seconds)


def _run_batches(
    tagger: Tagger,
    inputs: Inputs,
    first: int,
    end: int,
    journal: Journal,
    options: PredictOptions,
    device: str,
    fmt: str,
) -> None:
    """Score inputs[first:end] batch by batch and append the rows to `journal`."""
    if first >= end:
        return
    device_type = torch.device(device).type
    if device_type == "cpu":
        keep_freed_memory()  # several times faster CPU forward passes, see tailtag.allocator
    dataset = ImageDataset(
        inputs.paths[first:end], tagger.transform, draft_size=tagger.draft_size, max_pixels=options.max_pixels
    )
    n_batches = -(-(end - first) // options.batch_size)
    workers = min(decode_workers(options.workers, device_type), n_batches)
    if device_type == "cpu" and workers == 1:
        # One decode process adds no parallelism over a prefetch thread (Pillow and torch release the GIL) but
        # costs a process start before the first batch: 0.3-0.6 s measured on 2 cores, 5% of 512 images.
        workers = 0
    loader = DataLoader(
        dataset,
        batch_size=options.batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=device_type == "cuda",
        prefetch_factor=4 if workers else None,
    )
    batches = loader if workers else prefetch_in_thread(loader, depth=2)
    meter = Progress(end - first, f"predict ({len(tagger.names)} labels)", enabled=options.progress)
    names = inputs.names
    try:
        for indices, images, bad in batches:
            rows, n_rows = "", 0
            if images is not None:
                probabilities, decisions = tagger.decide(tagger.raw_probabilities(images))
                decisions = clip_tags(probabilities, decisions, options.min_tags, options.max_tags)
                good = [names[first + i] for i in indices]
                rows, n_rows = format_rows(fmt, good, tagger.names, probabilities, decisions), len(good)
            skipped = format_skipped([(names[first + i], reason) for i, reason in bad])
            journal.write(rows, n_rows, skipped, len(bad))
            meter.update(n_rows + len(bad))
    finally:
        meter.close()


def _collate(samples: list[dict]) -> tuple[list[int], torch.Tensor | None, list[tuple[int, str]]]:
    """(dataset indices of the decoded images, their (B, V, 3, H, W) views or None, (index, reason) of the others).

    Unlike `collate_images`, bad images keep their index: the same path may be listed twice.
    """
    good = [s for s in samples if s["error"] is None]
    images = torch.stack([s["image"] for s in good]) if good else None
    return [s["index"] for s in good], images, [(s["index"], s["error"]) for s in samples if s["error"] is not None]

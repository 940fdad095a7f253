"""`tailtag predict RUN --features FEATS --out FILE`: tags of every feature row, for a run trained on features.

The run's head and decision rule (calibration + thresholds) turn each row of FEATS into tags, block by block,
so the only large array is one block of (rows, K) probabilities; `--min-tags` / `--max-tags` apply as for
images. The output (CSV `img_path,tags`, or JSONL with probabilities) lists the paths as FEATS writes them, in
its row order, and is written atomically: a killed run leaves no partial file (a rerun recomputes it; at
tens of thousands of rows per second there is nothing to resume).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tailtag.errors import OptionError, TailtagError
from tailtag.features.external import read_features
from tailtag.fileio import atomic_write
from tailtag.inference import load_model
from tailtag.predict.formats import HEADERS, clip_tags, format_of, format_rows
from tailtag.thresholds.decision import load_decision

BLOCK_ROWS = 4096  # (4,096, 10,000) float32 probabilities are 160 MB: a bound that holds at any label count


@dataclass(frozen=True)
class FeaturePredictSummary:
    out: Path
    n_rows: int
    seconds: float


def predict_features(
    run: str | Path,
    features: str | Path,
    out: str | Path,
    *,
    feature_paths: str | Path | None = None,
    min_tags: int = 0,
    max_tags: int | None = None,
) -> FeaturePredictSummary:
    """Write the tags of every row of `features` under the run `run` (trained with `tailtag train --features`)."""
    start = time.perf_counter()
    out = Path(out)
    fmt = format_of(out)
    model = load_model(run)
    if not model.on_features:
        raise OptionError(
            f"--features: {model.run.path} reads images (its backbone is {model.run.model.backbone.get('name')!r})\n"
            f"  fix: tailtag predict {model.run.path} IMAGES --out {out}"
        )
    decision = load_decision(model.run.path)
    if decision is None:
        raise TailtagError(
            f"{model.run.path} has no decision rule (calibration.json, thresholds.json)\n"
            f"  fix: tailtag evaluate {model.run.path} (fits and saves it)"
        )
    if min_tags > len(model.names):
        raise OptionError(f"--min-tags {min_tags} is more than the run's {len(model.names)} labels")
    feature_set = read_features(features, paths_file=feature_paths)
    if feature_set.dim != model.run.model.head.in_features:
        raise OptionError(
            f"--features {features}: vectors of {feature_set.dim} values, but the run's head takes "
            f"{model.run.model.head.in_features}\n  fix: use features from the model the run was trained on"
        )
    scorer = model.feature_scorer()
    names = [str(p) for p in feature_set.paths]
    with atomic_write(out, "w", newline="") as handle:
        handle.write(HEADERS[fmt])
        for first in range(0, len(feature_set), BLOCK_ROWS):
            rows = np.arange(first, min(first + BLOCK_ROWS, len(feature_set)))
            with torch.inference_mode():
                raw = scorer(torch.from_numpy(feature_set.take(rows))).numpy()
            probabilities, decisions = decision.probabilities(raw), decision.predict(raw)
            decisions = clip_tags(probabilities, decisions, min_tags, max_tags)
            handle.write(format_rows(fmt, names[first : first + len(rows)], model.names, probabilities, decisions))
    return FeaturePredictSummary(out, len(feature_set), time.perf_counter() - start)

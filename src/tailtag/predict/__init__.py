"""Prediction with a trained run: image files in, tags out (`tailtag predict`, `tailtag.load`).

inputs    INPUT (folder, list file, glob) -> `Inputs`, the ordered images of a job
backends  "torch" / "onnx" scorers and `tagger_for(run, backend)`, behind `tailtag.load`
batch     `predict_files`: decode in parallel, score, decide, write rows
formats   the CSV / JSONL / skipped-file rows and the --min-tags / --max-tags clipping
resume    partial files, job fingerprint, verification after a kill
shards    torchrun blocks, the barrier, and merging shard files
"""

from tailtag.predict.backends import BACKENDS, Backend, create_scorer, tagger_for
from tailtag.predict.batch import PredictOptions, PredictSummary, predict_files
from tailtag.predict.formats import FORMATS, clip_tags, format_of
from tailtag.predict.inputs import Inputs, find_inputs
from tailtag.predict.shards import MergeResult, merge_shards, shard_block

__all__ = [
    "BACKENDS",
    "FORMATS",
    "Backend",
    "Inputs",
    "MergeResult",
    "PredictOptions",
    "PredictSummary",
    "clip_tags",
    "create_scorer",
    "find_inputs",
    "format_of",
    "merge_shards",
    "predict_files",
    "shard_block",
    "tagger_for",
]

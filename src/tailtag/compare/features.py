"""The data of a comparison, prepared once: labels, the train / val / test split, and the frozen-backbone
features of every image (through tailtag.features' on-disk cache), saved as `OUT/features.npz` for the
worker processes. Every training of the grid reads this one file instead of touching an image again."""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tailtag.compare.grid import CompareConfig, DataSpec, digest
from tailtag.errors import OptionError
from tailtag.fileio import atomic_write
from tailtag.labels import LabelTable
from tailtag.stats.imbalance import assign_buckets

FEATURES_FILE = "features.npz"
SUBSETS = ("train", "val", "test")


@dataclass
class Prepared:
    """Everything a cell needs, as arrays.

    Attributes:
        features: (V, N, D) float32 features of the N usable images (views x images x dims).
        targets: (N, K) uint8 multi-hot labels of the same images.
        subset: (N,) int8, 0 train / 1 val / 2 test.
        names: K label names.
        tail: (K,) bool, labels in the tail bucket by training counts (may be all False).
        data_id: hash of the labels, split and feature settings (part of every cell key).
    """

    features: np.ndarray
    targets: np.ndarray
    subset: np.ndarray
    names: list[str]
    tail: np.ndarray
    task: str
    data_id: str

    def rows(self, name: str) -> np.ndarray:
        return np.flatnonzero(self.subset == SUBSETS.index(name))

    def save(self, path: Path) -> None:
        with atomic_write(path, "wb") as handle:
            np.savez(
                handle,
                features=self.features,
                targets=self.targets,
                subset=self.subset,
                names=np.array(self.names),
                tail=self.tail,
                meta=np.array([self.task, self.data_id]),
            )

    @classmethod
    def load(cls, path: Path) -> Prepared:
        with np.load(path, allow_pickle=False) as data:
            task, data_id = (str(v) for v in data["meta"])
            return cls(
                data["features"], data["targets"], data["subset"], [str(n) for n in data["names"]], data["tail"],
                task, data_id,
            )  # fmt: skip


def load_data(spec: DataSpec) -> LabelTable:
    """The label table of `spec`, image paths resolved against `spec.images` when given."""
    from tailtag.labels.options import ReadOptions
    from tailtag.labels.readers import read_labels

    try:
        options = ReadOptions(**{**spec.options, "images": Path(spec.images) if spec.images else None})
    except TypeError as error:
        valid = ", ".join(ReadOptions.__dataclass_fields__)
        raise OptionError(f"'data.options': {error}; valid keys: {valid}") from None
    table = read_labels(spec.labels, options)
    return table.with_root(spec.images) if spec.images else table


def split_rows(table: LabelTable, spec: DataSpec) -> dict[str, np.ndarray]:
    """train / val / test row indices: the split folder's, or a stratified split seeded by data.split_seed."""
    from tailtag.split import read_split, split_table

    if spec.split is not None:
        subsets = read_split(spec.split, table)
        missing = [name for name in SUBSETS if name not in subsets]
        if missing:
            raise OptionError(
                f"'data.split' {spec.split}: no {', '.join(m + '.txt' for m in missing)}; compare fits decision rules "
                "on val and reports on test, so it needs all three\n"
                f"  fix: tailtag split LABELS --out {spec.split} --fractions 0.6,0.2,0.2"
            )
        return {name: subsets[name] for name in SUBSETS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate labels are reported by `tailtag inspect`
        split = split_table(table, fractions=list(spec.fractions), seed=spec.split_seed)
    return {name: np.asarray(rows) for name, rows in split.indices().items()}


def prepare(config: CompareConfig, *, progress: bool = True) -> Prepared:
    """Read the labels, split them, extract (or read cached) features; drop unusable images with a warning."""
    from tailtag.config import make_config
    from tailtag.features import extract_features
    from tailtag.models import create_backbone
    from tailtag.models.trunk import split_backbone
    from tailtag.split import file_sha256

    base = make_config(config.train)
    table = load_data(config.data)
    subsets = split_rows(table, config.data)
    rows = np.concatenate([subsets[name] for name in SUBSETS])
    subset = np.concatenate([np.full(len(subsets[name]), i, dtype=np.int8) for i, name in enumerate(SUBSETS)])
    backbone = create_backbone(
        base.backbone, None if base.weights == "none" else base.weights, input_size=base.image_size or None
    )
    cached, _, _ = split_backbone(backbone, base.top_blocks)
    features = extract_features(
        cached,
        [table.resolve(p) for p in table.paths[rows]],
        views=tuple(base.views),
        batch_size=base.feature_batch_size,
        num_workers=base.num_workers,
        cache_dir=Path(base.cache_dir).expanduser(),
        progress=progress,
        on_bad="skip",
    )
    ok = ~np.isnan(features[0, :, 0])
    if not ok.all():
        print(f"warning: left out {int((~ok).sum())} unreadable image(s) of {len(ok)}", file=sys.stderr)
    rows, subset, features = rows[ok], subset[ok], features[:, ok]
    targets = table.matrix[rows].toarray().astype(np.uint8)
    counts = targets[subset == 0].sum(axis=0)
    tail = assign_buckets(counts, head_min=base.head_min, tail_max=base.tail_max) == "tail"
    label_file = Path(config.data.labels)
    data_id = digest(
        {
            "labels": file_sha256(label_file) if label_file.is_file() else str(label_file.resolve()),
            "rows": digest(rows.tolist()),
            "subset": digest(subset.tolist()),
            "features": [cached.name, cached.weights_id, list(base.views), base.image_size, base.top_blocks],
        }
    )
    return Prepared(features.astype(np.float32), targets, subset, list(table.names), tail, table.task, data_id)

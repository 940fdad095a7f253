"""Reading a run directory written by `tailtag train`: its config, model description, labels and data source.

Every later stage (evaluate, predict, export, serve) starts here, so a missing or damaged file is reported
once, naming the file and what to do, instead of as a KeyError deep inside a command.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailtag import rundir
from tailtag.config import TrainConfig, load_config
from tailtag.errors import LabelFileError, TailtagError
from tailtag.labels import LabelTable
from tailtag.labels.options import ReadOptions
from tailtag.labels.readers import read_labels
from tailtag.rundir import ModelInfo, read_json

DATA_FILE = rundir.DATA


@dataclass(frozen=True)
class RunFiles:
    """What a finished run directory says about itself.

    Attributes:
        path: the run directory.
        config: the resolved training config (config.yaml).
        model: model.json (`ModelInfo`): backbone identity and preprocessing, head, output kind, views.
        labels: labels.json: names in column order, task, training counts, head/medium/tail buckets.
        data: data.json: the label file, its read options and the image folder the run was trained on
            (None for runs written before data.json existed, or trained from a table in Python).
    """

    path: Path
    config: TrainConfig
    model: ModelInfo
    labels: dict[str, Any]
    data: dict[str, Any] | None

    @property
    def names(self) -> list[str]:
        return list(self.labels["names"])

    @property
    def task(self) -> str:
        return str(self.labels.get("task", "multilabel"))

    def file(self, name: str) -> Path:
        return self.path / name

    def features_source(self) -> tuple[Path, Path | None]:
        """(FEATS, its paths file or None) of a run trained on features computed elsewhere, from data.json."""
        source = (self.data or {}).get("features")
        if not isinstance(source, dict) or not isinstance(source.get("path"), str):
            raise TailtagError(
                f"{self.file(DATA_FILE)} records no features file for this run trained on features\n"
                "  fix: pass the features with --features FEATS"
            )
        paths = source.get("paths")
        return Path(source["path"]), Path(paths) if isinstance(paths, str) else None

    def training_table(self) -> LabelTable:
        """Reread the label table the run was trained on, from data.json."""
        where = self.file(DATA_FILE)
        if self.data is None:
            raise TailtagError(
                f"{self.path} has no {DATA_FILE} (the run does not record its label file)\n"
                "  fix: pass the labels with --data LABELS --images DIR"
            )
        try:
            raw = self.data["options"]
            images = Path(self.data["images"]) if self.data.get("images") else None
            options = ReadOptions(
                **{k: Path(v) if k in ("classes", "paths_file") else v for k, v in raw.items() if k != "images"},
                images=images,
            )
            labels = self.data["labels"]
        except (KeyError, TypeError, AttributeError) as exc:
            raise LabelFileError(
                where, f"malformed data source ({exc})", fix="pass --data LABELS --images DIR"
            ) from exc
        if not Path(labels).exists():
            raise TailtagError(
                f"{where}: the run was trained on {labels}, which no longer exists\n"
                "  fix: pass the labels with --data LABELS (and --images DIR)"
            )
        table = read_labels(labels, options)
        return table.with_root(self.data["images"]) if self.data.get("images") else table


def read_run(path: str | Path) -> RunFiles:
    """Check and read the run directory `path` (see `tailtag.rundir` for its layout)."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise TailtagError(f"run directory {path} does not exist\n  fix: pass the --out folder of a tailtag train run")
    missing = [name for name in rundir.REQUIRED if not (path / name).is_file()]
    if missing:
        unfinished = (path / rundir.CHECKPOINT).is_file()
        hint = (
            "the run is unfinished: rerun the same tailtag train command to finish it"
            if unfinished
            else ("pass the --out folder of a finished tailtag train run")
        )
        raise TailtagError(f"run directory {path} lacks {', '.join(missing)}\n  fix: {hint}")
    model = ModelInfo.from_dict(read_json(path / rundir.MODEL, "model description"), source=path / rundir.MODEL)
    labels = read_json(path / rundir.LABELS, "label description")
    if "names" not in labels:
        raise LabelFileError(path / rundir.LABELS, "key 'names' is missing", fix="retrain with this tailtag version")
    data = read_json(path / DATA_FILE, "data source") if (path / DATA_FILE).is_file() else None
    config = load_config(path / rundir.CONFIG, allow_empty=False)
    return RunFiles(path=path, config=config, model=model, labels=labels, data=data)

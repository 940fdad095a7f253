"""The run directory as training writes it (names and layout: `tailtag.rundir`), shared by both modes.

`prepare_out` readies the folder before any work (refusing another config's run, clearing a --restart),
`save_weights` writes a safetensors file atomically, and `write_run` writes the selected epoch's artifacts.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors.torch import save

from tailtag import rundir
from tailtag.config import TrainConfig, save_config
from tailtag.errors import TailtagError
from tailtag.fileio import fsync_dir, write_bytes, write_json
from tailtag.labels import LabelTable
from tailtag.losses import TailLoss
from tailtag.rundir import HeadInfo, ModelInfo
from tailtag.split import write_split
from tailtag.train import distributed
from tailtag.train.checkpoint import load_checkpoint
from tailtag.train.logs import RunLog

if TYPE_CHECKING:  # annotations only: writing a run trained on embeddings needs no backbone code
    from tailtag.models import Backbone


@contextmanager
def no_partial_run(out: Path, *, is_main: bool = True) -> Iterator[None]:
    """Undo what a training attempt wrote in `out` when it fails before its first checkpoint.

    A failure after a checkpoint exists leaves everything (rerunning resumes). Before it, the folder is
    removed when this attempt created it, else the files this attempt added are; the skipped-images report
    stays, because the error message points at it.
    """
    out = Path(out)
    existed = out.exists()
    before = set(out.iterdir()) if existed and out.is_dir() else set()
    try:
        yield
    except BaseException:
        if is_main and out.is_dir() and not (out / rundir.CHECKPOINT).exists():
            added = [p for p in out.iterdir() if p not in before and p.name != rundir.SKIPPED]
            for path in added:
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink(missing_ok=True)
            if not existed and not any(out.iterdir()):
                out.rmdir()
            fsync_dir(out.parent if not out.exists() else out)
        raise


def save_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    """Write a state dict as safetensors (CPU, contiguous), atomically."""
    write_bytes(path, save({k: v.detach().cpu().contiguous() for k, v in state.items()}))


def prepare_out(
    out: Path, config: TrainConfig, dist: distributed.DistInfo, restart: bool, data_source: dict | None = None
) -> Path:
    """Create `out` and write config.yaml (and data.json); refuse a run of another config unless `restart`,
    which removes every file of the old run first."""
    if not restart:  # on every rank: a raise on rank 0 alone would leave the others waiting at the barrier
        refuse_other_config(out, config)
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob(f".{rundir.CHECKPOINT}.*tmp*"):  # left by a process killed while saving
            stale.unlink(missing_ok=True)
        if restart:  # nothing of the old run may survive next to the new config (a killed restart included)
            for name in (*rundir.TRAINING_STATE, *rundir.OUTPUT_FILES, *rundir.FITTED_FILES):
                (out / name).unlink(missing_ok=True)
            shutil.rmtree(out / rundir.TENSORBOARD, ignore_errors=True)
        save_config(config, out / rundir.CONFIG)
        if data_source is not None:
            write_json(out / rundir.DATA, data_source)
    distributed.barrier(dist)
    return out


def refuse_other_config(out: Path, config: TrainConfig) -> None:
    """Stop before any work (and before config.yaml is rewritten) when `out` holds a run of another config."""
    checkpoint = load_checkpoint(out / rundir.CHECKPOINT)
    new = asdict(config)
    if checkpoint is None or checkpoint["config"] == new:
        return
    old = checkpoint["config"]
    changed = [f"{key}: {old.get(key)!r} -> {new[key]!r}" for key in new if old.get(key) != new[key]]
    status = "a finished" if checkpoint["state"].get("finished") else "an unfinished"
    raise TailtagError(
        f"--out {out} holds {status} run with a different config ({'; '.join(changed)})\n"
        "  fix: rerun with the same options to resume it, choose a new --out, or add --restart to start over"
    )


def model_info(config: TrainConfig, backbone: Backbone, loss: TailLoss, n_labels: int) -> ModelInfo:
    """model.json of a run trained with `config`: the loss says how its logits become probabilities."""
    head = HeadInfo(
        name=config.head,
        in_features=backbone.num_features,
        n_outputs=loss.n_outputs or n_labels,
        hidden=config.hidden,
        dropout=config.dropout,
    )
    output = loss.output_info()
    return ModelInfo(
        backbone=backbone.describe(),
        head=head,
        loss=config.loss,
        output=output["output"],
        views=list(config.views),
        labelsets=output.get("labelsets"),
    )


def write_run(
    out: Path,
    *,
    table: LabelTable,
    config: TrainConfig,
    backbone: Backbone,
    head: torch.nn.Module,
    loss: TailLoss,
    state: dict[str, Any],
    subsets: dict[str, np.ndarray],
    train_rows: np.ndarray,
    val_rows: np.ndarray,
    counts: np.ndarray,
    buckets: np.ndarray,
    log: RunLog,
) -> None:
    """Write the run directory's artifacts from the selected epoch (weights already loaded in the modules).

    Args:
        state: the training loop's state: best_epoch, best_metrics (with per_class), history.
        subsets: the split's row indices; train_rows / val_rows: the rows actually used (bad images left out).
        counts, buckets: (K,) training label counts and their head/medium/tail buckets.
    """
    weights = {f"backbone.{k}": v for k, v in backbone.model.state_dict().items()}
    weights.update({f"head.{k}": v for k, v in head.state_dict().items()})
    save_weights(weights, out / rundir.WEIGHTS)
    write_json(out / rundir.MODEL, model_info(config, backbone, loss, table.n_labels).to_dict())
    labels = {
        "names": table.names,
        "task": table.task,
        "train_counts": counts.astype(int).tolist(),
        "buckets": dict(zip(table.names, buckets, strict=True)),
    }
    write_json(out / rundir.LABELS, labels)
    best = dict(state["best_metrics"])
    per_class = best.pop("per_class")
    best["per_class"] = {name: {key: per_class[key][j] for key in per_class} for j, name in enumerate(table.names)}
    best.update(
        epoch=state["best_epoch"],
        select_metric=config.select_metric,
        threshold=config.threshold,
        n_train=len(train_rows),
        n_val=len(val_rows),
        history=state["history"],
    )
    write_json(out / rundir.METRICS, best)
    subsets_used = {"train": train_rows, "val": val_rows, **({"test": subsets["test"]} if "test" in subsets else {})}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_split(out / rundir.SPLIT, table, subsets_used, force=True)
    log.plot_curves(state["history"])
    log.close()
    log.info(
        f"selected epoch {state['best_epoch']}: "
        + "  ".join(f"{k} {best[k]:.4f}" for k in ("macro_f1", "micro_f1", "mAP", "label_accuracy", "subset_accuracy"))
    )
    log.info(f"wrote {out}: " + ", ".join(rundir.OUTPUT_FILES))

"""Evaluating a run directory: its own validation/test split, or any labelled set it never saw.

The decision (calibration + thresholds) is always fitted on the run's validation split and saved in the run
(`fit_run_decision`). When the evaluated split is that validation split, the reported decisions are
cross-fitted (`tailtag.evaluation.cross_fit`) so the gain over 0.5 is measured on images the thresholds did
not see; on a test split or another data set the saved decision is applied as is.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tailtag import rundir
from tailtag.allocator import release_freed_memory
from tailtag.errors import OptionError, TailtagError
from tailtag.evaluation.cross_fit import cross_fitted
from tailtag.evaluation.select import select_rule
from tailtag.evaluation.summary import EvaluationArrays, summarize
from tailtag.features.external import FeatureSet, read_features
from tailtag.images import ImageProblem
from tailtag.inference import RunFiles, RunModel, load_model, score_features, score_images
from tailtag.labels import LabelTable
from tailtag.split import read_split
from tailtag.thresholds.decision import Decision, fit_decision, load_decision
from tailtag.thresholds.policy import AUTO, default_fit, fit_arguments  # noqa: F401  (default_fit re-exported)

SPLITS = ("val", "test", "train", "all")


@dataclass
class Evaluation:
    """`summary`: the JSON-ready result; `arrays`: what it was computed from; `problems`: unreadable images."""

    summary: dict
    arrays: EvaluationArrays
    problems: list[ImageProblem]


def fit_run_decision(
    run: str | Path | RunModel,
    *,
    table: LabelTable | None = None,
    strategy: str | None = None,
    strategy_params: dict | None = None,
    calibration: str | None = None,
    progress: bool = True,
    features: FeatureSet | None = None,
) -> Decision:
    """Fit calibration and thresholds on the run's validation split and save them into the run directory.

    `features`: for a run trained on features computed elsewhere, the vectors to score (default: the source
    its data.json records)."""
    model = run if isinstance(run, RunModel) else load_model(run)
    files = model.run
    table = table if table is not None else files.training_table()
    features = features if features is not None else run_features(model)
    # The cached (float16) activations are plenty for fitting: no second pass over the validation images.
    targets, raw, _, _ = _score_rows(model, table, _split_rows(files, table, "val"), progress, True, features)
    del features  # at millions of rows its paths are ~100 MB: not needed by the fit below
    # Reading the split and the features' paths freed tens of MB between live blocks (at a million rows):
    # handed back now, or glibc would count them through the fit (`tailtag.allocator`)
    release_freed_memory()
    fit = fit_arguments(files.task, strategy, strategy_params, calibration)
    selection = None
    if fit["strategy"] == AUTO:
        chosen, selection = select_rule(targets, raw, task=files.task)
        fit = {**chosen, "calibration": calibration or chosen["calibration"]}
        release_freed_memory()
    decision = fit_decision(targets, raw, model.names, task=files.task, **fit)
    if selection is not None:  # saved with the thresholds: why this rule
        decision.thresholds.extra_["selected_from"] = {name: round(v, 6) for name, v in selection.items()}
    decision.save(files.path)
    return decision


def evaluate_run(
    run: str | Path,
    *,
    table: LabelTable | None = None,
    split: str | None = None,
    strategy: str | None = None,
    strategy_params: dict | None = None,
    calibration: str | None = None,
    refit: bool = False,
    n_folds: int = 5,
    progress: bool = True,
    features: str | Path | None = None,
    feature_paths: str | Path | None = None,
) -> Evaluation:
    """Evaluate the run at `run` on `table` (default: the data it was trained on) and `split`.

    Args:
        split: "val" / "test" / "train" of the run's split folder, or "all" rows of `table`. Default: "test"
            when the run has one, else "val" on the run's own data; "all" for another table.
        strategy, strategy_params, calibration: refit the decision this way (implies `refit`).
        refit: refit the decision on the validation split even if the run has one saved.
        features, feature_paths: for a run trained on features computed elsewhere, the vectors of the images
            (default: the source its data.json records); ignored for runs that read images.
    """
    model = load_model(run)
    files = model.run
    feature_set = run_features(model, features, feature_paths)
    own = table is None
    table = files.training_table() if own else table
    split = split or (_default_split(files) if own else "all")
    if split not in SPLITS:
        raise OptionError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    refit = refit or strategy is not None or calibration is not None or strategy_params is not None
    decision = None if refit else load_decision(files.path)
    fit_table = table if own else _training_table_or_none(files)
    if decision is None:
        if fit_table is None:
            raise TailtagError(
                f"{files.path} has no thresholds.json and its training data cannot be found to fit one\n"
                f"  fix: run `tailtag evaluate {files.path}` once on the run's own data first"
            )
        decision = fit_run_decision(
            model,
            table=fit_table,
            strategy=strategy,
            strategy_params=strategy_params,
            calibration=calibration,
            progress=progress,
            features=feature_set,
        )
    rows = _split_rows(files, table, split)
    targets, raw, paths, problems = _score_rows(model, table, rows, progress, False, feature_set)
    fit = {
        "strategy": decision.thresholds.strategy,
        "strategy_params": decision.thresholds.get_params(),
        "calibration": decision.calibrator.method,
    }
    probabilities = decision.probabilities(raw)
    if own and split == "val":
        held_out_probabilities, decisions = cross_fitted(targets, raw, fit, n_folds=n_folds, task=files.task)
        held_out = f"{n_folds}-fold cross-fitting on the validation split the saved thresholds were fitted on"
        if "selected_from" in decision.thresholds.extra_:
            held_out += " (the rule itself was chosen on the same folds: slightly optimistic)"
        fit_targets = targets
    else:
        held_out_probabilities, decisions = probabilities, decision.predict(raw)
        held_out = "the saved decision (fitted on the validation split) applied to data it was not fitted on"
        if own and split == "train":
            held_out = "the training split: the model was fitted on these images, so every number is optimistic"
        fit_targets = _validation_targets(files, fit_table, model.names) if fit_table is not None else targets
    arrays = EvaluationArrays(
        names=model.names,
        paths=paths,
        targets=targets,
        raw=raw,
        probabilities=probabilities,
        decisions=decisions,
        held_out_probabilities=held_out_probabilities,
        thresholds=decision.thresholds.thresholds_,
        train_counts=np.asarray(files.labels["train_counts"], dtype=np.int64),
        n_train=_n_train(files),
        buckets=np.array([files.labels["buckets"][name] for name in model.names]),
        fit_targets=fit_targets,
    )
    summary = summarize(arrays, task=files.task, held_out=held_out, n_skipped=len(problems), **fit)
    summary = {
        "run": str(files.path),
        "data": table.source,
        "split": split,
        "n_images": len(paths),
        "n_labels": len(model.names),
        **summary,
    }
    return Evaluation(summary, arrays, problems)


def _default_split(files: RunFiles) -> str:
    return "test" if (files.path / "split" / "test.txt").is_file() else "val"


def _training_table_or_none(files: RunFiles) -> LabelTable | None:
    try:
        return files.training_table()
    except TailtagError:
        return None


def _split_rows(files: RunFiles, table: LabelTable, split: str) -> np.ndarray:
    if split == "all":
        return np.arange(table.n_images)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a stale-split note is for `train`; evaluation reads what the run used
        subsets = read_split(files.path / "split", table)
    if split not in subsets:
        raise OptionError(
            f"the run's split folder {files.path / 'split'} has no {split}.txt; valid: {', '.join(subsets)}, all"
        )
    return subsets[split]


def _label_columns(table: LabelTable, names: list[str]) -> np.ndarray:
    """Column of each run label in `table`; error naming the labels the data lacks."""
    index = {name: j for j, name in enumerate(table.names)}
    missing = [name for name in names if name not in index]
    if missing:
        raise TailtagError(
            f"{table.source}: the evaluation data lacks {len(missing)} of the run's {len(names)} labels "
            f"({', '.join(missing[:10])}{', ...' if len(missing) > 10 else ''})\n"
            "  fix: evaluate on data labelled with the same label names (extra labels are ignored)"
        )
    return np.array([index[name] for name in names], dtype=np.int64)


def run_features(
    model: RunModel, features: str | Path | None = None, feature_paths: str | Path | None = None
) -> FeatureSet | None:
    """The feature vectors a run trained on features computed elsewhere scores: `features` when given, else the
    source its data.json records; None for a run that reads images."""
    if not model.on_features:
        return None
    if features is None:
        features, feature_paths = model.run.features_source()
        if not Path(features).exists():
            raise TailtagError(
                f"{model.run.path}: the run was trained on the features {features}, which no longer exist\n"
                "  fix: pass them with --features FEATS"
            )
    return read_features(features, paths_file=feature_paths)


def _score_rows(
    model: RunModel,
    table: LabelTable,
    rows: np.ndarray,
    progress: bool,
    cache: bool = False,
    features: FeatureSet | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str], list[ImageProblem]]:
    """(targets (n, K), raw probabilities (n, K), paths, problems) of the readable images among `rows`.

    Evaluation scores directly (`cache=False`): the same float32 probabilities `predict` computes.
    """
    columns = _label_columns(table, model.names)
    if features is not None:  # matched on the paths as written in the label file, like training matched them
        paths = [str(p) for p in table.paths[rows]]
        scores = score_features(model, features, paths)
    else:
        paths = [str(table.resolve(p)) for p in table.paths[rows]]
        scores = score_images(model, paths, cache=cache, progress=progress)
    if not scores.ok.any():
        raise TailtagError(f"none of the {len(paths):,} images could be read; first problem: {scores.problems[:1]}")
    targets = table.matrix[rows][:, columns].astype(np.uint8).toarray()
    if scores.ok.all():  # no (n, K) copies of what is all kept (80 + 20 MB at 2,000 x 10,000)
        return targets, scores.probabilities, paths, scores.problems
    kept = [p for p, ok in zip(paths, scores.ok, strict=True) if ok]
    return targets[scores.ok], scores.probabilities[scores.ok], kept, scores.problems


def _validation_targets(files: RunFiles, table: LabelTable, names: list[str]) -> np.ndarray:
    rows = _split_rows(files, table, "val")
    return table.matrix[rows][:, _label_columns(table, names)].toarray().astype(np.uint8)


def _n_train(files: RunFiles) -> int:
    try:
        return int(json.loads((files.file(rundir.METRICS)).read_text(encoding="utf-8"))["n_train"])
    except (OSError, ValueError, KeyError, TypeError):
        return int(max(np.max(files.labels["train_counts"]), 1))

"""From a model's raw probabilities to tags: per-label calibration, then the fitted thresholds.

The pair is fitted once on a run's validation split and saved next to the model (calibration.json,
thresholds.json), so evaluation, batch prediction, export and the service all decide the same way. The two
files are one unit: each carries the same `decision_id` (a hash of both contents), each is written atomically,
and `load_decision` refuses a run where one is missing, unreadable or from another fit (a crash between the
two writes), naming the file and the fix, instead of silently deciding without calibration.
Calibration comes first: a monotone per-label map leaves each label's ranking unchanged, but it puts the
labels on one probability scale, which is what a shared global threshold (and the shrinkage of per-label
thresholds toward it) assumes.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import numpy as np

from tailtag import rundir
from tailtag.artifacts import save_artifact
from tailtag.calibration import Calibrator, create_calibrator, load_calibration
from tailtag.errors import LabelFileError, OptionError, TailtagError
from tailtag.labels.table import Task
from tailtag.thresholds._base import Thresholds
from tailtag.thresholds._registry import create_thresholds, load_thresholds
from tailtag.thresholds.policy import DEFAULT_CALIBRATION, FIT_STRATEGY
from tailtag.validation import check_choice

THRESHOLDS_FILE = rundir.THRESHOLDS
CALIBRATION_FILE = rundir.CALIBRATION
DECISION_ID = "decision_id"
# fit_decision's own defaults; what the CLI fits when nothing is named is `tailtag.thresholds.policy`.
DEFAULT_STRATEGY = FIT_STRATEGY
TASKS = get_args(Task)


@dataclass
class Decision:
    """A fitted calibrator and fitted thresholds.

    Attributes:
        calibrator: raw probabilities (N, K) -> calibrated probabilities (N, K).
        thresholds: calibrated probabilities -> (N, K) 0/1 decisions (`Thresholds.predict`, so top-k works).
    """

    calibrator: Calibrator
    thresholds: Thresholds

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        """(N, K) float64 calibrated probabilities of (N, K) raw ones.

        float64, as the thresholds were fitted on: at a low temperature float32 would round distinct top scores
        to exact 1.0 ties (any calibrated logit above 16.6) and change rankings and decisions near a threshold.
        """
        return np.asarray(self.calibrator.transform(raw), dtype=np.float64)

    def predict(self, raw: np.ndarray) -> np.ndarray:
        """(N, K) uint8 decisions for (N, K) raw probabilities."""
        return self.thresholds.predict(self.probabilities(raw))

    def save(self, directory: str | Path) -> tuple[Path, Path]:
        """Write calibration.json and thresholds.json into `directory`, both stamped with one `decision_id`."""
        directory = Path(directory)
        calibration, thresholds = self.calibrator.to_dict(), self.thresholds.to_dict()
        for part in (calibration, thresholds):
            part.pop(DECISION_ID, None)
        stamp = {DECISION_ID: decision_id(calibration, thresholds)}
        return (
            save_artifact({**calibration, **stamp}, directory / CALIBRATION_FILE),
            save_artifact({**thresholds, **stamp}, directory / THRESHOLDS_FILE),
        )


def decision_id(calibration: dict, thresholds: dict) -> str:
    """16 hex digits of SHA-256 over both artifacts (canonical JSON): the same fit gives the same id."""
    canonical = json.dumps([calibration, thresholds], sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def fit_decision(
    targets: np.ndarray,
    raw: np.ndarray,
    names: list[str] | None = None,
    *,
    strategy: str = DEFAULT_STRATEGY,
    strategy_params: dict | None = None,
    calibration: str = DEFAULT_CALIBRATION,
    task: Task = "multilabel",
    quiet: bool = False,
    rows: np.ndarray | None = None,
) -> Decision:
    """Fit calibration on (N, K) `targets` / `raw` probabilities, then thresholds on the calibrated ones.

    Multi-class runs pass strategy "top_k" with min_tags = max_tags = 1 (the arg-max decision) and
    task="multiclass": temperature calibration then fits one T shared by all classes, so each row of calibrated
    probabilities still sums to 1 and its arg-max is unchanged.
    `quiet` silences the fitting warnings (fallback counts), e.g. inside cross-fitting folds.
    `rows` (a bool mask or indices) fits on those rows only, without the caller holding copies of them: the
    copy of `raw`'s rows lives only through the calibrator's fit, and the calibrated float64 rows are made a
    block at a time from `raw` itself (cross-fitting 1,600 of 2,000 x 10,000 rows: 64 MB less at its peak).
    """
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        calibrator = create_calibrator(calibration, **_calibration_params(calibration, task))
        if rows is None:
            calibrator.fit(targets, raw, names=names)
            calibrated = calibrator.transform(raw)
        else:
            rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows)
            targets = targets[rows]
            calibrator.fit(targets, raw[rows], names=names)  # the copy of raw's rows is dropped right after
            calibrated = _transform_rows(calibrator, raw, rows)
        thresholds = create_thresholds(strategy, **(strategy_params or {}))
        thresholds.fit(targets, calibrated, names=names)
    return Decision(calibrator, thresholds)


def _transform_rows(
    calibrator: Calibrator, raw: np.ndarray, rows: np.ndarray, block_cells: int = 1 << 20
) -> np.ndarray:
    """(len(rows), K) float64 `calibrator.transform(raw[rows])`, transformed a block of rows at a time: every
    calibration maps each cell (or, multi-class, each row) on its own, so the blocks give the same values."""
    out = np.empty((len(rows), raw.shape[1]), dtype=np.float64)
    step = max(1, block_cells // max(1, raw.shape[1]))
    for start in range(0, len(rows), step):
        out[start : start + step] = calibrator.transform(raw[rows[start : start + step]])
    return out


def _calibration_params(calibration: str, task: Task) -> dict:
    """The calibrator's parameters for `task`: per-class maps would break a softmax row's sum of 1."""
    check_choice(task, "task", "fit_decision", choices=TASKS)
    if task == "multilabel" or calibration == "none":
        return {}
    if calibration == "temperature":
        return {"task": "multiclass"}
    raise OptionError(
        f"calibration {calibration!r} fits each class on its own, so on a multi-class run the calibrated rows would "
        "no longer sum to 1 and could change the top class\n  fix: use --calibration temperature (one temperature "
        "shared by all classes) or none"
    )


def load_decision(directory: str | Path) -> Decision | None:
    """The decision saved in `directory`; None when neither of its files exists (not fitted yet).

    Raises:
        TailtagError: one file without the other. LabelFileError: a file that cannot be read, or two files
            from different fits (different `decision_id`, or one stamped and one not). Each message names the
            file and the fix, `tailtag evaluate RUN --refit`.
    """
    directory = Path(directory)
    paths = {name: directory / name for name in rundir.DECISION_FILES}
    present = [name for name, path in paths.items() if path.is_file()]
    if not present:
        return None
    fix = f"tailtag evaluate {directory} --refit (fits the decision rule again and saves both files)"
    if len(present) < len(paths):
        missing = next(name for name in paths if name not in present)
        raise TailtagError(
            f"{directory} has no {missing}, while {present[0]} is there: the decision rule is incomplete\n  fix: {fix}"
        )
    try:
        calibrator = load_calibration(paths[CALIBRATION_FILE])
        thresholds = load_thresholds(paths[THRESHOLDS_FILE])
    except LabelFileError as exc:
        raise LabelFileError(exc.path, exc.problem, line=exc.line, fix=fix) from exc
    stamps = (calibrator.extra_.pop(DECISION_ID, None), thresholds.extra_.pop(DECISION_ID, None))
    problem = None
    if stamps[0] != stamps[1]:
        problem = f"{DECISION_ID} {stamps[1]!r} does not match {CALIBRATION_FILE}'s {stamps[0]!r}"
    elif calibrator.n_labels_ != thresholds.thresholds_.size or (
        calibrator.names_ is not None and thresholds.names_ is not None and calibrator.names_ != thresholds.names_
    ):
        problem = f"its labels do not match {CALIBRATION_FILE}'s"
    if problem is not None:
        raise LabelFileError(
            paths[THRESHOLDS_FILE], f"{problem}: the two files come from different fits of the decision rule", fix=fix
        )
    return Decision(calibrator, thresholds)

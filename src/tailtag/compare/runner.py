"""Running the grid: trainings in parallel worker processes, results appended per cell to `OUT/cells.jsonl`.

Resumable: every line carries the content hash of its cell (`grid.cell_key`), and a rerun trains only the
(loss, sampler, head, seed) points that still miss a cell, so a run killed with -9 and restarted ends with
the same file content (up to line order) as an uninterrupted run. Only the parent process writes the file,
one complete line per `write` call on an O_APPEND descriptor, fsynced; a torn last line (power loss) is
ignored with a warning and recomputed.

Each worker runs with one torch thread: on small heads, C cells on C cores beat one cell using C threads,
and single-threaded CPU kernels make a cell's result independent of the number of jobs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from tailtag.compare.features import Prepared
from tailtag.compare.grid import CompareConfig, Rule, Training, cell_key, training_key

CELLS_FILE = "cells.jsonl"
_PREPARED: Prepared | None = None  # a worker's copy of the features, loaded once per process


def read_cells(path: Path) -> dict[str, dict]:
    """Cell key -> record of every complete line of `path` (missing file: empty)."""
    records: dict[str, dict] = {}
    if not path.is_file():
        return records
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            records[record["key"]] = record
        except (json.JSONDecodeError, KeyError, TypeError):
            print(f"warning: {path}:{number}: incomplete result line ignored; that cell is recomputed", file=sys.stderr)
    return records


def _append(path: Path, records: list[dict]) -> None:
    payload = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line without its newline (a write cut short), so that new lines are not glued onto it."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        print(f"warning: {path}: dropped an incomplete last line ({len(data) - keep} bytes)", file=sys.stderr)
        with open(path, "r+b") as handle:
            handle.truncate(keep)


def _init_worker(features_path: str, threads: int) -> None:
    import torch

    global _PREPARED
    torch.set_num_threads(threads)
    _PREPARED = Prepared.load(Path(features_path))


def _work(values: dict[str, Any], rules: list[dict]) -> tuple[dict, dict[str, dict]]:
    from tailtag.compare.cell import run_training

    return run_training(_PREPARED, values, [Rule(**r) for r in rules])


def _records(config: CompareConfig, training: Training, tkey: str, info: dict, results: dict) -> list[dict]:
    return [
        {
            "key": cell_key(tkey, rule),
            "training_key": tkey,
            "loss": training.loss.label,
            "sampler": training.sampler.label,
            "head": training.head,
            "seed": training.seed,
            "rule": rule.name,
            "metrics": results[rule.name],
            "train": info,
        }
        for rule in config.rules
        if rule.name in results
    ]


def pending_trainings(config: CompareConfig, data_id: str, done: dict[str, dict]) -> list[tuple[Training, str]]:
    """(training, training key) of every training with at least one cell missing from `done`."""
    todo = []
    for training in config.trainings():
        tkey = training_key(config, training, data_id)
        if any(cell_key(tkey, rule) not in done for rule in config.rules):
            todo.append((training, tkey))
    return todo


def run_grid(config: CompareConfig, prepared: Prepared, out: Path, *, jobs: int = 1, quiet: bool = False) -> dict:
    """Train every pending cell of `config` on `prepared`, appending to OUT/cells.jsonl.

    Args:
        jobs: worker processes (1 runs in this process).

    Returns:
        {"records": the current grid's records (one per cell), "trained": trainings run now,
         "skipped": trainings already complete, "seconds": wall time of this call}.
    """
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    cells_path = out / CELLS_FILE
    _drop_torn_tail(cells_path)
    done = read_cells(cells_path)
    todo = pending_trainings(config, prepared.data_id, done)
    total = len(config.trainings())
    if not quiet and total > len(todo):
        print(f"resuming: {total - len(todo)} of {total} trainings already done in {cells_path}", file=sys.stderr)
    rules = [dataclasses.asdict(rule) for rule in config.rules]

    finished = _Reporter(config, cells_path, len(todo), quiet)
    if jobs <= 1 or len(todo) <= 1:
        _run_inline(config, prepared, todo, rules, finished)
    else:
        _run_pool(out, todo, config, rules, jobs, finished)
    keys = {
        cell_key(training_key(config, t, prepared.data_id), rule) for t in config.trainings() for rule in config.rules
    }
    records = [r for key, r in read_cells(cells_path).items() if key in keys]
    return {
        "records": records,
        "trained": len(todo),
        "skipped": total - len(todo),
        "seconds": time.perf_counter() - started,
    }


class _Reporter:
    """Called once per finished training: appends its cells, prints a progress line and new warnings."""

    def __init__(self, config: CompareConfig, cells_path: Path, n_todo: int, quiet: bool):
        self.config, self.cells_path, self.n_todo, self.quiet = config, cells_path, n_todo, quiet
        self.warned: set[str] = set()

    def __call__(self, index: int, training: Training, tkey: str, info: dict, results: dict) -> None:
        _append(self.cells_path, _records(self.config, training, tkey, info, results))
        for message in info.get("warnings", []):
            kind = message.split(":")[0]  # one line per kind (e.g. "ml_ros"), not per count in the message
            if kind not in self.warned:
                self.warned.add(kind)
                print(f"warning: {training.config_label} seed {training.seed}: {message}", file=sys.stderr)
        if self.quiet:
            return
        rule, rank_by = self.config.rules[0].name, self.config.rank_by
        score = results[rule][rank_by]
        shown = "n/a" if score is None else f"{score:.4f}"
        print(
            f"[{index}/{self.n_todo}] {training.config_label} seed {training.seed}: {rank_by} {shown} ({rule}), "
            f"{info['train_seconds']:.1f} s",
            file=sys.stderr,
            flush=True,
        )


def _run_inline(config, prepared, todo, rules, finished) -> None:
    import torch

    from tailtag.compare.cell import run_training

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the workers: a cell's result must not depend on --jobs
    try:
        for index, (training, tkey) in enumerate(todo, start=1):
            info, results = run_training(prepared, config.train_values(training), [Rule(**r) for r in rules])
            finished(index, training, tkey, info, results)
    finally:
        torch.set_num_threads(threads)


def _run_pool(out, todo, config, rules, jobs, finished) -> None:
    import multiprocessing

    # Not fork: the parent has run torch (feature extraction) and a forked OpenMP pool can deadlock. A fork
    # server that imports torch once, before any thread exists, starts workers faster than spawn.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tailtag.compare.cell", "tailtag.train.loop"])
    init = (str(out / "features.npz"), 1)
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(todo)), mp_context=context, initializer=_init_worker, initargs=init
    ) as pool:
        futures = {pool.submit(_work, config.train_values(t), rules): (t, k) for t, k in todo}
        index = 0
        pending = set(futures)
        while pending:
            complete, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in complete:
                index += 1
                training, tkey = futures[future]
                info, results = future.result()
                finished(index, training, tkey, info, results)

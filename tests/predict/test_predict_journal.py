"""The resumable journal of a prediction job, without a model: torn lines, batch-grid restarts, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from tailtag.errors import TailtagError
from tailtag.predict.resume import Journal, Target, partial_path

NAMES = tuple(f"img{i}.jpg" for i in range(10))
BAD = {3, 8}  # inputs that go to the skipped file
BATCH = 4
FINGERPRINT = {"run": {"model.safetensors": "abc"}, "options": {"batch_size": BATCH}, "inputs": {"n": 10}}


def _batch(journal: Journal, first: int) -> None:
    """Append inputs [first, first + BATCH) the way `predict_files` does: good rows and skipped rows."""
    rows, skipped = "", ""
    good = bad = 0
    for i in range(first, min(first + BATCH, len(NAMES))):
        if i in BAD:
            skipped, bad = skipped + f"{NAMES[i]},file is empty (0 bytes)\n", bad + 1
        else:
            rows, good = rows + f'{NAMES[i]},"tag{i},other"\n', good + 1
    journal.write(rows, good, skipped, bad)


def _run(out: Path, first: int = 0, fingerprint=FINGERPRINT, **kwargs) -> Journal:
    journal = Journal(Target.of(out, "csv"), fingerprint, NAMES, BATCH, flush_rows=1, **kwargs)
    assert journal.open() == first
    for start in range(first, len(NAMES), BATCH):
        _batch(journal, start)
    journal.finish(keep_state=False)
    return journal


@pytest.fixture
def reference(tmp_path) -> tuple[bytes, bytes]:
    (tmp_path / "ref").mkdir()
    journal = _run(tmp_path / "ref" / "p.csv")
    assert (journal.n_rows, journal.n_skipped) == (8, 2)
    return (tmp_path / "ref" / "p.csv").read_bytes(), (tmp_path / "ref" / "p.skipped.csv").read_bytes()


def test_an_uninterrupted_job_writes_exactly_two_files(tmp_path, reference):
    out, skipped = reference
    assert sorted(p.name for p in (tmp_path / "ref").iterdir()) == ["p.csv", "p.skipped.csv"]
    assert out.startswith(b'img_path,tags\nimg0.jpg,"tag0,other"\n') and out.count(b"\n") == 9
    assert skipped == b"path,reason\nimg3.jpg,file is empty (0 bytes)\nimg8.jpg,file is empty (0 bytes)\n"


def _interrupted(out: Path, batches: int) -> Journal:
    journal = Journal(Target.of(out, "csv"), FINGERPRINT, NAMES, BATCH, flush_rows=1)
    assert journal.open() == 0
    for b in range(batches):
        _batch(journal, b * BATCH)
    journal.close()
    return journal


@pytest.mark.parametrize(
    ("tail", "skipped_tail", "resume_at"),
    [
        (b"", b"", 8),  # killed at a batch boundary
        (b'img9.jpg,"tag9', b"", 8),  # torn line inside the quoted tags
        (b'img9.jpg,"tag9,other"\n', b"", 8),  # a complete row of an unfinished batch: redone on the grid
        (b"", b"img8.jp", 8),  # torn skipped row
    ],
)
def test_resume_cuts_back_to_the_batch_grid_and_ends_byte_identical(tmp_path, reference, tail, skipped_tail, resume_at):
    out = tmp_path / "p.csv"
    _interrupted(out, 2)
    with open(partial_path(out), "ab") as handle:
        handle.write(tail)
    with open(partial_path(tmp_path / "p.skipped.csv"), "ab") as handle:
        handle.write(skipped_tail)
    _run(out, first=resume_at)
    assert (out.read_bytes(), (tmp_path / "p.skipped.csv").read_bytes()) == reference
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "p.skipped.csv", "ref"]


def test_a_lost_skipped_row_sends_the_output_back_before_it(tmp_path, reference):
    out = tmp_path / "p.csv"
    _interrupted(out, 2)
    # the skipped file lost img3's row (it was never fsynced) while the output kept later rows
    partial_path(tmp_path / "p.skipped.csv").write_bytes(b"path,reason\n")
    _run(out, first=0)
    assert (out.read_bytes(), (tmp_path / "p.skipped.csv").read_bytes()) == reference


def test_a_torn_header_is_rewritten(tmp_path, reference):
    out = tmp_path / "p.csv"
    _interrupted(out, 1)
    partial_path(out).write_bytes(b"img_pa")
    _run(out, first=0)
    assert out.read_bytes() == reference[0]


def test_killed_between_the_final_renames_finishes_on_rerun(tmp_path, reference):
    out = tmp_path / "p.csv"
    _interrupted(out, 3)
    partial_path(tmp_path / "p.skipped.csv").rename(tmp_path / "p.skipped.csv")
    journal = Journal(Target.of(out, "csv"), FINGERPRINT, NAMES, BATCH)
    assert journal.open() == 10  # every input is done: only the renames are left
    journal.finish(keep_state=False)
    assert (out.read_bytes(), (tmp_path / "p.skipped.csv").read_bytes()) == reference


def test_a_different_job_is_refused_naming_what_changed(tmp_path):
    out = tmp_path / "p.csv"
    _interrupted(out, 1)
    other = {**FINGERPRINT, "options": {"batch_size": 8}, "backend": "onnx"}
    with pytest.raises(
        TailtagError,
        match=r"started by a different prediction job \(it differs in: backend, "
        r"options.batch_size\)\n  fix: rerun the original command",
    ):
        Journal(Target.of(out, "csv"), other, NAMES, BATCH).open()
    _run(out, first=0, fingerprint=other, force=True)  # --force starts over


def test_partial_output_without_state_is_refused(tmp_path):
    out = tmp_path / "p.csv"
    _interrupted(out, 1)
    (tmp_path / "p.csv.state.json").unlink()
    with pytest.raises(TailtagError, match=r"p.csv.partial exists but .*p.csv.state.json is missing or damaged"):
        Journal(Target.of(out, "csv"), FINGERPRINT, NAMES, BATCH).open()


def test_a_finished_output_is_not_overwritten_without_force(tmp_path, reference):
    out = tmp_path / "p.csv"
    _run(out)
    with pytest.raises(TailtagError, match=r"p.csv already exists\n  fix: pass --force"):
        Journal(Target.of(out, "csv"), FINGERPRINT, NAMES, BATCH).open()
    out.write_text("stale")
    _run(out, force=True)
    assert out.read_bytes() == reference[0]


def test_a_finished_shard_keeps_its_state_and_is_not_redone(tmp_path):
    target = Target.of(tmp_path / "p.csv", "csv", rank=1, world=2)
    assert target.out.name == "p.csv.shard-1-of-2" and target.skipped.name == "p.skipped.csv.shard-1-of-2"
    journal = Journal(target, FINGERPRINT, NAMES, BATCH)
    journal.open()
    for start in range(0, 10, BATCH):
        _batch(journal, start)
    journal.finish(keep_state=True)
    again = Journal(target, FINGERPRINT, NAMES, BATCH)
    assert again.open() is None and (again.n_rows, again.n_skipped) == (8, 2)


def _batch_dependent(journal: Journal, first: int) -> None:
    """Like `_batch`, but each row records the batch it was computed in, as a backend whose arithmetic depends on
    the batch does (a float reduction over the batch): resuming off the batch grid then changes the bytes."""
    rows, skipped, good, bad = "", "", 0, 0
    for i in range(first, min(first + BATCH, len(NAMES))):
        if i in BAD:
            skipped, bad = skipped + f"{NAMES[i]},file is empty (0 bytes)\n", bad + 1
        else:
            rows, good = rows + f'{NAMES[i]},"tag{i},batch{first}"\n', good + 1
    journal.write(rows, good, skipped, bad)


def _journal_run(out: Path, first: int) -> None:
    journal = Journal(Target.of(out, "csv"), FINGERPRINT, NAMES, BATCH, flush_rows=1)
    assert journal.open() == first
    for start in range(first, len(NAMES), BATCH):
        _batch_dependent(journal, start)
    journal.finish(keep_state=False)


def test_only_the_last_input_missing_resumes_on_the_batch_grid(tmp_path):
    """Killed after img8 (skipped) was written and before img9, the last input: 9 of 10 inputs are done, but the
    rerun must redo the whole last batch (inputs 8..9), not start at img9, or img9 sees another batch."""
    (tmp_path / "ref").mkdir()
    _journal_run(tmp_path / "ref" / "p.csv", 0)
    reference = (tmp_path / "ref" / "p.csv").read_bytes(), (tmp_path / "ref" / "p.skipped.csv").read_bytes()
    out = tmp_path / "p.csv"
    journal = Journal(Target.of(out, "csv"), FINGERPRINT, NAMES, BATCH, flush_rows=1)
    assert journal.open() == 0
    for start in (0, 4):
        _batch_dependent(journal, start)
    journal.write("", 0, f"{NAMES[8]},file is empty (0 bytes)\n", 1)  # the last batch, cut before its last row
    journal.close()
    resumed = Journal(Target.of(out, "csv"), FINGERPRINT, NAMES, BATCH, flush_rows=1)
    assert resumed.open() == 8 and (resumed.n_rows, resumed.n_skipped) == (7, 1)  # img8's skipped row is cut
    resumed.close()
    assert partial_path(tmp_path / "p.skipped.csv").read_bytes().count(b"\n") == 2  # header + img3
    _journal_run(out, 8)
    assert (out.read_bytes(), (tmp_path / "p.skipped.csv").read_bytes()) == reference

"""Sharding a prediction job over torchrun processes and nodes, and merging the shards into one file.

`torchrun --nproc-per-node P [--nnodes N ...] -m tailtag predict RUN INPUT --out FILE` starts processes with
RANK and WORLD_SIZE set (nanoGPT's pattern); rank r tags a contiguous block of the input list and writes
`FILE.shard-r-of-W` (and its skipped file), resumable like a single job. Blocks are whole batches, so every
image sees the same batch as in a one-process run and the merged file equals the one-process file byte for
byte. Unlike `DistributedSampler`, nothing is padded or repeated to even out the shards (torchvision's
classification reference warns that padded distributed evaluation counts some images twice); the last block
is shorter. After a gloo barrier rank 0 concatenates the shards in rank (= input) order. Without a shared
file system or barrier (separate jobs per node), `tailtag predict --merge FILE` merges the shard files once
they are in one folder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from tailtag.errors import TailtagError
from tailtag.fileio import replace_durably
from tailtag.predict.formats import HEADERS, format_of
from tailtag.predict.resume import Target, partial_path, read_state, skipped_path, state_path

# Ranks that finish early wait at the barrier for the slowest one; torch's 30-minute default would abort a
# resumed job whose other shards still have hours of work.
BARRIER_TIMEOUT = timedelta(hours=48)


def shard_block(n: int, rank: int, world: int, batch_size: int) -> tuple[int, int]:
    """[start, end) of rank `rank`'s contiguous block of `n` inputs: equal shares rounded up to whole batches."""
    per_rank = -(-n // world)
    per_rank = -(-per_rank // batch_size) * batch_size
    start = min(rank * per_rank, n)
    return start, min(start + per_rank, n)


def torchrun_world() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment; (0, 1) outside torchrun."""
    try:
        rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError as exc:
        raise TailtagError(f"RANK / WORLD_SIZE must be integers (set by torchrun); got {exc}") from exc
    if world < 1 or not 0 <= rank < world:
        raise TailtagError(f"RANK={rank} is outside 0..WORLD_SIZE-1 (WORLD_SIZE={world})")
    return rank, world


class ProcessGroup:
    """The gloo process group of a sharded job (CPU-only collectives: only a barrier is needed)."""

    def __init__(self, world: int):
        self.enabled = world > 1
        if self.enabled:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group("gloo", timeout=BARRIER_TIMEOUT)

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


@dataclass(frozen=True)
class MergeResult:
    """What `merge_shards` wrote: the output, the skipped file, and their row counts."""

    out: Path
    skipped: Path
    n_rows: int
    n_skipped: int
    world: int


_SHARD_STATE = re.compile(r"\.shard-(\d+)-of-(\d+)\.state\.json$")


def find_world(out: Path) -> int:
    """The process count W of the shard files of `out` in its folder (error when none, or several W)."""
    prefix = out.name
    worlds = set()
    for path in out.parent.glob(f"{_glob_escape(prefix)}.shard-*-of-*.state.json"):
        match = _SHARD_STATE.search(path.name[len(prefix) :])
        if match:
            worlds.add(int(match.group(2)))
    if not worlds:
        raise TailtagError(
            f"no shard files of {out} found (expected {out.name}.shard-R-of-W and their .state.json in {out.parent})\n"
            "  fix: copy every rank's shard files into that folder, then rerun --merge"
        )
    if len(worlds) > 1:
        raise TailtagError(
            f"{out.parent} holds shards of {out.name} from runs with {sorted(worlds)} processes\n"
            "  fix: delete the shard files of the runs you do not want, then rerun --merge"
        )
    return worlds.pop()


def _glob_escape(text: str) -> str:
    """`text` with glob metacharacters bracketed, so a file name like 'p[1].csv' matches only itself."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def merge_shards(out: str | Path, *, world: int | None = None, force: bool = False) -> MergeResult:
    """Concatenate the finished shards of `out` in rank order into `out` and its skipped file, then delete them.

    Checks first that all W shards exist, are finished, come from the same job (fingerprint) and together
    cover the input list exactly once; nothing is written otherwise.
    """
    out = Path(out)
    fmt = format_of(out)
    if out.exists() and not force:
        raise TailtagError(f"{out} already exists\n  fix: pass --force to merge again and overwrite it")
    world = world or find_world(out)
    targets = [Target.of(out, fmt, rank, world) for rank in range(world)]
    counts = _check_shards(out, targets)
    final_skipped = skipped_path(out)
    for final, kind, parts in (
        (final_skipped, "skipped", [t.skipped for t in targets]),
        (out, fmt, [t.out for t in targets]),
    ):
        _concatenate(final, HEADERS[kind], parts)
    for target in targets:
        for path in target.files():
            path.unlink(missing_ok=True)
    return MergeResult(out, final_skipped, sum(c[0] for c in counts), sum(c[1] for c in counts), world)


def _check_shards(out: Path, targets: list[Target]) -> list[tuple[int, int]]:
    """(rows, skipped) of each shard, after checking they are complete, of one job, and tile the input list."""
    problems, counts, fingerprints = [], [], []
    for rank, target in enumerate(targets):
        state = read_state(state_path(target.out))
        if state is None or not state.get("complete") or not target.out.is_file() or not target.skipped.is_file():
            resumable = partial_path(target.out).exists()
            problems.append(f"shard {rank} is {'unfinished' if resumable else 'missing'} ({target.out})")
            continue
        fingerprints.append(state["fingerprint"])
        counts.append((int(state["n_rows"]), int(state["n_skipped"])))
    if problems:
        raise TailtagError(
            f"cannot merge {out}: {'; '.join(problems)}\n"
            "  fix: rerun the same torchrun command (it resumes the unfinished shards), then --merge"
        )
    jobs = [{k: v for k, v in f.items() if k != "shard"} for f in fingerprints]
    if any(job != jobs[0] for job in jobs):
        raise TailtagError(
            f"cannot merge {out}: its shards come from different prediction jobs (run, options or input list)\n"
            "  fix: delete the stale shard files and rerun the torchrun command"
        )
    blocks = [(f["shard"]["start"], f["shard"]["end"]) for f in fingerprints]
    n_inputs = jobs[0]["inputs"]["n"]
    tiles = all(blocks[r][1] == blocks[r + 1][0] for r in range(len(blocks) - 1))
    if blocks[0][0] != 0 or blocks[-1][1] != n_inputs or not tiles:
        raise TailtagError(f"cannot merge {out}: shard blocks {blocks} do not cover the {n_inputs} inputs once")
    for (start, end), (rows, skipped), rank in zip(blocks, counts, range(len(counts)), strict=True):
        if rows + skipped != end - start:
            raise TailtagError(f"cannot merge {out}: shard {rank} holds {rows + skipped} rows for {end - start} inputs")
    return counts


def _concatenate(final: Path, header: str, parts: list[Path]) -> None:
    """Write `header` then each part without its header into final.partial, fsync, rename to `final`."""
    temporary = partial_path(final)
    size = len(header.encode())
    with open(temporary, "wb") as sink:
        sink.write(header.encode())
        for part in parts:
            with open(part, "rb") as source:
                if source.read(size) != header.encode():
                    raise TailtagError(f"cannot merge: {part} does not start with the header {header.strip()!r}")
                while chunk := source.read(1 << 20):
                    sink.write(chunk)
        sink.flush()
        os.fsync(sink.fileno())
    replace_durably(temporary, final)

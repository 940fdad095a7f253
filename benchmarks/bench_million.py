"""Beyond one machine's memory: a head trained on 1,000,000 x 256-d features in memory-mapped shards, 10,000 tags.

Makes the data (seeded), one block at a time so that this process never holds it whole either:

    DATA/shards/part-r0-NNNNNN.npy + .txt   float16 features, `--shard-rows` rows each, and manifest.json
    DATA/tags.csv                           img_path,tags: 1-5 tags an image (about 3), Zipf-like frequencies
    DATA/labels/labels.npz                  the same labels as a scipy sparse matrix, with tags.txt (the tag
                                            names) and images.txt (the image of each row) beside it
    DATA/split/train.txt, val.txt           a seeded random hold-out of `--val` images

Features carry signal: each is the sum of its tags' random prototypes plus noise. Then, each in its own process
with its wall time, peak resident memory (`ru_maxrss`, as GNU time reports it) and peak private memory
(RssAnon, sampled):

    train  tailtag train DATA/tags.csv --features DATA/shards --split DATA/split --out RUN
           --set epochs=3 --set head=linear --set batch_size=B   (head only; includes the decision-rule fit)
    bare   a bare PyTorch loop over the same memory-mapped shards (shards in shuffled order, rows shuffled within
           each, linear layer, BCE, AdamW, targets per batch from the CSR labels, same epochs and batch size, no
           validation): the same-run baseline

and prints both against the size of the features as float32 (N x D x 4 bytes; 1.024 GB at full size).
`train` reads the sparse labels.npz by default (`--labels csv`: tags.csv): tailtag's tags-CSV reader holds every
row's cells as Python strings while it parses, about 0.8 KB a row at its peak (82 MB for 100,000 rows, measured
with tracemalloc), which at a million rows would be most of the memory this benchmark is about.
The split is a random hold-out written here rather than `tailtag split`'s iterative stratification, which is
not what this benchmark measures; it is small because validation holds its (m, K) targets and probabilities
in memory (see the README).

Usage: python benchmarks/bench_million.py [--rows 1000000] [--dim 256] [--tags 10000] [--epochs 3]
       [--val 2000] [--batch-size 256] [--shard-rows 16384] [--keep DIR]
       (test it small first: --rows 20000 --tags 2000 --val 500)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tailtag.features.shards import shard_name, write_manifest, write_shard


def zipf_labels(rng: np.random.Generator, n: int, k: int) -> sp.csr_matrix:
    """(n, k) 0/1 CSR: 1-5 draws an image (mean 3) from Zipf-like tag frequencies, repeats merged."""
    p = 1.0 / (np.arange(k) + 8.0) ** 1.05
    per_image = rng.integers(1, 6, size=n)
    cols = rng.choice(k, size=(n, 5), p=p / p.sum())
    keep = np.arange(5)[None, :] < per_image[:, None]
    rows = np.repeat(np.arange(n), 5).reshape(n, 5)[keep]
    labels = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols[keep])), shape=(n, k))
    labels.sum_duplicates()
    labels.data[:] = 1.0
    return labels


def make_data(folder: Path, args: argparse.Namespace, seed: int = 0) -> sp.csr_matrix:
    """Write the shards, tags.csv, labels.npz and the split (see the module docstring); returns the labels."""
    rng = np.random.default_rng(seed)
    labels = zipf_labels(rng, args.rows, args.tags)
    prototypes = rng.normal(size=(args.tags, args.dim)).astype(np.float32) / np.sqrt(args.dim)
    names = [f"tag{j:05d}" for j in range(args.tags)]
    shards = folder / "shards"
    with open(folder / "tags.csv", "w", encoding="utf-8") as tags:
        tags.write("img_path,tags\n")
        for number, first in enumerate(range(0, args.rows, args.shard_rows)):
            block = labels[first : first + args.shard_rows]
            noise = rng.normal(size=(block.shape[0], args.dim)).astype(np.float32) / np.sqrt(args.dim)
            features = (block @ prototypes) * 3.0 + noise
            paths = [f"img/{i:07d}.jpg" for i in range(first, first + block.shape[0])]
            write_shard(shards, shard_name(0, number), features.astype(np.float16), paths)
            for i, path in enumerate(paths):
                row = block.indices[block.indptr[i] : block.indptr[i + 1]]
                tags.write(f"{path},{'|'.join(names[j] for j in row)}\n")
    write_manifest(shards)
    (folder / "labels").mkdir(exist_ok=True)
    sp.save_npz(folder / "labels" / "labels.npz", labels.astype(np.uint8))
    (folder / "labels" / "tags.txt").write_text("".join(f"{name}\n" for name in names))
    (folder / "labels" / "images.txt").write_text("".join(f"img/{i:07d}.jpg\n" for i in range(args.rows)))
    val = np.sort(rng.choice(args.rows, size=args.val, replace=False))
    is_val = np.zeros(args.rows, dtype=bool)
    is_val[val] = True
    (folder / "split").mkdir(exist_ok=True)
    for name, rows in (("train", np.flatnonzero(~is_val)), ("val", val)):
        (folder / "split" / f"{name}.txt").write_text("".join(f"img/{i:07d}.jpg\n" for i in rows))
    return labels


def timed(argv: list[str]) -> tuple[float, float, float, str]:
    """(seconds, peak resident GB, peak private (anonymous) resident GB, standard output) of one process.

    The peak resident set (`ru_maxrss` from wait4, what GNU time reports) includes the shared libraries'
    pages: `import torch` alone is about 0.7-0.9 GB here, 0.4 GB of it CUDA libraries mapped from files. The
    private part (RssAnon of /proc/PID/status, sampled every 10 ms) is what the process allocated itself.
    """
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(argv, stdout=out, stderr=err, text=True)
        anon_kb = 0
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            try:
                text = Path(f"/proc/{child.pid}/status").read_text()
                anon_kb = max(anon_kb, int(re.search(r"RssAnon:\s+(\d+)", text).group(1)))
            except (OSError, AttributeError):
                pass
            time.sleep(0.01)  # a short spike (the 8,192-row scoring batch) lasts tens of ms
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if child.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{stdout[-2000:]}\n{stderr[-3000:]}")
    return seconds, usage.ru_maxrss * 1024 / 1e9, anon_kb * 1024 / 1e9, stdout


def bare_loop(folder: Path, epochs: int, batch: int) -> None:
    """The baseline, run as `bench_million.py --bare DATA`: prints its training seconds."""
    import torch

    labels = sp.load_npz(folder / "labels" / "labels.npz").tocsr().astype(np.float32)
    train = set((folder / "split" / "train.txt").read_text().split())
    shards = sorted((folder / "shards").glob("*.npy"))
    starts, keep = [], []
    offset = 0
    for path in shards:
        names = (path.with_suffix(".txt")).read_text().split()
        starts.append(offset)
        keep.append(np.array([name in train for name in names]))
        offset += len(names)
    dim = np.load(shards[0], mmap_mode="r").shape[1]
    model = torch.nn.Linear(dim, labels.shape[1])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(epochs):
        for s in rng.permutation(len(shards)):
            values = np.load(shards[s], mmap_mode="r")
            rows = rng.permutation(np.flatnonzero(keep[s]))
            x_all = torch.from_numpy(np.asarray(values[np.sort(rows)], dtype=np.float32))
            del values
            order = np.argsort(np.argsort(rows))  # position of each shuffled row in the sorted read
            for first in range(0, len(rows), batch):
                at = order[first : first + batch]
                y = torch.from_numpy(labels[starts[s] + rows[first : first + batch]].toarray())
                optimizer.zero_grad()
                loss_fn(model(x_all[at]), y).backward()
                optimizer.step()
    print(f"bare seconds {time.perf_counter() - start:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--tags", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--val", type=int, default=2000, help="hold-out images (validated every epoch)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--shard-rows", type=int, default=16384)
    parser.add_argument("--labels", choices=("npz", "csv"), default="npz", help="label file train reads")
    parser.add_argument("--keep", type=Path, help="write the data and the run here instead of a temp folder")
    parser.add_argument("--bare", type=Path, help=argparse.SUPPRESS)  # internal: run the baseline on DATA
    args = parser.parse_args()
    if args.bare is not None:
        bare_loop(args.bare, args.epochs, args.batch_size)
        return
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-million-"))
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    labels = make_data(folder, args)
    counts = np.asarray(labels.sum(axis=0)).ravel()
    float32_gb = args.rows * args.dim * 4 / 1e9
    print(
        f"data: {args.rows:,} images x {args.tags:,} tags, {labels.nnz / args.rows:.2f} tags/image, "
        f"{(counts < 20).mean():.0%} of tags with < 20 positives, {args.dim}-d float16 in "
        f"{-(-args.rows // args.shard_rows)} shards ({args.rows * args.dim * 2 / 1e9:.3f} GB on disk, "
        f"{float32_gb:.3f} GB as float32; {time.perf_counter() - start:.0f} s to make)",
        flush=True,
    )
    del labels
    run = folder / "run"
    label_args = [str(folder / "tags.csv")] if args.labels == "csv" else [
        str(folder / "labels" / "labels.npz"), "--classes", str(folder / "labels" / "tags.txt"),
        "--paths", str(folder / "labels" / "images.txt"),
    ]  # fmt: skip
    base_s, base_gb, base_anon, _ = timed([sys.executable, "-c", "import tailtag.train.from_features"])
    train_s, train_gb, train_anon, _ = timed([
        sys.executable, "-m", "tailtag", "train", *label_args, "--features", str(folder / "shards"),
        "--split", str(folder / "split"), "--out", str(run), "--restart", "--set", f"epochs={args.epochs}",
        "--set", "head=linear", "--set", f"batch_size={args.batch_size}",
    ])  # fmt: skip
    bare_total, bare_gb, bare_anon, out = timed([
        sys.executable, __file__, "--bare", str(folder), "--epochs", str(args.epochs),
        "--batch-size", str(args.batch_size),
    ])  # fmt: skip
    bare_s = float(re.search(r"bare seconds ([\d.]+)", out).group(1))
    metrics = json.loads((run / "metrics.json").read_text())
    print(f"features as float32: {float32_gb:.3f} GB; a process that only imports tailtag's training code: "
          f"peak {base_gb:.3f} GB resident, {base_anon:.3f} GB private, {base_s:.1f} s")  # fmt: skip
    print(f"train ({args.epochs} epochs, linear head, batch {args.batch_size}, + decision rule): {train_s:.0f} s, "
          f"peak {train_gb:.3f} GB resident ({train_gb / float32_gb:.2f} x the float32 features), "
          f"{train_anon:.3f} GB private ({train_anon / float32_gb:.2f} x)")  # fmt: skip
    print(f"bare PyTorch loop over the same shards: {bare_s:.0f} s training ({bare_total:.0f} s with start-up), "
          f"peak {bare_gb:.3f} GB resident, {bare_anon:.3f} GB private; "
          f"train / bare = {train_s / bare_total:.2f}")  # fmt: skip
    selected = metrics.get("metrics", metrics)
    print("hold-out " + ", ".join(f"{k} {selected[k]:.4f}" for k in ("macro_f1", "micro_f1", "mAP") if k in selected))
    print(f"data and run in {folder}")


if __name__ == "__main__":
    main()

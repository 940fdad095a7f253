"""The seed system's size end to end from embeddings: 35,000 images x 6,941 tags, 1,280-d features, on 2 cores.

Makes the data (seeded): Zipf-like tag frequencies, 3-5 tags per image (most tags with fewer than 20 positives),
features = the sum of the image's tags' random prototypes plus noise, so a linear head can beat the prior
baseline by a clear margin. Then times, each as its own process with its peak memory (GNU time):

    train     tailtag train tags.csv --features feats.npz --out RUN --set epochs=20 --set head=linear
              (head only; includes fitting the decision rule)   targets <= 8 min, <= 6 GB
    evaluate  tailtag evaluate RUN --json (report.html included)                          target <= 1 min
    predict   tailtag predict RUN --features feats.npz --out pred.csv --max-tags 5        target <= 30 s

then opens the evaluation's report.html in headless Chromium (bench_report.py's timing; target <= 3 s), and,
as the same-run baseline, a bare PyTorch loop over the same tensors (linear layer, BCE, AdamW, the same
epochs and batch size, no validation). Prints each figure with its target and the ratio to the baseline.

Usage: python benchmarks/bench_scale.py [--images 35000] [--tags 6941] [--dim 1280] [--epochs 20] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
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


def make_labels(rng: np.random.Generator, n: int, k: int) -> sp.csr_matrix:
    """(n, k) float32 0/1 CSR labels: 3-5 tags an image drawn from a Zipf-like tag distribution (duplicates merged)."""
    p = 1.0 / (np.arange(k) + 8.0) ** 1.05
    per_image = rng.integers(3, 6, size=n)
    cols = rng.choice(k, size=(n, 5), p=p / p.sum())
    keep = np.arange(5)[None, :] < per_image[:, None]
    rows = np.repeat(np.arange(n), 5).reshape(n, 5)[keep]
    labels = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols[keep])), shape=(n, k))
    labels.data[:] = 1.0
    labels.sum_duplicates()
    labels.data[:] = 1.0
    return labels


def make_data(folder: Path, n: int, k: int, dim: int, seed: int = 0) -> sp.csr_matrix:
    """tags.csv (img_path,tags) and feats.npz (paths, float16 features) in `folder`; returns the (n, k) labels."""
    rng = np.random.default_rng(seed)
    labels = make_labels(rng, n, k)
    prototypes = rng.normal(size=(k, dim)).astype(np.float32) / np.sqrt(dim)
    features = (labels @ prototypes) * 3.0 + rng.normal(size=(n, dim)).astype(np.float32) / np.sqrt(dim)
    paths = np.array([f"img/{i:06d}.jpg" for i in range(n)])
    names = [f"tag{j:05d}" for j in range(k)]
    with open(folder / "tags.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["img_path", "tags"])
        for i in range(n):
            row = labels.indices[labels.indptr[i] : labels.indptr[i + 1]]
            writer.writerow([paths[i], "|".join(names[j] for j in row)])
    np.savez(folder / "feats.npz", paths=paths, features=features.astype(np.float16))
    return labels


def timed(argv: list[str]) -> tuple[float, float, str]:
    """(seconds, peak resident GB, standard output) of one process under GNU time."""
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *argv], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    return seconds, peak_kb / 1024**2, done.stdout


def report_in_browser(run: Path) -> str:
    """One line: the size of the evaluation's report.html and its load in headless Chromium (bench_report.py's
    timing: browser start, then navigation until the per-class table has drawn, then a screenshot)."""
    page = next(run.glob("eval-*/report.html"), None)
    if page is None:
        return "report.html: not written"
    try:
        from bench_report import load, open_browser
    except ImportError as error:  # selenium missing
        return f"report.html ({page.stat().st_size / 1e6:.2f} MB): not timed ({error})"
    start = time.perf_counter()
    driver = open_browser()
    started = time.perf_counter() - start
    try:
        _, shown = load(driver, page.as_uri(), page.with_suffix(".png"))
    finally:
        driver.quit()
    return (
        f"report.html ({page.stat().st_size / 1e6:.2f} MB) in headless Chromium, loaded, table drawn and "
        f"screenshot: {started + shown:.2f} s with the browser start, {shown:.2f} s without (target <= 3 s)"
    )


def bare_loop(labels: sp.csr_matrix, features: np.ndarray, epochs: int, batch: int) -> float:
    """Seconds for a bare PyTorch linear + BCE + AdamW loop over the same training rows (no validation)."""
    import torch

    x = torch.from_numpy(features.astype(np.float32))
    model = torch.nn.Linear(x.shape[1], labels.shape[1])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator).numpy()
        for first in range(0, len(order), batch):
            rows = order[first : first + batch]
            y = torch.from_numpy(labels[rows].toarray())
            optimizer.zero_grad()
            loss_fn(model(x[rows]), y).backward()
            optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=35000)
    parser.add_argument("--tags", type=int, default=6941)
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="write the data and the run here instead of a temp folder")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    labels = make_data(folder, args.images, args.tags, args.dim)
    counts = np.asarray(labels.sum(axis=0)).ravel()
    print(
        f"data: {args.images:,} images x {args.tags:,} tags, {labels.nnz / args.images:.2f} tags/image, "
        f"{(counts < 20).mean():.0%} of tags with < 20 positives, {args.dim}-d float16 features "
        f"({time.perf_counter() - start:.1f} s to make)",
        flush=True,
    )
    tailtag = [sys.executable, "-m", "tailtag"]
    run = folder / "run"
    env_note = f"torch threads: default ({os.cpu_count()} cores)"
    train_s, train_gb, _ = timed([*tailtag, "train", str(folder / "tags.csv"), "--features", str(folder / "feats.npz"),
                                  "--out", str(run), "--restart", "--set", f"epochs={args.epochs}",
                                  "--set", "head=linear"])  # fmt: skip
    eval_s, eval_gb, out = timed([*tailtag, "evaluate", str(run), "--json", "--quiet"])
    summary = json.loads(out.strip().splitlines()[-1])
    report_line = report_in_browser(run)
    pred = folder / "pred.csv"
    pred.unlink(missing_ok=True)
    pred_s, pred_gb, _ = timed([*tailtag, "predict", str(run), "--features", str(folder / "feats.npz"),
                                "--out", str(pred), "--max-tags", "5"])  # fmt: skip
    n_train = json.loads((run / "metrics.json").read_text())["n_train"]
    with np.load(folder / "feats.npz") as data:
        features = data["features"][:n_train]
    bare_s = bare_loop(labels[:n_train].tocsr(), features, args.epochs, 64)
    print(env_note)
    rows = [
        (f"train ({args.epochs} epochs, head only, + decision rule)", train_s, train_gb, 480, 6.0),
        ("evaluate --json (+ report.html)", eval_s, eval_gb, 60, None),
        ("predict --features --max-tags 5", pred_s, pred_gb, 30, None),
    ]
    for name, seconds, gb, limit_s, limit_gb in rows:
        ok = seconds <= limit_s and (limit_gb is None or gb <= limit_gb)
        memory = f", peak {gb:.2f} GB" + (f" (<= {limit_gb} GB)" if limit_gb else "")
        print(f"{name:48s} {seconds:7.1f} s (<= {limit_s} s){memory}  {'PASS' if ok else 'FAIL'}")
    print(report_line)
    print(
        f"bare PyTorch loop, same epochs and rows (no validation): {bare_s:.1f} s; "
        f"train / bare = {train_s / bare_s:.2f}"
    )
    metrics = summary.get("metrics", summary)
    for key in ("macro_f1", "micro_f1", "mAP"):
        if key in metrics:
            print(f"hold-out {key}: {metrics[key]:.4f}")
    baselines = summary.get("baselines")
    if baselines:
        print("baselines:", json.dumps(baselines)[:400])
    print(f"data and run in {folder}")


if __name__ == "__main__":
    main()

"""Benchmark `tailtag predict`: end-to-end throughput against the bare model forward on pre-decoded tensors.

Trains a small head-mode run (Lite0 at its default 224 px, top_blocks=1, views=[center]) on generated demo
scenes, writes N more scenes (default 512 JPEGs at 256 px) into a folder, then times:

- bare: `RunModel.view_scorer()` under `torch.inference_mode()` (the PyTorch backend's scorer) over the N
  images decoded beforehand exactly as `Tagger.decode` does, in batches of B: the lower bound;
- predict: `predict_files` on the folder, as `tailtag predict RUN FOLDER --out p.csv` runs it (after the model
  is loaded): input fingerprint, JPEG decoding in DataLoader workers or a prefetch thread, the view scorer,
  calibration + thresholds, CSV rows, fsync'ed resumable output, the final rename;
- predict --backend onnx: the same with onnxruntime on an exported model.onnx, when `tailtag.export` exists.

Same batch size and intra-op threads (`--threads`) everywhere; best of `--repeats` passes after a warm-up.
Prints images/s, the ratio predict / bare and PASS/FAIL for the target ratio >= 0.9.

    python benchmarks/bench_predict.py                   # torch's thread count
    python benchmarks/bench_predict.py --threads 1 --n 256
    python benchmarks/bench_predict.py --run runs/miml      # an existing run (its onnx export is rewritten)
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tailtag.allocator import keep_freed_memory
from tailtag.cli import main as tailtag_main
from tailtag.demo import make_demo_dataset
from tailtag.inference import Tagger
from tailtag.predict import Inputs, PredictOptions, find_inputs, predict_files, tagger_for

TARGET = 0.9


def train_run(root: Path, threads: int) -> Path:
    """A 2-epoch head-mode run (defaults: Lite0 at 224 px, top_blocks=1, views=[center]) on 96 scenes."""
    labels = make_demo_dataset(root / "train", n_images=96, size=256)
    settings = (f"cache_dir={root / 'cache'}", "num_workers=0", "epochs=2", "warmup_epochs=0", "batch_size=32")
    sets = [item for key in settings for item in ("--set", key)]
    status = tailtag_main(["train", str(labels), "--images", str(labels.parent), "--out", str(root / "run"), *sets])
    if status != 0:
        raise SystemExit(f"training the benchmark run failed (status {status})")
    torch.set_num_threads(threads)  # training may have changed it
    return root / "run"


def bare_pass(tagger: Tagger, images: torch.Tensor, batch: int) -> float:
    """Images/s of one pass of the backend's scorer alone over pre-decoded (N, 3, H, W) centre views."""
    start = time.perf_counter()
    for first in range(0, len(images), batch):
        tagger.scorer(images[first : first + batch])
    return len(images) / (time.perf_counter() - start)


def predict_pass(tagger: Tagger, inputs: Inputs, out: Path, options: PredictOptions, backend: str) -> float:
    """Images/s of one `predict_files` pass over the folder (a fresh output: --force)."""
    start = time.perf_counter()
    summary = predict_files(tagger, inputs, out, options, backend=backend)
    rate = len(inputs) / (time.perf_counter() - start)
    if summary.n_rows != len(inputs):
        raise SystemExit(f"predict tagged {summary.n_rows} of {len(inputs)} images; see {summary.skipped}")
    return rate


def best_rates(taggers: dict[str, Tagger], folder: Path, out: Path, args: argparse.Namespace) -> dict[str, float]:
    """Best images/s of the bare scorer and of predict on each backend, measured in alternation: on a shared
    machine the load drifts, and interleaved passes see the same drift."""
    inputs = find_inputs(folder)
    images = torch.stack([taggers["torch"].decode(path)[0] for path in inputs.paths])
    options = PredictOptions(batch_size=args.batch, workers=args.workers, progress=False, force=True)
    warm = Inputs(inputs.source, inputs.kind, inputs.paths[: args.batch], inputs.names[: args.batch])
    taggers["torch"].scorer(images[: args.batch])  # warm-up: allocator, oneDNN kernel selection
    for backend, tagger in taggers.items():
        predict_pass(tagger, warm, out.with_name(f"warm-{backend}.csv"), options, backend)
    best = dict.fromkeys(["bare", *taggers], 0.0)
    for _ in range(args.repeats):
        best["bare"] = max(best["bare"], bare_pass(taggers["torch"], images, args.batch))
        for backend, tagger in taggers.items():
            rate = predict_pass(tagger, inputs, out.with_name(f"{backend}.csv"), options, backend)
            best[backend] = max(best[backend], rate)
    return best


def onnx_tagger(run: Path) -> Tagger | None:
    """The run on the onnx backend after `tailtag export`, or None when the export module is not available."""
    if importlib.util.find_spec("tailtag.export") is None:
        print("onnx backend: tailtag.export is not available, skipped")
        return None
    from tailtag.export import export_run

    export_run(run, "onnx")
    return tagger_for(run, "onnx")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="intra-op threads")
    parser.add_argument("--n", type=int, default=512, help="images to tag")
    parser.add_argument("--batch", type=int, default=32, help="batch size of both")
    parser.add_argument("--workers", type=int, default=2, help="predict's --workers (capped to spare cores on CPU)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes of each; the best counts")
    parser.add_argument("--skip-onnx", action="store_true", help="do not export and time the onnx backend")
    parser.add_argument("--run", type=Path, help="time this finished run instead of training a small one")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # predict sets glibc's allocator up this way; the bare passes get the same
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        run = train_run(root, args.threads) if args.run is None else args.run
        make_demo_dataset(root / "tag", n_images=args.n, size=256, seed=1)
        taggers = {"torch": tagger_for(run, "torch")}
        if not args.skip_onnx and (onnx := onnx_tagger(run)) is not None:
            taggers["onnx"] = onnx
        rates = best_rates(taggers, root / "tag" / "images", root / "out" / "p.csv", args)
        same = (
            len(taggers) == 2 and (root / "out" / "onnx.csv").read_bytes() == (root / "out" / "torch.csv").read_bytes()
        )
    bare, ours = rates["bare"], rates["torch"]
    model = "Lite0 at 224 px, top_blocks=1, views=[center]" if args.run is None else f"run {args.run}"
    print(
        f"predict: {args.n} JPEGs (256 px) -> {model}, "
        f"batch {args.batch}, {torch.get_num_threads()} threads, --workers {args.workers}, best of {args.repeats}"
    )
    print(f"bare view scorer on pre-decoded tensors: {bare:7.1f} img/s")
    print(f"tailtag predict (torch backend):         {ours:7.1f} img/s")
    if "onnx" in rates:
        verdict = "identical" if same else "DIFFERENT"
        print(
            f"tailtag predict (onnx backend):          {rates['onnx']:7.1f} img/s   "
            f"({rates['onnx'] / ours:.2f} x torch, {verdict} CSV)"
        )
    ratio = ours / bare
    ok = bool(np.isfinite(ratio) and ratio >= TARGET)
    print(f"ratio predict / bare: {ratio:.2f}   {'PASS' if ok else 'FAIL'} (>= {TARGET})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark the ONNX export: onnxruntime against the PyTorch view scorer on the same pre-decoded images.

Trains a small head-mode run (Lite0 at its default 224 px, top_blocks=1, centre view) on generated demo
scenes, exports it with `tailtag export` (parity-checked on its validation images), decodes N images once
(default 256) exactly as `Tagger.decode` does, then times the two scorers `tailtag predict` can use:

- torch: `RunModel.view_scorer()` under `torch.inference_mode()` (`tailtag.inference.torch_scorer`);
- onnx: the exported model.onnx in onnxruntime, CPUExecutionProvider (`tailtag.export.onnx_scorer`),

in batches of B (default 32), with the same intra-op thread count (`--threads`), best of `--repeats` passes
after one warm-up batch. Prints images/s for each and the ratio, and PASS/FAIL for parity on all N images
(max |p_onnx - p_torch| <= 1e-4 and identical tags after the run's decision).

    python benchmarks/bench_export.py                    # torch's thread count
    python benchmarks/bench_export.py --threads 1 --n 128
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tailtag.cli import main as tailtag_main
from tailtag.demo import make_demo_dataset
from tailtag.export import export_run, onnx_scorer
from tailtag.inference import Scorer, Tagger
from tailtag.thresholds.decision import load_decision

TOLERANCE = 1e-4


def train_run(root: Path, n_images: int, threads: int) -> Path:
    """A 2-epoch head-mode run on `n_images` generated 256 px scenes; returns the run directory."""
    labels = make_demo_dataset(root / "data", n_images=n_images, size=256)
    settings = (f"cache_dir={root / 'cache'}", "num_workers=0", "epochs=2", "warmup_epochs=0", "batch_size=32")
    sets = [item for key in settings for item in ("--set", key)]
    status = tailtag_main(["train", str(labels), "--images", str(labels.parent), "--out", str(root / "run"), *sets])
    if status != 0:
        raise SystemExit(f"training the benchmark run failed (status {status})")
    torch.set_num_threads(threads)  # training may have changed it
    return root / "run"


def time_scorer(scorer: Scorer, images: torch.Tensor, batch: int, repeats: int) -> tuple[float, np.ndarray]:
    """(best images/s over `repeats` passes, (N, K) probabilities) of one view's images (N, 3, H, W)."""
    scorer(images[:batch])  # warm-up: allocators, oneDNN/onnxruntime kernel selection
    best, out = 0.0, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = np.concatenate([scorer(images[i : i + batch]) for i in range(0, len(images), batch)])
        best = max(best, len(images) / (time.perf_counter() - start))
    return best, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="pre-decoded images timed (default 256)")
    parser.add_argument("--batch", type=int, default=32, help="images per forward pass (default 32)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes, best reported (default 3)")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads for both (default: torch's)")
    args = parser.parse_args()
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as folder:
        run = train_run(Path(folder), args.n, threads)
        result = export_run(run, "onnx", sample=16)
        print(f"export: {result.path.name}, {result.size_bytes / 1e6:.1f} MB in {result.seconds:.1f} s")
        print(result.parity.describe("onnx"))
        tagger = Tagger.load(run)
        paths = sorted((Path(folder) / "data" / "images").glob("*.jpg"))[: args.n]
        start = time.perf_counter()
        views = torch.stack([tagger.decode(path) for path in paths])[:, 0].contiguous()  # centre view
        decode_s = time.perf_counter() - start
        torch_ips, torch_p = time_scorer(tagger.scorer, views, args.batch, args.repeats)
        onnx_ips, onnx_p = time_scorer(onnx_scorer(tagger.model, result.path), views, args.batch, args.repeats)
        decision = load_decision(run)
    size = "x".join(map(str, views.shape[1:]))
    print(
        f"{len(views)} pre-decoded {size} images (decoding took {decode_s:.1f} s, not timed), batch {args.batch}, "
        f"{threads} threads, best of {args.repeats}"
    )
    print(f"PyTorch view scorer:   {torch_ips:8.1f} images/s")
    print(f"onnxruntime (CPU EP):  {onnx_ips:8.1f} images/s")
    diff = float(np.abs(torch_p - onnx_p).max())
    same_tags = bool((decision.predict(torch_p) == decision.predict(onnx_p)).all())
    ok = diff <= TOLERANCE and same_tags
    print(
        f"ratio onnx / torch: {onnx_ips / torch_ips:.2f}   {'PASS' if ok else 'FAIL'} (parity on all {len(views)} "
        f"images: max diff {diff:.1e} <= {TOLERANCE:g}, tags {'identical' if same_tags else 'DIFFER'})"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

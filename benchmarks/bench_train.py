"""Benchmark head-mode training: 50 epochs on 2,000 cached pooled features in <= 10 s, and the engine's cost.

Data: N cached "Lite0" feature vectors (default 2,000 for training + 500 held out, D = 1280), random but
label-correlated: 5 long-tailed labels (priors 0.40 ... 0.02), each adding its own direction to Gaussian
noise, so the head has something to learn and the metrics mean something. Both loops train the same head
(deep copies of one initialisation; linear by default as in `tailtag train`, or `--head mlp`: 1280-512-5
with dropout 0.25) with AdamW, batch 64, BCE with logits and gradient-norm clipping at 5, for the same
epochs (no early stop):

- bare: a plain PyTorch loop: shuffle, slice, forward, loss, backward, clip, step; after each epoch one
  forward pass over the held-out features (probabilities only, no metrics): the lower bound;
- tailtag: `tailtag.train.loop.fit` exactly as `tailtag train` runs it with top_blocks=0:
  `CachedFeatureBatches` over the "none" sampler, warmup + cosine schedule, validation with
  `predict_views` and every metric (macro/micro F1, mAP, per class), the collapse guard, best-epoch
  weights (safetensors), an fsync'ed checkpoint, metrics.csv and TensorBoard after every epoch.

Prints seconds for each, the ratio and PASS/FAIL for tailtag <= 10 s. With `--maps` it also times one epoch
of the default top_blocks=1 path: the last Lite0 stage + conv_head + head trained on 1,500 cached
192x7x7 maps (224 px input), validated on 500 with flips.

    python benchmarks/bench_train.py                        # linear head, torch's thread count
    python benchmarks/bench_train.py --threads 1 --head mlp --maps
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from tailtag.config import make_config
from tailtag.losses import create_loss
from tailtag.models import create_backbone, create_head
from tailtag.sampling import create_sampler
from tailtag.train.distributed import DistInfo
from tailtag.train.head_mode import CachedFeatureBatches, predict_views, split_backbone
from tailtag.train.logs import RunLog
from tailtag.train.loop import fit

LIMIT_S = 10.0
PRIORS = np.array([0.40, 0.20, 0.10, 0.05, 0.02])


def make_features(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(features (n, dim) float32, targets (n, 5) float32): Gaussian noise plus one direction per present label."""
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, len(PRIORS))) < PRIORS).astype(np.float32)
    directions = rng.normal(0, 1, (len(PRIORS), dim)).astype(np.float32) / np.sqrt(dim) * 8
    features = rng.normal(0, 1, (n, dim)).astype(np.float32) + targets @ directions
    # Pooled activations after SiLU/ReLU are mostly non-negative.
    return np.maximum(features, 0).astype(np.float32), targets


def bare_loop(head: nn.Module, data: dict, epochs: int, batch: int, lr: float) -> float:
    """Seconds for `epochs` plain epochs, each followed by a held-out forward pass."""
    x, y = torch.from_numpy(data["train_x"]), torch.from_numpy(data["train_y"])
    val_x = torch.from_numpy(data["val_x"])
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(epochs):
        head.train()
        order = torch.randperm(len(x), generator=generator)
        for first in range(0, len(x), batch):
            rows = order[first : first + batch]
            loss = nn.functional.binary_cross_entropy_with_logits(head(x[rows]), y[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(head.parameters(), 5.0)
            optimizer.step()
        head.eval()
        with torch.inference_mode():
            torch.sigmoid(head(val_x))
    return time.perf_counter() - start


def engine_fit(model: nn.Module, data: dict, config_values: dict, run_dir: Path, map_shape=None) -> tuple[float, dict]:
    """(seconds, final state) of `fit` on cached features (V=1 view), as `tailtag.train.run.train` calls it."""
    config = make_config(config_values)
    dist = DistInfo()
    loss = create_loss("bce", class_counts=data["train_y"].sum(0), n_samples=len(data["train_y"]))
    sampler = create_sampler("none", data["train_y"].astype(np.uint8), seed=config.seed)
    batches = CachedFeatureBatches(
        data["train_x"][None], data["train_y"], sampler, config.batch_size, config.seed, dist, map_shape
    )
    val_x, val_y = data["val_x"][None], data["val_y"]

    def save_best(module: nn.Module, metrics: dict) -> None:
        save_file({k: v.detach().contiguous() for k, v in module.state_dict().items()}, str(run_dir / "best.st"))

    log = RunLog(run_dir, progress=False)
    start = time.perf_counter()
    state = fit(
        model,
        loss,
        batches=batches,
        steps_per_epoch=batches.steps_per_epoch(),
        validate=lambda module: (val_y, predict_views(module, loss.probabilities, val_x, dist.device, map_shape)),
        config=config,
        run_dir=run_dir,
        dist=dist,
        log=log,
        save_best=save_best,
        lr_scales={"0.": config.top_lr_scale} if map_shape is not None else None,
    )
    seconds = time.perf_counter() - start
    log.close()
    return seconds, state


def bench_pooled(args: argparse.Namespace) -> bool:
    x, y = make_features(args.n + args.n_val, 1280)
    data = {"train_x": x[: args.n], "train_y": y[: args.n], "val_x": x[args.n :], "val_y": y[args.n :]}
    torch.manual_seed(0)
    head = create_head(args.head, 1280, len(PRIORS), hidden=512, dropout=0.25)
    config = {
        "epochs": args.epochs,
        "batch_size": args.batch,
        "lr": args.lr,
        "early_stop": 0,
        "head": args.head,
        "top_blocks": 0,
    }
    bare_s = bare_loop(copy.deepcopy(head), data, args.epochs, args.batch, args.lr)
    with tempfile.TemporaryDirectory() as folder:
        ours_s, state = engine_fit(copy.deepcopy(head), data, config, Path(folder))
    best = state["best_metrics"]
    print(
        f"head mode, top_blocks=0: {args.epochs} epochs on {args.n} cached features (D=1280, {len(PRIORS)} labels) "
        f"+ {args.n_val} held out, {args.head} head, batch {args.batch}, {torch.get_num_threads()} threads"
    )
    print(f"bare PyTorch loop:  {bare_s:6.2f} s")
    print(
        f"tailtag fit:        {ours_s:6.2f} s   (selected epoch {state['best_epoch']}: "
        f"macro_f1 {best['macro_f1']:.3f}, mAP {best['mAP']:.3f})"
    )
    ok = ours_s <= LIMIT_S
    print(f"ratio tailtag / bare: {ours_s / bare_s:.2f}   {'PASS' if ok else 'FAIL'} (tailtag <= {LIMIT_S:g} s)")
    return ok


def bench_maps(args: argparse.Namespace) -> None:
    """One epoch of the default path (top_blocks=1) on 1,500 + 500 cached 192x7x7 Lite0 maps."""
    backbone = create_backbone("tf_efficientnet_lite0", "imagenet")
    _, top, map_shape = split_backbone(backbone, 1)
    rng = np.random.default_rng(1)
    n, n_val, dim = 1500, 500, int(np.prod(map_shape))
    maps = np.maximum(rng.normal(0, 1, (n + n_val, dim)), 0).astype(np.float32)
    y = (rng.random((n + n_val, len(PRIORS))) < PRIORS).astype(np.float32)
    data = {"train_x": maps[:n], "train_y": y[:n], "val_x": maps[n:], "val_y": y[n:]}
    torch.manual_seed(0)
    model = nn.Sequential(top, create_head(args.head, backbone.num_features, len(PRIORS), hidden=512))
    config = {"epochs": 1, "batch_size": args.batch, "lr": args.lr, "early_stop": 0, "head": args.head}
    with tempfile.TemporaryDirectory() as folder:
        seconds, _ = engine_fit(model, data, config, Path(folder), map_shape)
    loss = create_loss("bce", class_counts=y[:n].sum(0), n_samples=n)
    start = time.perf_counter()
    with torch.inference_mode():
        predict_views(model.eval(), loss.probabilities, data["val_x"][None], torch.device("cpu"), map_shape)
    val_s = time.perf_counter() - start
    print(
        f"head mode, top_blocks=1: 1 epoch on {n} cached {'x'.join(map(str, map_shape))} maps, {args.head} head, "
        f"batch {args.batch}: {seconds:.2f} s, of which validating {n_val} maps (and their flips) {val_s:.2f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="cached training features (default 2000)")
    parser.add_argument("--n-val", type=int, default=500, help="held-out features validated every epoch")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--head", default="linear", choices=("linear", "mlp", "scaled"))
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--maps", action="store_true", help="also time one epoch of the top_blocks=1 path")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ok = bench_pooled(args)
    if args.maps:
        bench_maps(args)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

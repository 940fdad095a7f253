"""Benchmark the finetune training step: does tailtag's loop cost anything over a bare timm loop?

Both loops train the same model (a timm backbone with `num_classes=0` plus a linear head, deep copies of
one initialisation) on the same pre-decoded random batch, at the same batch size and thread count, with
AdamW and gradient-norm clipping at 5:

- bare: `model(x)`, BCE with logits, `zero_grad`, `backward`, `clip_grad_norm_`, `step` (the core of timm's
  `train_one_epoch`, without its per-step `loss.item()`): the upper bound;
- tailtag: `tailtag.train.loop.train_one_epoch` on `tailtag.train.finetune_model.FinetuneModel`, i.e. the
  per-step learning-rate schedule, the non-finite-loss guard, the autocast/loss-scaling hooks and the
  running loss, with progress output off.

Decoding is left out on purpose (see bench_features.py for the input pipeline): the ratio measures loop
overhead. The two loops alternate, `--repeats` times each, and the best time of each counts, which keeps
other load on the machine from deciding the result. Prints images/s (forward + backward + step, train
mode) of both, their ratio and PASS/FAIL for ratio >= 0.9.

    python benchmarks/bench_finetune.py                              # Lite0, 128 px, batch 16, CPU
    python benchmarks/bench_finetune.py --image-size 224 --batch 64 --amp --channels-last   # on a GPU
    python benchmarks/bench_finetune.py --image-size 224 --batch 32 --cpu-amp --channels-last   # CPU bf16

With `--cpu-amp` or `--channels-last` a third loop, the bare loop in float32 and NCHW, runs alternating with
the other two, and the speedup of the chosen precision and memory format over it is printed too (the figure
behind the CPU fine-tune recipe's `cpu_amp` and `channels_last`).
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch
from torch import nn

from tailtag.config import make_config
from tailtag.losses import create_loss
from tailtag.models import create_backbone, create_head
from tailtag.train.finetune_model import FinetuneModel, mixed_precision
from tailtag.train.logs import RunLog
from tailtag.train.loop import make_optimizer, train_one_epoch

MIN_RATIO = 0.9
N_LABELS = 10


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_loop(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], steps: int, precision, device) -> float:
    """Seconds for `steps` plain training steps (with float16 loss scaling where `precision` needs it)."""
    images, targets = batch
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
    scaler = torch.amp.GradScaler(device.type) if precision.scaler is not None else None
    model.train()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        with precision.autocast():
            logits = model(images)
        loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        if scaler is None:
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            continue
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        scaler.step(optimizer)
        scaler.update()
    _sync(device)
    return time.perf_counter() - start


def tailtag_loop(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], steps: int, precision, device) -> float:
    """Seconds for one `train_one_epoch` of `steps` steps over the same batch."""
    config = make_config({"lr": 1e-4, "warmup_epochs": 1, "epochs": 1, "grad_clip": 5.0, "batch_size": len(batch[0])})
    loss_fn = create_loss("bce", class_counts=np.full(N_LABELS, 10), n_samples=100).to(device)
    optimizer = make_optimizer(model, config)
    log = RunLog(None, enabled=False)
    _sync(device)
    start = time.perf_counter()
    train_one_epoch(
        model,
        loss_fn,
        optimizer,
        lambda epoch: (batch for _ in range(steps)),
        epoch=0,
        steps_per_epoch=steps,
        config=config,
        ema=None,
        plateau_scale=1.0,
        log=log,
        autocast=precision.autocast,
        scaler=precision.scaler,
    )
    _sync(device)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="tf_efficientnet_lite0")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each loop, alternating; the best counts")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--amp", action="store_true", help="mixed precision in both loops (CUDA only)")
    parser.add_argument("--cpu-amp", action="store_true", help="bfloat16 autocast in both loops on a CPU with bf16")
    parser.add_argument("--channels-last", action="store_true", help="channels-last model and input")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    backbone = create_backbone(args.backbone, None, input_size=args.image_size)
    base = FinetuneModel(backbone.model, create_head("linear", backbone.num_features, N_LABELS)).to(device)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    images = torch.randn(args.batch, 3, args.image_size, args.image_size, device=device)
    batch = (images.to(memory_format=fmt), torch.randint(0, 2, (args.batch, N_LABELS), device=device).float())
    precision = mixed_precision(args.amp, device, cpu_amp=args.cpu_amp)
    bare_model, ours = copy.deepcopy(base).to(memory_format=fmt), copy.deepcopy(base).to(memory_format=fmt)
    bare_loop(bare_model, batch, 2, precision, device)  # warm-up: allocator, kernels, lazy init
    tailtag_loop(ours, batch, 2, precision, device)
    plain = None
    if args.cpu_amp or args.channels_last:
        plain = (copy.deepcopy(base), (images, batch[1]), mixed_precision(False, device))
        bare_loop(plain[0], plain[1], 2, plain[2], device)
    bare_s, ours_s, plain_s = [], [], []
    for _ in range(args.repeats):
        bare_s.append(bare_loop(bare_model, batch, args.steps, precision, device))
        ours_s.append(tailtag_loop(ours, batch, args.steps, precision, device))
        if plain is not None:
            plain_s.append(bare_loop(*plain[:2], args.steps, plain[2], device))
    bare_rate, our_rate = args.steps * args.batch / min(bare_s), args.steps * args.batch / min(ours_s)
    ratio = our_rate / bare_rate
    print(
        f"{args.backbone} at {args.image_size} px, batch {args.batch}, {args.steps} steps x {args.repeats}, "
        f"{args.threads} threads, {device}, {precision.name}{', channels-last' if args.channels_last else ''}"
    )
    print(f"bare timm loop:   {bare_rate:8.1f} images/s  (runs: {', '.join(f'{s:.2f}' for s in bare_s)} s)")
    print(f"tailtag loop:     {our_rate:8.1f} images/s  (runs: {', '.join(f'{s:.2f}' for s in ours_s)} s)")
    if plain_s:
        plain_rate = args.steps * args.batch / min(plain_s)
        runs = ", ".join(f"{s:.2f}" for s in plain_s)
        print(f"bare loop, float32 NCHW: {plain_rate:8.1f} images/s  (runs: {runs} s)")
        print(f"speedup of {precision.name}{' + channels-last' if args.channels_last else ''} over it: "
              f"{bare_rate / plain_rate:.2f}x")  # fmt: skip
    print(f"ratio tailtag / bare: {ratio:.3f}  {'PASS' if ratio >= MIN_RATIO else 'FAIL'} (>= {MIN_RATIO})")
    return 0 if ratio >= MIN_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())

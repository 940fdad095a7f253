"""Benchmark the HTTP service: a bounded loopback load test against batch prediction on the same images.

A tiny run is trained first (the embedded demo generator, Lite0 head mode at the run's input size), then:

- batch predict: `Tagger.predict` over the generated JPEGs (decode + views + model + decision), batch
  `--batch`, in this process, before and after the load test (averaged): the baseline;
- service: `tailtag serve RUN --max-batch BATCH` in its own process (as deployed), loaded by `--clients`
  concurrent clients (asyncio + httpx, one single-image multipart request after another, no think time)
  for `--seconds` seconds on loopback, after a short warm-up.

Prints requests, errors (any non-200 or transport error), p50 / p99 latency, images/s, the service's mean
batch size, CPU time per image of both (which other load on the machine does not change, unlike images/s),
and the ratio service / batch predict; PASS when there are no errors and the ratio >= 0.7. Client and
server share the machine, so the ratio is a lower bound on a host with separate clients.

    python benchmarks/bench_serve.py                          # 8 clients, 30 s, torch's thread count
    python benchmarks/bench_serve.py --seconds 10 --threads 2 --image-size 224
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import torch
from PIL import Image

from tailtag.cli import main as tailtag
from tailtag.demo import make_demo_dataset
from tailtag.inference import Tagger

TARGET_RATIO = 0.7


def train_run(root: Path, image_size: int, threads: int) -> Path:
    """A 2-epoch head-mode run on 96 generated scenes; returns its directory."""
    labels = make_demo_dataset(root / "data", n_images=96, size=max(96, image_size))
    settings = (f"cache_dir={root / 'cache'}", f"image_size={image_size}", "epochs=2", "warmup_epochs=0",
                "num_workers=0", "batch_size=32")  # fmt: skip
    sets = [a for key in settings for a in ("--set", key)]
    torch.set_num_threads(threads)
    status = tailtag(["train", str(labels), "--images", str(labels.parent), "--out", str(root / "run"), *sets])
    if status != 0:
        raise SystemExit(f"training the benchmark run failed (status {status})")
    return root / "run"


def make_images(folder: Path, n: int, side: int, seed: int = 0) -> list[Path]:
    """n JPEGs of side x 3/4 side: demo scenes resized, so decoding costs what a real photo of that size does."""
    scenes = sorted(Path(folder.parent / "data" / "images").glob("*.jpg"))
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        image = Image.open(scenes[i % len(scenes)]).convert("RGB").resize((side, side * 3 // 4), Image.BICUBIC)
        noise = rng.integers(-8, 9, (image.height, image.width, 3))  # photo-like detail, so JPEG sizes are realistic
        pixels = np.clip(np.asarray(image, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
        path = folder / f"{i:04d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def batch_predict(run: Path, paths: list[Path], batch: int, passes: int) -> tuple[float, float]:
    """(images per second, CPU milliseconds per image) of `Tagger.predict` over `paths`, after a warm-up batch."""
    tagger = Tagger.load(run)
    tagger.predict(paths[:batch], batch_size=batch)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(passes):
        tagger.predict(paths, batch_size=batch)
    n = passes * len(paths)
    return n / (time.perf_counter() - start), 1000 * (time.process_time() - cpu) / n


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_service(run: Path, args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "tailtag", "serve", str(run), "--port", "0", "--max-batch", str(args.batch),
               "--max-wait-ms", str(args.max_wait_ms), "--threads", str(args.threads),
               "--log-level", "warning"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True).start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        found = [m.group(1) for line in lines if (m := re.search(r"at (http://\S+)", line))]
        if found:
            return process, found[0]
        time.sleep(0.1)
    process.kill()
    raise SystemExit("tailtag serve did not start:\n" + "".join(lines))


async def load_test(url: str, bodies: list[tuple[str, bytes]], clients: int, seconds: float) -> dict:
    """`clients` loops posting one image each until `seconds` pass; latencies of the completed requests."""
    latencies: list[float] = []
    errors: list[str] = []
    stop = time.perf_counter() + seconds

    async def client(index: int) -> None:
        async with httpx.AsyncClient(timeout=60) as session:
            k = index
            while time.perf_counter() < stop:
                name, data = bodies[k % len(bodies)]
                k += clients
                start = time.perf_counter()
                try:
                    response = await session.post(f"{url}/v1/tags", files=[("images", (name, data, "image/jpeg"))])
                    ok = response.status_code == 200 and len(response.json()["results"]) == 1
                    if not ok:
                        errors.append(f"{response.status_code} {response.text[:200]}")
                except httpx.HTTPError as error:
                    errors.append(repr(error))
                    continue
                latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    return {"latencies": np.array(latencies), "errors": errors, "seconds": time.perf_counter() - start}


def bench(args: argparse.Namespace) -> bool:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        run = train_run(root, args.image_size, args.threads)
        paths = make_images(root / "bench-images", args.images, args.photo_side)
        # The baseline is measured before and after the load test and averaged, so a change in the
        # machine's load during the run shows in both figures instead of skewing the ratio.
        predicts = [batch_predict(run, paths, args.batch, args.passes)]
        bodies = [(path.name, path.read_bytes()) for path in paths]
        process, url = start_service(run, args)
        try:
            asyncio.run(load_test(url, bodies, args.clients, min(3.0, args.seconds)))  # warm-up
            before = httpx.get(f"{url}/healthz").json()
            server_cpu, client_cpu = process_cpu_s(process.pid), time.process_time()
            result = asyncio.run(load_test(url, bodies, args.clients, args.seconds))
            result["client_cpu_s"] = time.process_time() - client_cpu
            end_cpu = process_cpu_s(process.pid)
            result["server_cpu_s"] = end_cpu - server_cpu if end_cpu is not None and server_cpu is not None else None
            after = httpx.get(f"{url}/healthz").json()
        finally:
            process.terminate()
            process.wait(timeout=30)
        predicts.append(batch_predict(run, paths, args.batch, args.passes))
    return report(args, result, predicts, before, after)


def report(
    args: argparse.Namespace, result: dict, predicts: list[tuple[float, float]], before: dict, after: dict
) -> bool:
    """Print the figures; True for PASS."""
    latencies, errors = result["latencies"], result["errors"]
    predict_rate = float(np.mean([rate for rate, _ in predicts]))
    rate = len(latencies) / result["seconds"]
    batches = after["batches_run"] - before["batches_run"]
    mean_batch = (after["images_served"] - before["images_served"]) / max(batches, 1)
    print(
        f"run: tf_efficientnet_lite0 head mode at {args.image_size} px; {args.images} generated "
        f"{args.photo_side}x{args.photo_side * 3 // 4} JPEGs; torch threads {args.threads} ({os.cpu_count()} cores)"
    )
    print(
        f"batch predict (Tagger.predict, batch {args.batch}): {predict_rate:.1f} images/s "
        f"(before / after the load test: {predicts[0][0]:.1f} / {predicts[1][0]:.1f})"
    )
    p50, p99 = (np.percentile(latencies, q) * 1000 for q in (50, 99)) if len(latencies) else (float("nan"),) * 2
    print(
        f"service ({args.clients} clients x {args.seconds:g} s, max-batch {args.batch}, "
        f"max-wait {args.max_wait_ms:g} ms): {len(latencies)} requests, {len(errors)} errors, "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, {rate:.1f} images/s, mean batch {mean_batch:.2f}, "
        f"internal errors {after['internal_errors']}"
    )
    n = max(len(latencies), 1)
    server = f"{1000 * result['server_cpu_s'] / n:.1f}" if result["server_cpu_s"] is not None else "?"
    print(
        f"CPU per image (independent of other load on the machine): batch predict "
        f"{np.mean([cpu for _, cpu in predicts]):.1f} ms; service {server} ms + clients "
        f"{1000 * result['client_cpu_s'] / n:.1f} ms"
    )
    for error in errors[:5]:
        print(f"  error: {error}")
    ratio = rate / predict_rate
    ok = not errors and after["internal_errors"] == 0 and ratio >= TARGET_RATIO
    print(f"ratio service / batch predict: {ratio:.2f}   {'PASS' if ok else 'FAIL'} (>= {TARGET_RATIO}, 0 errors)")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="load test duration (default 30)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--batch", type=int, default=32, help="--max-batch of the service and predict's batch")
    parser.add_argument("--max-wait-ms", type=float, default=10.0)
    parser.add_argument("--images", type=int, default=64, help="distinct generated JPEGs (default 64)")
    parser.add_argument("--photo-side", type=int, default=640, help="JPEG width in pixels (default 640)")
    parser.add_argument("--image-size", type=int, default=224, help="the run's network input side (default 224)")
    parser.add_argument("--passes", type=int, default=2, help="batch predict passes over the images (default 2)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    args.threads = args.threads or torch.get_num_threads()
    return 0 if bench(args) else 1


if __name__ == "__main__":
    raise SystemExit(main())

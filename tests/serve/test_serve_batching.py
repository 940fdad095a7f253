"""Micro-batching: concurrent requests share forward passes; a full queue answers 503, a slow one 504."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import torch

from tailtag.inference import Tagger
from tailtag.serve import BackgroundServer, Limits, MicroBatcher, QueueFull, create_app


def test_concurrent_requests_are_batched(service, tagger, images):
    expected = {path.name: tags for path, tags in zip(images, tagger.predict(images), strict=True)}
    before = httpx.get(f"{service}/healthz").json()
    start = threading.Barrier(16)

    def one(i: int) -> tuple[str, dict]:
        path = images[i % len(images)]
        with httpx.Client(timeout=30) as client:
            start.wait()
            response = client.post(f"{service}/v1/tags", files=[("images", (path.name, path.read_bytes()))])
        return path.name, response

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(16)))
    for name, response in answers:
        assert response.status_code == 200, response.text
        result = response.json()["results"][0]
        assert result["tags"] == expected[name].tags
        np.testing.assert_allclose(list(result["probabilities"].values()), list(expected[name].probabilities.values()),
                                   atol=1e-5)  # fmt: skip
    after = httpx.get(f"{service}/healthz").json()
    images_run = after["images_served"] - before["images_served"]
    batches_run = after["batches_run"] - before["batches_run"]
    assert images_run == 16
    assert batches_run < 16, f"16 concurrent images ran in {batches_run} batches: no batching happened"
    assert after["mean_batch_size"] > 1.0 and after["internal_errors"] == 0


def _run_batcher(scenario, **kwargs):
    calls: list[int] = []

    def run_batch(views: torch.Tensor) -> list[float]:
        calls.append(views.shape[0])
        time.sleep(0.05)  # a model that takes 50 ms per batch
        return [float(v[0, 0, 0, 0]) for v in views]

    async def main():
        batcher = MicroBatcher(run_batch, **kwargs)
        batcher.start()
        try:
            return await scenario(batcher)
        finally:
            await batcher.stop()

    return asyncio.run(main()), calls


def _views(value: float) -> torch.Tensor:
    return torch.full((1, 3, 2, 2), value)


def test_batcher_routes_results_and_fills_batches():
    async def scenario(batcher):
        requests = [batcher.submit([_views(10 * r + i) for i in range(r % 3 + 1)]) for r in range(9)]
        return await asyncio.gather(*requests)

    results, calls = _run_batcher(scenario, max_batch=8, max_wait_s=0.05, max_queue=64)
    assert results == [[10.0 * r + i for i in range(r % 3 + 1)] for r in range(9)]
    assert sum(calls) == 18 and max(calls) <= 8
    assert calls[:2] == [8, 8]  # all 18 queued before the first batch: full batches, then the rest


def test_batcher_waits_at_most_max_wait():
    async def scenario(batcher):
        start = time.monotonic()
        result = await batcher.submit([_views(1.0)])
        return result, time.monotonic() - start

    (result, seconds), calls = _run_batcher(scenario, max_batch=8, max_wait_s=0.2, max_queue=8)
    assert result == [1.0] and calls == [1]
    assert 0.2 <= seconds < 1.0  # waited for company that never came, then ran alone


def test_batcher_refuses_what_does_not_fit_and_skips_cancelled():
    async def scenario(batcher):
        first = asyncio.ensure_future(batcher.submit([_views(1.0), _views(2.0)]))
        await asyncio.sleep(0)
        with pytest.raises(QueueFull) as refused:
            await batcher.submit([_views(3.0), _views(4.0)])  # 2 queued + 2 > max_queue 3: none admitted
        assert refused.value.retry_after_s >= 1 and batcher.queued == 2
        gone = asyncio.ensure_future(batcher.submit([_views(5.0)]))
        await asyncio.sleep(0)
        gone.cancel()  # a timed-out request: its image must never reach the model
        return await first

    result, calls = _run_batcher(scenario, max_batch=4, max_wait_s=0.05, max_queue=3)
    assert result == [1.0, 2.0] and calls == [2]


def _slow_tagger(run, seconds: float) -> Tagger:
    tagger = Tagger.load(run)
    plain = tagger.scorer

    def slow(views: torch.Tensor) -> np.ndarray:
        time.sleep(seconds)
        return plain(views)

    tagger.scorer = slow
    return tagger


def test_queue_full_is_503_and_slow_requests_504(small_run, images):
    limits = Limits(max_batch=1, max_wait_ms=0, max_images=1, max_queue=1, timeout_s=1.0)
    body = images[0].read_bytes()
    # views=[center,full]: two scorer calls per batch, so the model is busy 2 x 0.8 s per image
    with BackgroundServer(create_app(_slow_tagger(small_run, 0.8), limits)) as server:

        def post(delay: float) -> httpx.Response:
            time.sleep(delay)
            return httpx.post(f"{server.url}/v1/tags", files=[("images", ("a.jpg", body))], timeout=30)

        with ThreadPoolExecutor(3) as pool:
            first, second, third = pool.map(post, (0.0, 0.3, 0.6))
        trickled = _trickle(server.url)
        health = httpx.get(f"{server.url}/healthz").json()
    assert first.status_code == 504 and first.json()["error"]["code"] == "timeout"  # in the model past 1 s
    assert second.status_code == 504  # queued behind it
    assert third.status_code == 503 and third.json()["error"]["code"] == "busy"
    assert int(third.headers["retry-after"]) >= 1 and "--max-queue 1" in third.json()["error"]["message"]
    assert trickled.startswith("HTTP/1.1 504") and '"code":"timeout"' in trickled  # a body that never completes
    assert health["internal_errors"] == 0 and health["rejected"] == {"busy": 1, "timeout": 3}


def _trickle(url: str) -> str:
    """Send headers announcing 1,000 bytes, then only 10 (a slowloris client); return the raw reply."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /v1/tags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"images\": ")  # fmt: skip
        reply = b""
        while b"}}" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.decode("latin-1")


def test_requests_in_progress_are_capped(small_run, images):
    limits = Limits(max_requests=1, timeout_s=1.5)
    with BackgroundServer(create_app(Tagger.load(small_run), limits)) as server:
        with ThreadPoolExecutor(1) as pool:
            trickled = pool.submit(_trickle, server.url)  # holds the only slot until its timeout
            time.sleep(0.4)
            refused = httpx.post(f"{server.url}/v1/tags", files=[("images", ("a.jpg", images[0].read_bytes()))])
            assert trickled.result().startswith("HTTP/1.1 504")
        accepted = httpx.post(f"{server.url}/v1/tags", files=[("images", ("a.jpg", images[0].read_bytes()))])
    assert refused.status_code == 503 and "--max-requests 1" in refused.json()["error"]["message"]
    assert refused.headers["retry-after"] == "1"
    assert accepted.status_code == 200  # the slot is free again

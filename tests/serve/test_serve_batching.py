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


def _wait_until(condition, what: str, timeout_s: float = 30.0) -> None:
    """Poll `condition` until it holds: tests wait for a state, never for a guessed time."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.005)


def _gate_model(app, hold) -> tuple[threading.Event, threading.Event]:
    """Make the app's model thread call `hold(batch_size)` before each batch (to pin the queue's state).

    Returns (entered, release): `entered` is set when a batch reaches the model; the model waits on `release`.
    """
    batcher = app.state.service.batcher
    plain = batcher.run_batch
    entered, release = threading.Event(), threading.Event()

    def gated(views: torch.Tensor):
        entered.set()
        hold(views.shape[0])
        assert release.wait(60), "the test never released the model"
        return plain(views)

    batcher.run_batch = gated
    return entered, release


def test_concurrent_requests_are_batched(small_run, tagger, images):
    expected = {path.name: tags for path, tags in zip(images, tagger.predict(images), strict=True)}
    app = create_app(Tagger.load(small_run), Limits(max_batch=8, max_wait_ms=50, max_images=4, timeout_s=60))
    batcher = app.state.service.batcher
    first_batch: list[int] = []

    def hold(batch_size: int) -> None:
        if not first_batch:  # the first batch waits in the model until the other 16 - n images are queued
            first_batch.append(batch_size)
            _wait_until(lambda: batcher.queued == 16 - batch_size, "all 16 images to be queued")

    _, release = _gate_model(app, hold)
    release.set()

    def one(i: int) -> tuple[str, httpx.Response]:
        path = images[i % len(images)]
        response = httpx.post(f"{server.url}/v1/tags", files=[("images", (path.name, path.read_bytes()))], timeout=60)
        return path.name, response

    with BackgroundServer(app) as server, ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(16)))
        health = httpx.get(f"{server.url}/healthz").json()
    for name, response in answers:
        assert response.status_code == 200, response.text
        result = response.json()["results"][0]
        assert result["tags"] == expected[name].tags
        np.testing.assert_allclose(list(result["probabilities"].values()), list(expected[name].probabilities.values()),
                                   atol=1e-5)  # fmt: skip
    assert health["images_served"] == 16 and health["internal_errors"] == 0
    # the first batch, then the 16 - n queued images in full batches of at most 8: never 16 batches of one
    assert health["batches_run"] == 1 + -(-(16 - first_batch[0]) // 8), (first_batch, health)
    assert health["mean_batch_size"] == pytest.approx(16 / health["batches_run"], abs=1e-3)


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
    # waited for company that never came, then ran alone; the upper bound only catches a batcher that waits
    # for a full batch forever (a tight one would flake on a loaded machine)
    assert 0.2 <= seconds < 20


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


def test_queue_full_is_503_and_slow_requests_504(small_run, images):
    limits = Limits(max_batch=1, max_wait_ms=0, max_images=1, max_queue=1, timeout_s=2.0)
    app = create_app(Tagger.load(small_run), limits)
    batcher = app.state.service.batcher
    entered, release = _gate_model(app, lambda batch_size: None)
    body = images[0].read_bytes()
    with BackgroundServer(app) as server, ThreadPoolExecutor(3) as pool:

        def post() -> httpx.Response:
            return httpx.post(f"{server.url}/v1/tags", files=[("images", ("a.jpg", body))], timeout=30)

        first = pool.submit(post)
        assert entered.wait(30), "the first request never reached the model"  # and stays there: 504
        second = pool.submit(post)
        _wait_until(lambda: batcher.queued == 1, "the second request to be queued")  # queued behind it: 504
        third = post()  # 1 queued + 1 > --max-queue 1: refused at once
        trickled = pool.submit(_trickle, server.url)
        first, second, trickled = first.result(), second.result(), trickled.result()
        release.set()
        health = httpx.get(f"{server.url}/healthz").json()
    assert first.status_code == 504 and first.json()["error"]["code"] == "timeout"  # in the model past 2 s
    assert second.status_code == 504
    assert third.status_code == 503 and third.json()["error"]["code"] == "busy"
    assert int(third.headers["retry-after"]) >= 1 and "--max-queue 1" in third.json()["error"]["message"]
    assert trickled.startswith("HTTP/1.1 504") and '"code":"timeout"' in trickled  # a body that never completes
    assert health["internal_errors"] == 0 and health["rejected"] == {"busy": 1, "timeout": 3}


def _trickle(url: str) -> str:
    """Send headers announcing 1,000 bytes, then only 10 (a slowloris client); return the raw reply."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /v1/tags HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"images\": ")  # fmt: skip
        reply = b""
        while b"}}" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.decode("latin-1")


def test_requests_in_progress_are_capped(small_run, images):
    app = create_app(Tagger.load(small_run), Limits(max_requests=1, timeout_s=1.5))
    service = app.state.service
    with BackgroundServer(app) as server:
        with ThreadPoolExecutor(1) as pool:
            trickled = pool.submit(_trickle, server.url)  # holds the only slot until its timeout
            _wait_until(lambda: service.in_flight == 1, "the trickling request to take the only slot")
            refused = httpx.post(f"{server.url}/v1/tags", files=[("images", ("a.jpg", images[0].read_bytes()))])
            assert trickled.result().startswith("HTTP/1.1 504")
        accepted = httpx.post(f"{server.url}/v1/tags", files=[("images", ("a.jpg", images[0].read_bytes()))])
    assert refused.status_code == 503 and "--max-requests 1" in refused.json()["error"]["message"]
    assert refused.headers["retry-after"] == "1"
    assert accepted.status_code == 200  # the slot is free again

"""Micro-batching: images of concurrent requests scored together in one forward pass, on one model thread.

A CNN on the CPU scores a batch of 16 in far less than 16 times the time of one, so under load the service
gathers the images queued by all requests into one batch, runs it, and routes each row back to the request
it came from (the dynamic batching of inference servers such as NVIDIA Triton and TorchServe). A lone image
waits at most `max_wait_s` (counted from its arrival) for company; images that queued while the model was
busy do not wait again. The model runs in a single dedicated thread, so torch's intra-op threads own the
cores and batches never compete with each other; the asyncio loop only moves tensors and futures.

The queue is bounded: a request that would push it past `max_queue` images is refused at once (the caller
answers 503 with Retry-After) rather than joining a wait that only grows.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import torch

Result = TypeVar("Result")
log = logging.getLogger("tailtag.serve")


class QueueFull(Exception):
    """The queue cannot take the request's images now; `retry_after_s` estimates when it could."""

    def __init__(self, queued: int, asked: int, retry_after_s: int):
        super().__init__(f"{queued} images queued, {asked} more asked")
        self.queued, self.asked, self.retry_after_s = queued, asked, retry_after_s


@dataclass
class _Item:
    views: torch.Tensor  # (V, 3, H, W)
    future: asyncio.Future
    arrived: float = field(default_factory=time.monotonic)


class MicroBatcher(Generic[Result]):
    """Queue of decoded images in front of one model thread.

    Args:
        run_batch: (B, V, 3, H, W) float32 -> B results, called in the model thread.
        max_batch: most images per call of `run_batch`.
        max_wait_s: longest an image waits for others before its batch runs.
        max_queue: most images waiting (not counting the batch being scored).
    """

    def __init__(
        self,
        run_batch: Callable[[torch.Tensor], Sequence[Result]],
        *,
        max_batch: int,
        max_wait_s: float,
        max_queue: int,
    ):
        self.run_batch = run_batch
        self.max_batch, self.max_wait_s, self.max_queue = max_batch, max_wait_s, max_queue
        self.batches_run = 0
        self.images_scored = 0
        self.model_seconds = 0.0
        self._pending: deque[_Item] = deque()
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task | None = None

    @property
    def queued(self) -> int:
        return len(self._pending)

    @property
    def running(self) -> bool:
        """True while the collecting task is alive (False before `start`, after `stop`, or after a crash)."""
        return self._task is not None and not self._task.done()

    @property
    def mean_batch_size(self) -> float:
        return self.images_scored / self.batches_run if self.batches_run else 0.0

    def start(self) -> None:
        """Start the model thread and the collecting task (inside the running event loop)."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tailtag-model")
        self._task = asyncio.get_running_loop().create_task(self._collect(), name="tailtag-batcher")

    async def stop(self) -> None:
        """Stop collecting; requests still waiting are cancelled; the model thread finishes its batch."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for item in self._pending:
            item.future.cancel()
        self._pending.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)

    async def submit(self, views: Sequence[torch.Tensor]) -> list[Result]:
        """The results of images (each (V, 3, H, W)), in order; QueueFull if they do not fit in the queue.

        All of a request's images are admitted or none, so a refused request leaves no work behind.
        Cancelling the caller (a timeout) drops its images that have not reached the model yet.
        """
        if len(self._pending) + len(views) > self.max_queue:
            raise QueueFull(len(self._pending), len(views), self.retry_after_s())
        loop = asyncio.get_running_loop()
        items = [_Item(v, loop.create_future()) for v in views]
        self._pending.extend(items)
        self._arrived.set()
        if len(self._pending) >= self.max_batch:
            self._full.set()
        return list(await asyncio.gather(*(item.future for item in items)))

    def retry_after_s(self) -> int:
        """Whole seconds until the queue has likely drained: batches ahead x mean seconds per batch."""
        per_batch = self.model_seconds / self.batches_run if self.batches_run else 1.0
        return max(1, math.ceil(math.ceil(len(self._pending) / self.max_batch) * per_batch))

    async def _collect(self) -> None:
        while True:
            while not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
            wait = self._pending[0].arrived + self.max_wait_s - time.monotonic()
            if len(self._pending) < self.max_batch and wait > 0:
                self._full.clear()
                try:
                    await asyncio.wait_for(self._full.wait(), wait)
                except TimeoutError:
                    pass
            batch = self._take()
            if batch:
                await self._score(batch)

    def _take(self) -> list[_Item]:
        """Up to max_batch queued items whose requests are still waiting."""
        batch: list[_Item] = []
        while self._pending and len(batch) < self.max_batch:
            item = self._pending.popleft()
            if not item.future.done():  # a timed-out request cancelled it
                batch.append(item)
        return batch

    async def _score(self, batch: list[_Item]) -> None:
        start = time.perf_counter()
        try:
            views = torch.stack([item.views for item in batch])
            results = await asyncio.get_running_loop().run_in_executor(self._executor, self.run_batch, views)
        except Exception as error:  # a bug in the model path: every waiting request learns of it
            log.exception("scoring a batch of %d images failed", len(batch))
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(error)
            return
        self.model_seconds += time.perf_counter() - start
        self.batches_run += 1
        self.images_scored += len(batch)
        for item, result in zip(batch, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)

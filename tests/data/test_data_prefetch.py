"""prefetch_in_thread: same items in the same order, bounded read-ahead, errors and early exits handled."""

from __future__ import annotations

import threading
import time

import pytest

from tailtag.data import prefetch_in_thread


def test_yields_every_item_in_order():
    assert list(prefetch_in_thread(iter(range(50)), depth=3)) == list(range(50))
    assert list(prefetch_in_thread([], depth=1)) == []


def test_reads_at_most_depth_items_ahead():
    produced = []

    def source():
        for i in range(20):
            produced.append(i)
            yield i

    stream = prefetch_in_thread(source(), depth=2)
    assert next(stream) == 0
    time.sleep(0.2)  # give the producer every chance to run ahead
    assert len(produced) <= 1 + 2 + 1  # consumed, queued, and one blocked in put
    stream.close()


def test_producer_errors_reach_the_consumer_after_the_good_items():
    def source():
        yield 1
        yield 2
        raise OSError("disk gone")

    seen = []
    with pytest.raises(OSError, match="disk gone"):
        for item in prefetch_in_thread(source()):
            seen.append(item)
    assert seen == [1, 2]


def test_breaking_out_stops_the_producer():
    before = threading.active_count()

    def endless():
        i = 0
        while True:
            yield i
            i += 1

    for item in prefetch_in_thread(endless(), depth=2):
        if item == 5:
            break
    deadline = time.monotonic() + 2
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert threading.active_count() == before


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth must be >= 1, got 0"):
        list(prefetch_in_thread([1], depth=0))

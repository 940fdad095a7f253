"""FeatureStore: round trip, crash leftovers ignored, concurrent reading, refusal of bad data."""

from __future__ import annotations

import logging
import os
import threading
import time

import numpy as np
import pytest

from tailtag.errors import TailtagError
from tailtag.features import FeatureStore

KEY = {"backbone": "m", "view": "center", "dim": 4}


def _digests(n: int, prefix: str = "d") -> list[str]:
    return [f"{prefix}{i:031d}" for i in range(n)]


def test_round_trip_in_float16_and_newest_wins(tmp_path):
    store = FeatureStore(tmp_path / "s", KEY, 4)
    values = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    store.write(_digests(5), values)
    store.write(_digests(1), np.full((1, 4), 7.0, dtype=np.float32))  # rewritten later: the new rows win
    found, out = store.read([*_digests(5)[::-1], "unknown", None])
    assert found.tolist() == [True] * 5 + [False, False]
    np.testing.assert_allclose(out[:4], values[1:][::-1], rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(out[4], [7.0] * 4)
    assert np.isnan(out[5:]).all()
    assert len(store) == 5
    shard = sorted(p for p in (tmp_path / "s").glob("0*.npy") if not p.name.endswith(".keys.npy"))[0]
    assert np.load(shard).dtype == np.float16


def test_large_values_are_kept_in_float32(tmp_path):
    store = FeatureStore(tmp_path / "s", KEY, 4)
    store.write(_digests(1), np.array([[1e6, 1.0, 2.0, 3.0]], dtype=np.float32))
    assert store.read(_digests(1))[1][0, 0] == 1e6


def test_leftovers_of_a_killed_writer_are_ignored(tmp_path, caplog):
    store = FeatureStore(tmp_path / "s", KEY, 4)
    store.write(_digests(2), np.ones((2, 4), dtype=np.float32))
    (tmp_path / "s" / ".000002-dead.npy.abc.tmp").write_bytes(b"\x93NUMPY half")  # killed while writing
    np.save(tmp_path / "s" / "000003-dead.npy", np.zeros((1, 4), np.float16))  # killed before its keys file
    (tmp_path / "s" / "000004-torn.keys.npy").write_bytes(b"garbage")  # e.g. a disk that filled up
    np.save(tmp_path / "s" / "000004-torn.npy", np.zeros((1, 4), np.float16))
    with caplog.at_level(logging.WARNING):
        found, out = store.read(_digests(2))
    assert found.all() and (out == 1).all()
    assert "skipping unreadable shard" in caplog.text and "000004-torn" in caplog.text
    stale = tmp_path / "s" / ".000002-dead.npy.abc.tmp"
    assert store.remove_stale_temp_files() == 0  # young temp files may belong to a live writer
    old = time.time() - 2 * 24 * 3600
    os.utime(stale, (old, old))
    assert store.remove_stale_temp_files() == 1 and not stale.exists()


def test_reader_beside_a_writer_sees_whole_shards_only(tmp_path):
    writer = FeatureStore(tmp_path / "s", KEY, 4)
    reader = FeatureStore(tmp_path / "s", KEY, 4)
    batches = [_digests(8, prefix=f"{b:x}") for b in range(25)]
    errors = []

    def write_all():
        for b, digests in enumerate(batches):
            writer.write(digests, np.full((8, 4), b, dtype=np.float32))

    thread = threading.Thread(target=write_all)
    thread.start()
    while thread.is_alive():
        try:
            wanted = [d for digests in batches for d in digests]
            found, out = reader.read(wanted)
            expected = np.repeat(np.arange(25, dtype=np.float32), 8)
            if not np.array_equal(out[found, 0], expected[found]):
                errors.append("a row with the wrong value")
            if found.sum() % 8:
                errors.append(f"a partial shard: {found.sum()} rows")
        except Exception as error:  # noqa: BLE001 - any failure of the reader is what this test looks for
            errors.append(repr(error))
    thread.join()
    assert errors == []
    assert reader.read([d for digests in batches for d in digests])[0].all()


def test_key_mismatch_and_bad_writes(tmp_path):
    FeatureStore(tmp_path / "s", KEY, 4)
    with pytest.raises(TailtagError, match="(?s)key.json describes other features.*fix: delete that folder"):
        FeatureStore(tmp_path / "s", {**KEY, "view": "flip"}, 4)
    store = FeatureStore(tmp_path / "s", KEY, 4)
    with pytest.raises(TailtagError, match=r"non-finite features \(NaN/inf\) for 1 images"):
        store.write(_digests(2), np.array([[0, 0, 0, 0], [0, np.nan, 0, 0]], dtype=np.float32))
    with pytest.raises(ValueError, match=r"features \(2, 3\) do not match 2 digests x D=4"):
        store.write(_digests(2), np.zeros((2, 3)))
    assert len(store) == 0


def test_shard_of_another_dimension_is_skipped(tmp_path, caplog):
    FeatureStore(tmp_path / "s", KEY, 3).write(_digests(1), np.ones((1, 3)))
    (tmp_path / "s" / "key.json").unlink()
    with caplog.at_level(logging.WARNING):
        assert not FeatureStore(tmp_path / "s", KEY, 4).read(_digests(1))[0].any()
    assert "of shape (1, 3)" in caplog.text

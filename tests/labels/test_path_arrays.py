"""Compact path arrays: look-ups and repeats against a dict reference, with and without numpy's StringDType."""

from __future__ import annotations

import numpy as np
import pytest

from tailtag.labels import path_arrays
from tailtag.labels._rows import _repeats
from tailtag.labels.path_arrays import lookup, path_array, repeated_values


def _cases(seed: int, n: int = 120):
    """Random keys and wanted paths, some longer than StringDType's 15 inline bytes (numpy#31533's case)."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        pool = [f"{'d/' * int(rng.integers(0, 12))}{int(rng.integers(0, 20))}.jpg" for _ in range(40)]
        keys = list(dict.fromkeys(pool[: int(rng.integers(0, 30))]))
        wanted = [pool[int(i)] for i in rng.integers(0, 40, size=int(rng.integers(0, 40)))]
        yield keys, wanted


def _reference_repeats(paths: list[str]) -> tuple[list[int], list[int]]:
    first: dict[str, int] = {}
    repeats, originals = [], []
    for i, p in enumerate(paths):
        if p in first:
            repeats.append(i)
            originals.append(first[p])
        else:
            first[p] = i
    return repeats, originals


@pytest.fixture(params=["stringdtype", "object"])
def flavour(request, monkeypatch):
    """Run each test with numpy 2's StringDType and with the object-array fallback of numpy 1.x, in small blocks."""
    if request.param == "object":
        monkeypatch.setattr(path_arrays, "_STRING_DTYPE", None)
    monkeypatch.setattr(path_arrays, "_BLOCK", 3)
    return request.param


def test_golden_lookup_and_repeats(flavour):
    keys = ["b.jpg", "a/very/long/path/to/an/image.jpg", "a.jpg"]
    assert lookup(keys, ["a.jpg", "zz", "a/very/long/path/to/an/image.jpg", "a.jpg"]).tolist() == [2, -1, 1, 2]
    repeats, originals = _repeats(np.array(["x", "y", "x", "z", "y", "x"], dtype=object))
    assert repeats.tolist() == [2, 4, 5] and originals.tolist() == [0, 1, 0]
    assert [str(p) for p in repeated_values(["c", "a", "c", "b", "a", "c"])] == ["a", "c"]


def test_lookup_matches_a_dict(flavour):
    for keys, wanted in _cases(0):
        index = {k: i for i, k in enumerate(keys)}
        assert lookup(keys, wanted).tolist() == [index.get(w, -1) for w in wanted]


def test_repeats_match_a_first_seen_dict(flavour):
    for _, wanted in _cases(1):
        repeats, originals = _repeats(np.array(wanted, dtype=object))
        assert (repeats.tolist(), originals.tolist()) == _reference_repeats(wanted)
        values, counts = np.unique(np.array(wanted, dtype=str), return_counts=True)
        assert [str(p) for p in repeated_values(wanted)] == values[counts > 1].tolist()


def test_path_array_keeps_text_and_converts_other_values(flavour):
    paths = path_array(["a.jpg", "é/ü.jpg", 7])
    assert [p for p in paths] == ["a.jpg", "é/ü.jpg", "7"] and all(type(p) is str for p in paths)
    assert path_array(paths) is paths or flavour == "object"

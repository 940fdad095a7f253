"""Image paths as compact numpy arrays: sorting, repeats and look-ups for millions of rows.

A Python `str` costs about 64 bytes and a dict entry about 100 more, so a million paths held as
lists, tuples or dict keys cost hundreds of MB; numpy 2's `StringDType` stores a path of up to 15
bytes in the 16 bytes of its array slot (longer ones in an arena beside it) and sorts and compares
without making Python objects. So the readers and matchers find repeats and look paths up by
sorting one such array (`np.argsort`) instead of building sets and dicts.
With numpy 1.x (no `StringDType`) the same functions run on object arrays: same results, more memory.
"""

from __future__ import annotations

import numpy as np

_BLOCK = 1 << 16  # rows compared at a time: a few MB of temporaries
_STRING_DTYPE = getattr(getattr(np, "dtypes", None), "StringDType", None)


def path_array(values) -> np.ndarray:
    """(N,) paths as a compact string array (`StringDType`; an object array of `str` on numpy 1.x).

    Non-string values are converted with `str`, as `np.asarray(values, dtype=str)` would.
    """
    if _STRING_DTYPE is not None:
        if isinstance(values, np.ndarray) and isinstance(values.dtype, _STRING_DTYPE):
            return values  # as is: asarray to a new StringDType() instance would copy it
        try:
            return np.asarray(values, dtype=_STRING_DTYPE())
        except (UnicodeEncodeError, ValueError, TypeError):  # e.g. a lone surrogate cannot be UTF-8
            pass
    array = np.asarray(values, dtype=object)
    return np.array([str(v) for v in array.reshape(-1)], dtype=object).reshape(array.shape)


def sort_paths(paths) -> tuple[np.ndarray, np.ndarray]:
    """(compact, order): the paths as a compact array (`path_array`) and its (N,) int64 stable sorting order.

    The sorted copy `compact[order]` is never made whole: `repeated` compares neighbours a block at a time.
    """
    compact = path_array(paths)
    return compact, np.argsort(compact, kind="stable")


def runs(compact: np.ndarray, order: np.ndarray):
    """Walk the sorted paths a block at a time: yields (at, first), each (b,) int64, where `at` are the
    positions of the next b sorted paths in `compact` and `first` the position of the first path of each
    one's run of equal paths (the earliest, as the sort is stable); `at == first` marks a path's first
    occurrence. Temporaries stay a few MB whatever the number of paths."""
    run_first = -1
    for start in range(0, len(order), _BLOCK):
        at = order[start : start + _BLOCK]
        block = compact[order[max(start - 1, 0) : start + _BLOCK]]
        same = np.zeros(len(at), dtype=bool)
        same[1 - min(start, 1) :] = block[1:] == block[:-1]
        first = np.where(same, -1, at)
        first[0] = run_first if same[0] else at[0]
        filled = np.where(first >= 0, np.arange(len(first)), 0)  # forward-fill each run's first position
        np.maximum.accumulate(filled, out=filled)
        first = first[filled]
        run_first = first[-1]
        yield at, first


def repeated(compact: np.ndarray, order: np.ndarray) -> np.ndarray:
    """(N,) bool over the sorted positions: True where `compact[order[k]]` equals `compact[order[k - 1]]`."""
    same = np.zeros(len(order), dtype=bool)
    for start in range(1, len(order), _BLOCK):
        block = compact[order[start - 1 : start + _BLOCK]]
        same[start : start + len(block) - 1] = block[1:] == block[:-1]
    return same


def repeated_values(paths) -> np.ndarray:
    """The distinct paths that occur more than once, in sorted order (empty when all are distinct)."""
    compact, order = sort_paths(paths)
    again = order[repeated(compact, order)]
    if len(again) == 0:
        return compact[again]
    again_compact, again_order = sort_paths(compact[again])
    return again_compact[again_order[~repeated(again_compact, again_order)]]


def lookup(keys, wanted) -> np.ndarray:
    """(M,) int64 position in `keys` of each wanted path; -1 where it is absent. The keys must be distinct.

    A binary search of the wanted paths, a block at a time, in the sorting order of the keys (after taking
    the paths that sit at the same position in both): about 8 bytes a key and 16 a wanted path beside the
    arrays themselves. Written out rather than `np.searchsorted`, which
    on `StringDType` returns wrong positions before numpy 2.5 (numpy#31533); comparison ufuncs are right.
    """
    keys, wanted = path_array(keys), path_array(wanted)
    rows = np.full(len(wanted), -1, dtype=np.int64)
    # Paths at the same position are found at once (labels and features written in one order, the usual case).
    same = np.flatnonzero(keys[: len(wanted)] == wanted[: len(keys)])
    rows[same] = same
    rest = np.flatnonzero(rows < 0)
    if len(keys) == 0 or len(rest) == 0:
        return rows
    order = np.argsort(keys, kind="stable")
    last = len(keys) - 1
    for start in range(0, len(rest), _BLOCK):
        at_rows = rest[start : start + _BLOCK]
        block = wanted[at_rows]
        low, high = np.zeros(len(block), dtype=np.int64), np.full(len(block), len(keys), dtype=np.int64)
        while (open_ := low < high).any():  # low: the first sorted key not below the wanted path
            middle = (low + high) // 2
            below = keys[order[np.minimum(middle, last)]] < block
            low = np.where(open_ & below, middle + 1, low)
            high = np.where(open_ & ~below, middle, high)
        at = order[np.minimum(low, last)]
        found = keys[at] == block
        rows[at_rows[found]] = at[found]
    return rows

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

_STRING_DTYPE = getattr(getattr(np, "dtypes", None), "StringDType", None)


def path_array(values) -> np.ndarray:
    """(N,) paths as a compact string array (`StringDType`; an object array of `str` on numpy 1.x).

    Non-string values are converted with `str`, as `np.asarray(values, dtype=str)` would.
    """
    if _STRING_DTYPE is not None:
        try:
            return np.asarray(values, dtype=_STRING_DTYPE())
        except (UnicodeEncodeError, ValueError, TypeError):  # e.g. a lone surrogate cannot be UTF-8
            pass
    array = np.asarray(values, dtype=object)
    return np.array([str(v) for v in array.reshape(-1)], dtype=object).reshape(array.shape)


def sort_paths(paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, sorted): (N,) int64 stable sorting order of `paths` and the (N,) sorted compact paths."""
    compact = path_array(paths)
    order = np.argsort(compact, kind="stable")
    return order, compact[order]


def repeated(sorted_paths: np.ndarray) -> np.ndarray:
    """(N,) bool: True where a sorted path equals the one before it (its later repeats)."""
    same = np.zeros(len(sorted_paths), dtype=bool)
    if len(sorted_paths) > 1:
        same[1:] = sorted_paths[1:] == sorted_paths[:-1]
    return same


def repeated_values(sorted_paths: np.ndarray) -> np.ndarray:
    """The distinct paths that occur more than once, in sorted order."""
    again = sorted_paths[repeated(sorted_paths)]
    return again[~repeated(again)]


def lookup(keys, wanted) -> np.ndarray:
    """(M,) int64 position in `keys` of each wanted path; -1 where it is absent. The keys must be distinct.

    Both go into one array that is sorted once (stable, keys first): a wanted path's match is the key that
    starts its run of equal paths. (Not `np.searchsorted`: with `StringDType` it compares needle and
    haystack through one array's string storage and gives wrong rows before numpy 2.5, numpy#31533.)
    """
    n_keys, n_wanted = len(keys), len(wanted)
    order, ordered = sort_paths(np.concatenate([path_array(keys), path_array(wanted)]))
    later = repeated(ordered)
    del ordered
    # first[k]: the element that starts the run of sorted element k (one int64 buffer, reused in place)
    first = np.arange(len(order))
    first[later] = 0
    np.maximum.accumulate(first, out=first)
    np.take(order, first, out=first)
    hit = (order >= n_keys) & (first < n_keys)
    rows = np.full(n_wanted, -1, dtype=np.int64)
    rows[order[hit] - n_keys] = first[hit]
    return rows

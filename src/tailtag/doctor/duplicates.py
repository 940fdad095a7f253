"""Near-duplicate images by cosine similarity of their backbone features, and the pairs that leak across a split.

Two files of one photo (re-encoded, resized, re-saved with other metadata) have different bytes but
nearly the same frozen-backbone features. The (N, N) similarity matrix is never held: rows are multiplied
in blocks of `block_rows(N)` rows against all N unit vectors, and each row keeps at most `top_k`
partners above the threshold, so memory stays O(block x N + N x top_k) at any N.

`DEFAULT_THRESHOLD` was checked on MIML copies and different images (figures beside it).
A pair is a *leak* when its two images sit in different parts of a split (train/val/test or folds): the
model would be scored on an image it was, in effect, trained on. Byte-identical groups
come from `tailtag.images.check_images` (the ones `tailtag inspect` reports) and are listed as kind
"exact". torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_THRESHOLD = 0.92
# Measured (benchmarks/doctor_duplicates.py, tf_efficientnet_lite0 ImageNet, centre view, MIML 1.jpg .. 10.jpg):
# an image vs its JPEG re-encode at quality 50: 0.967 to 0.989; vs a copy at half the size: 0.943 to 0.992;
# vs its mirror: 0.947 to 0.984; the 45 pairs of different originals: 0.254 to 0.656 (median 0.419).
# Over all 2,000 MIML images the nearest other image is at median 0.762, 99th percentile 0.940; 24 pairs reach
# 0.92 and the ones looked at (37/41 0.998, 1648/1715 0.973, 1148/1149 0.947, 47/387 0.940, 1444/1453 0.943)
# are the same photo re-cropped or re-encoded. 0.92 sits below every copy measured; pairs between 0.92 and
# 0.94 were not all inspected, so a few of them may be different photos of one scene.
DUPLICATE_COLUMNS = ("img_path_a", "img_path_b", "similarity", "kind", "part_a", "part_b", "leak")


@dataclass
class DuplicatePairs:
    """Pairs of images i < j.

    Attributes:
        a, b: (P,) int64 image indices, a < b.
        similarity: (P,) float32 cosine similarity of their features (1.0 for byte-identical files).
        exact: (P,) bool, True when the files are byte-identical.
    """

    a: np.ndarray
    b: np.ndarray
    similarity: np.ndarray
    exact: np.ndarray

    def __len__(self) -> int:
        return len(self.a)


def block_rows(n: int, max_cells: int = 1 << 24) -> int:
    """Rows per block so that one (block, N) float32 similarity block stays near 64 MB."""
    return max(1, min(n, max_cells // max(n, 1)))


def _unit(features: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return (features / np.maximum(norms, 1e-12)).astype(np.float32)


def near_duplicates(
    features: np.ndarray, threshold: float = DEFAULT_THRESHOLD, *, top_k: int = 10, block: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (i < j) whose features have cosine similarity >= `threshold`.

    Args:
        features: (N, D) float feature vectors (NaN rows, e.g. unreadable images, are never paired).
        threshold: the cosine similarity a pair needs.
        top_k: partners kept per row (the most similar ones): a folder of 500 copies of one image should not
            produce 125,000 rows.
        block: rows per matrix product (default `block_rows(N)`).

    Returns:
        (a, b, similarity): (P,) int64, (P,) int64, (P,) float32, sorted by similarity, highest first.
    """
    x = np.nan_to_num(_unit(np.asarray(features, dtype=np.float32)), nan=0.0)
    n = len(x)
    block = block or block_rows(n)
    found_a, found_b, found_s = [], [], []
    for start in range(0, n, block):
        sims = x[start : start + block] @ x.T  # (B, N)
        rows = np.arange(start, min(start + block, n))
        sims[np.arange(n)[None, :] <= rows[:, None]] = -np.inf  # keep j > i only: each pair once, no self-pairs
        k = min(top_k, n)
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (len(rows), 1))
        top_s = np.take_along_axis(sims, top, axis=1)
        keep = top_s >= threshold
        found_a.append(np.repeat(rows, keep.sum(axis=1)))
        found_b.append(top[keep])
        found_s.append(top_s[keep])
    a = np.concatenate(found_a).astype(np.int64) if found_a else np.zeros(0, np.int64)
    b = np.concatenate(found_b).astype(np.int64) if found_b else np.zeros(0, np.int64)
    s = np.concatenate(found_s).astype(np.float32) if found_s else np.zeros(0, np.float32)
    order = np.lexsort((b, a, -s))
    return a[order], b[order], s[order]


def exact_pairs(groups: list[list[str]], paths: np.ndarray) -> set[tuple[int, int]]:
    """(i, j) index pairs, i < j, of byte-identical groups given as path lists (`ImageCheck.duplicates`)."""
    index = {str(p): i for i, p in enumerate(paths)}
    pairs = set()
    for group in groups:
        members = sorted(index[p] for p in group if p in index)
        pairs.update((members[x], members[y]) for x in range(len(members)) for y in range(x + 1, len(members)))
    return pairs


def find_duplicates(
    features: np.ndarray,
    paths: np.ndarray,
    exact_groups: list[list[str]] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    *,
    top_k: int = 10,
) -> DuplicatePairs:
    """Near-duplicate pairs of `features` (N, D) plus the byte-identical pairs of `exact_groups`, merged.

    A byte-identical pair is listed once, as exact with similarity 1.0, even when its features also matched.
    """
    a, b, s = near_duplicates(features, threshold, top_k=top_k)
    exact = exact_pairs(exact_groups or [], paths)
    near = {(int(i), int(j)): float(v) for i, j, v in zip(a, b, s, strict=True) if (int(i), int(j)) not in exact}
    pairs = [(i, j, 1.0, True) for i, j in sorted(exact)] + [(i, j, v, False) for (i, j), v in near.items()]
    pairs.sort(key=lambda t: (-t[2], t[0], t[1]))
    if not pairs:
        return DuplicatePairs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, bool))
    cols = list(zip(*pairs, strict=True))
    return DuplicatePairs(
        np.array(cols[0], np.int64), np.array(cols[1], np.int64), np.array(cols[2], np.float32), np.array(cols[3], bool)
    )


def duplicate_table(pairs: DuplicatePairs, paths: np.ndarray, part: np.ndarray | None = None) -> list[dict]:
    """Rows of duplicates.csv; `part` (N,) names each image's split part ('' when no split is given).

    A pair is a leak when both images have a part and the parts differ.
    """
    rows = []
    for i, j, s, exact in zip(pairs.a.tolist(), pairs.b.tolist(), pairs.similarity.tolist(), pairs.exact.tolist(),
                              strict=True):  # fmt: skip
        part_a = str(part[i]) if part is not None else ""
        part_b = str(part[j]) if part is not None else ""
        rows.append(
            {
                "img_path_a": str(paths[i]),
                "img_path_b": str(paths[j]),
                "similarity": round(float(s), 4),
                "kind": "exact" if exact else "near",
                "part_a": part_a,
                "part_b": part_b,
                "leak": int(bool(part_a) and bool(part_b) and part_a != part_b),
            }
        )
    return rows

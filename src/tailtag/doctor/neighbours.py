"""A second, model-free opinion on every tag: how many of an image's nearest neighbours carry it.

Deep k-NN for noisy labels (Bahri, Jiang & Gupta, "Deep k-NN for Noisy Labels", ICML 2020,
https://arxiv.org/abs/2004.12289) judges a label by the labels of the example's k nearest neighbours in a
learned feature space: a tag that disagrees with its neighbourhood is suspect. Here the space is the frozen
backbone's pooled features (the views averaged, cosine similarity), the image itself is left out of its own
neighbourhood, and each label is judged one-vs-rest: the smoothed share of the k neighbours tagged with it.

The doctor averages this share with the cross-fitted models' out-of-fold probabilities in logit space
(`combine_probabilities`). The two err differently: a head model can fit a label's noise (a tag removed from an
image still teaches "absent" to the K-1 models that see it) and smooths over local structure, while the
neighbour vote is local and trains nothing. Measured on MIML with the seeded noise of
`benchmarks/doctor_miml.py` (seeds 0, 1, 2, Lite0 centre+flip+full features): average precision of the ranking
0.677 with the models alone, 0.734 with both (k = 30; k = 10..50 and weights 0.3..0.7 gave 0.70..0.73).

As in `duplicates.py`, the (N, N) similarity matrix is never held: rows are multiplied in blocks, and each row
keeps its k best partners. torch-free.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tailtag.doctor.duplicates import block_rows

DEFAULT_NEIGHBOURS = 30
"""k of the neighbour vote (MIML: flat between 10 and 50, see the module docstring)."""


def nearest_neighbours(features: np.ndarray, k: int, *, block: int | None = None) -> np.ndarray:
    """(N, k) int64 indices of each row's k most cosine-similar other rows (the row itself excluded).

    Args:
        features: (N, D) float features; needs N > k.
        k: neighbours per row.
        block: rows per matrix product (default `block_rows(N)`, about 64 MB per block).
    """
    x = np.asarray(features, dtype=np.float32)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    n = len(x)
    if not 0 < k < n:
        raise ValueError(f"k must be in [1, {n - 1}] for {n} images, got {k}")
    block = block or block_rows(n)
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n))
        sims = x[rows] @ x.T  # (B, N)
        sims[np.arange(len(rows)), rows] = -np.inf  # an image is not its own neighbour
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        # argpartition leaves the k unordered; sort them (then by index) so the result is exact and stable
        order = np.lexsort((top, -np.take_along_axis(sims, top, axis=1)), axis=1)
        out[rows] = np.take_along_axis(top, order, axis=1)
    return out


def neighbour_probabilities(
    features: np.ndarray, labels: sp.spmatrix | np.ndarray, *, k: int = DEFAULT_NEIGHBOURS
) -> np.ndarray:
    """(N, L) float32 smoothed share of each image's k nearest neighbours that carry each label.

    Args:
        features: (V, N, D) pooled features (views x images x dims, the views are averaged) or (N, D).
        labels: (N, L) 0/1 given labels of the same images (scipy sparse or dense).
        k: neighbours per image (lowered to N - 1 on tiny sets).

    Returns:
        (count + 1/2) / (k + 1) per (image, label): strictly inside (0, 1), so it has a finite logit, and
        1/2 when nothing is known.
    """
    x = np.asarray(features, dtype=np.float32)
    if x.ndim == 3:
        x = x.mean(axis=0)
    csr = sp.csr_matrix(labels, dtype=np.float32)
    if csr.shape[0] != len(x):
        raise ValueError(f"labels have {csr.shape[0]} rows, features {len(x)}")
    k = min(k, len(x) - 1)
    neighbours = nearest_neighbours(x, k)
    counts = np.zeros(csr.shape, dtype=np.float32)
    for column in range(k):  # k sparse row gathers: memory O(N x L), never (N, k, L)
        counts += csr[neighbours[:, column]].toarray()
    return (counts + 0.5) / (k + 1)


def combine_probabilities(model: np.ndarray, neighbours: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """(N, L) float64 sigmoid of the weighted mean of the two opinions' logits (`weight` on the neighbours).

    Averaging logits rather than probabilities keeps a confident model's margin (0.999 vs 0.99) instead of
    squashing it next to the neighbour share's coarser steps.
    """
    if model.shape != neighbours.shape:
        raise ValueError(f"model {model.shape} and neighbour {neighbours.shape} probabilities differ in shape")
    logit = (1 - weight) * _logit(model) + weight * _logit(neighbours)
    return 1.0 / (1.0 + np.exp(-logit))  # float64: float32 would round confident pairs' margins to 1.0


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))

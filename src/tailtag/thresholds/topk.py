"""Top-k decisions: a global threshold, then at least `min_tags` and at most `max_tags` labels per image.

With min_tags == max_tags == k this is plain top-k (the usual protocol for image tagging, e.g. Gong et al.,
"Deep convolutional ranking for multilabel image annotation", ICLR 2014, report top-3 tagging). Otherwise the
threshold decides and the bounds clip: an image with no score above it still gets its `min_tags` best labels,
and one with many gets only its `max_tags` best.
"""

from __future__ import annotations

import numpy as np

from tailtag.errors import OptionError
from tailtag.metrics.arrays import as_scores
from tailtag.thresholds._base import Thresholds


def _ranks(scores: np.ndarray) -> np.ndarray:
    """(N, K) 0-based rank of each score within its row (0 = highest; ties by column order)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(scores.shape[1])[None, :], axis=1)
    return ranks


class TopKThreshold(Thresholds):
    """Global threshold clipped to [min_tags, max_tags] labels per image.

    Args:
        min_tags: every image gets at least this many labels (its best-scored ones).
        max_tags: at most this many labels per image; None for no cap.
        n_candidates: quantile grid on which the global threshold is chosen for micro-F1 *after* clipping.
    """

    strategy = "top_k"

    def __init__(self, min_tags: int = 1, max_tags: int | None = 3, n_candidates: int = 128):
        self.min_tags = min_tags
        self.max_tags = max_tags
        self.n_candidates = n_candidates

    def _check(self, n_labels: int) -> None:
        bad_min = not isinstance(self.min_tags, int) or self.min_tags < 0
        bad_max = self.max_tags is not None and (not isinstance(self.max_tags, int) or self.max_tags < 1)
        if bad_min or bad_max or (self.max_tags is not None and self.max_tags < self.min_tags):
            raise OptionError(
                "The 'min_tags' and 'max_tags' parameters of TopKThreshold must be integers with 0 <= min_tags <= "
                f"max_tags (max_tags >= 1 or None). Got min_tags={self.min_tags!r}, max_tags={self.max_tags!r} "
                "instead."
            )
        if self.min_tags > n_labels:
            raise OptionError(
                f"The 'min_tags' parameter of TopKThreshold must be <= the number of labels ({n_labels}). "
                f"Got {self.min_tags} instead."
            )

    def _fit(self, targets: np.ndarray, scores: np.ndarray) -> np.ndarray:
        self._check(targets.shape[1])
        cap = scores.shape[1] if self.max_tags is None else min(self.max_tags, scores.shape[1])
        # only each row's `cap` best scores can ever be predicted, so the search works on (N, cap)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :cap]
        top_s = np.take_along_axis(scores, order, axis=1)
        top_tp = np.cumsum(np.take_along_axis(targets, order, axis=1), axis=1)
        top_tp = np.concatenate([np.zeros((len(top_tp), 1), dtype=top_tp.dtype), top_tp], axis=1)
        n_pos = int(targets.sum())
        candidates = np.unique(np.quantile(scores, np.linspace(0, 1, max(int(self.n_candidates), 2))))
        best_f1, best_t = -1.0, float(candidates[0])
        for t in candidates:
            count = np.clip((top_s >= t).sum(axis=1), self.min_tags, cap)
            tp = top_tp[np.arange(len(count)), count].sum()
            f1 = 2 * tp / max(count.sum() + n_pos, 1)
            if f1 > best_f1:
                best_f1, best_t = float(f1), float(t)
        self.extra_["global_threshold"] = best_t
        return np.full(scores.shape[1], best_t)

    def predict(self, scores: object) -> np.ndarray:
        """(N, K) uint8: score >= threshold, then each row clipped to [min_tags, max_tags] by rank."""
        s = as_scores(scores, n_labels=self._fitted().shape[0], where="TopKThreshold.predict")
        ranks = _ranks(s)
        cap = s.shape[1] if self.max_tags is None else self.max_tags
        keep = ((s >= self.thresholds_) & (ranks < cap)) | (ranks < self.min_tags)
        return keep.astype(np.uint8)

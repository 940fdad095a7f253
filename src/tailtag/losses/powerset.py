"""Label-powerset loss: every label combination seen in training becomes one softmax class.

Tsoumakas, Vlahavas. "Random k-Labelsets: An Ensemble Method for Multilabel Classification". ECML 2007
(the label powerset transformation; Boutell et al. 2004 for scene classification).

The head outputs M logits, one per distinct combination (`labelsets`, (M, K) 0/1), and the loss is the
cross-entropy of the combination of each image. It models label co-occurrence exactly and suits data with
few labels per image and few distinct combinations (MIML: 5 labels, 13 combinations); it cannot predict a
combination it never saw. A batch target that is not among `labelsets` (possible when validation data has a
new combination) is mapped to the nearest seen combination by Hamming distance; ties go to the earlier row
of `labelsets`, i.e. the more frequent combination when they come from `labelsets_from_matrix`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor

from tailtag.errors import OptionError
from tailtag.losses import weights as W
from tailtag.losses._base import Reduction, TailLoss, reduce_loss
from tailtag.stats.imbalance import row_ids
from tailtag.stats.labelsets import group_rows

# More combinations than this make a softmax with mostly once-seen classes (and an (M, K) table that can
# outgrow memory with thousands of labels): the powerset loss refuses and points to per-label losses.
MAX_LABELSETS = 10_000


def labelsets_from_matrix(
    matrix: np.ndarray | sp.spmatrix, max_labelsets: int = MAX_LABELSETS
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of an (N, K) multi-hot matrix, most frequent first.

    Args:
        matrix: (N, K) 0/1 array or scipy sparse matrix (e.g. `LabelTable.matrix`).
        max_labelsets: OptionError when there are more distinct rows than this.

    Returns:
        labelsets: (M, K) uint8 distinct rows, ordered by decreasing count, then lexicographically.
        counts: (M,) int64 number of rows equal to each.
    """
    csr = sp.csr_matrix(matrix) if sp.issparse(matrix) else sp.csr_matrix(np.asarray(matrix, dtype=np.uint8))
    if not csr.has_sorted_indices:
        csr = csr.sorted_indices()
    # One grouping for the whole library (stats.labelsets): linear in nnz, never densifies N x K.
    reps, _, counts, _ = group_rows(csr)
    _check_count(len(counts), max_labelsets, csr.shape[0])
    rows = np.zeros((len(counts), csr.shape[1]), dtype=np.uint8)
    chosen = csr[reps]
    rows[row_ids(chosen), chosen.indices] = 1
    order = np.lexsort((*rows.T[::-1], -counts))
    return rows[order].astype(np.uint8), counts[order].astype(np.int64)


def _check_count(n_labelsets: int, limit: int, n_rows: int) -> None:
    if n_labelsets > limit:
        raise OptionError(
            f"loss powerset: the training split has {n_labelsets:,} distinct label combinations in {n_rows:,} images "
            f"(more than {limit:,}): a softmax over that many classes, most seen once or twice, cannot learn them\n"
            "  fix: use a per-label loss (bce, asl, focal, dbloss); to balance combinations, a sampler "
            "(powerset_ros with a target_size, ml_ros, class_aware)"
        )


def check_labelsets(labelsets: object, n_labels: int | None = None) -> np.ndarray:
    """`labelsets` as an (M, K) float32 array (K = `n_labels` when given), or an `OptionError`."""
    if isinstance(labelsets, Tensor):
        labelsets = labelsets.detach().cpu().numpy()
    array = labelsets.toarray() if sp.issparse(labelsets) else np.asarray(labelsets)
    width = n_labels if n_labels is not None else "K"
    if array.ndim != 2 or array.shape[1] != (n_labels or array.shape[1]) or array.dtype.kind not in "biuf":
        raise OptionError(
            f"parameter 'labelsets' must be an (M, {width}) 0/1 array, one row per label combination; "
            f"got shape {array.shape} and dtype {array.dtype}.\n  fix: build it with "
            "tailtag.losses.powerset.labelsets_from_matrix(train_table.matrix)"
        )
    if not np.isin(array, (0, 1)).all():
        raise OptionError(f"parameter 'labelsets' must hold only 0 and 1; found values {np.unique(array)[:10]}")
    distinct = np.unique(array, axis=0).shape[0]
    if distinct != array.shape[0]:
        duplicates = array.shape[0] - distinct
        raise OptionError(f"parameter 'labelsets' has {duplicates} duplicate row(s); rows must be distinct")
    if array.shape[0] < 2:
        raise OptionError("parameter 'labelsets' needs at least 2 combinations; with 1 there is nothing to learn")
    return array.astype(np.float32)


class PowersetLoss(TailLoss):
    """Cross-entropy over label combinations (module docstring).

    `forward(logits (B, M), targets (B, K) multi-hot) -> loss`; `n_outputs` = M sizes the head.

    Args:
        labelsets: (M, K) distinct 0/1 rows, stored as a buffer.
        reduction: "mean" over the batch, "sum", or "none" for (B,).
    """

    def __init__(self, labelsets: np.ndarray | Tensor, *, reduction: Reduction = "mean"):
        array = check_labelsets(labelsets)
        super().__init__(reduction=reduction, n_outputs=array.shape[0])
        self.register_buffer("labelsets", torch.from_numpy(array))

    @property
    def n_labels(self) -> int:
        return self.labelsets.shape[1]

    def encode(self, targets: Tensor) -> Tensor:
        """(B, K) multi-hot -> (B,) long index of the same, or else the nearest, combination."""
        y = (targets > 0.5).float()
        sets = self.labelsets.to(device=y.device, dtype=y.dtype)
        # Hamming distance as two matmuls: positives missing from the set + set labels absent from y.
        distance = y @ (1.0 - sets).T + (1.0 - y) @ sets.T
        return distance.argmin(dim=1)

    def decode(self, logits: Tensor) -> Tensor:
        """(B, M) logits -> (B, K) multi-hot of the most probable combination."""
        return self.labelsets[logits.argmax(dim=1)]

    def marginals(self, logits: Tensor) -> Tensor:
        """(B, M) logits -> (B, K) per-label probabilities: the softmax mass of the combinations with the label."""
        probabilities = F.softmax(logits.float(), dim=1)
        # the float32 sum of the masses can round above 1 (1.0000001); calibration and ECE need [0, 1]
        return (probabilities @ self.labelsets.to(probabilities.dtype)).clamp_max(1.0)

    def probabilities(self, logits: Tensor) -> Tensor:
        """Per-label probabilities (B, K) for prediction: the marginals."""
        return self.marginals(logits)

    def output_info(self) -> dict:
        """Saved models score with the marginals over the (M, K) label combinations."""
        return {"output": "powerset_marginals", "labelsets": self.labelsets.cpu().numpy().astype(int).tolist()}

    def check_inputs(self, logits: Tensor, targets: Tensor) -> None:
        """Logits (B, M) against multi-hot targets (B, K)."""
        if targets.ndim != 2 or targets.shape[1] != self.n_labels:
            raise ValueError(f"expected targets (B, {self.n_labels}) multi-hot; got {tuple(targets.shape)}")
        if logits.ndim != 2 or tuple(logits.shape) != (targets.shape[0], self.n_outputs):
            raise ValueError(
                f"expected logits (B, {self.n_outputs}), one per label combination, for targets "
                f"{tuple(targets.shape)}; got {tuple(logits.shape)}"
            )

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        self.check_inputs(logits, targets)
        loss = F.cross_entropy(logits.float(), self.encode(targets), reduction="none")
        return reduce_loss(loss, self.reduction)


def make_powerset(
    class_counts: np.ndarray, n_samples: int, *, labelsets: np.ndarray | None = None, reduction: Reduction = "mean"
) -> PowersetLoss:
    """Registry factory for `powerset`: `labelsets` (M, K) is required (see `labelsets_from_matrix`)."""
    k = W.check_counts(class_counts, n_samples).size
    if labelsets is None:
        raise OptionError(
            "loss powerset needs 'labelsets', the (M, K) label combinations of the training set.\n  fix: pass "
            "labelsets=labelsets_from_matrix(train_table.matrix)[0] to create_loss"
        )
    return PowersetLoss(check_labelsets(labelsets, k), reduction=reduction)

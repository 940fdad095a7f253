"""Label-powerset loss: combination table, encode/decode/marginals, hand value, errors."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from tailtag.errors import OptionError
from tailtag.losses import create_loss, labelsets_from_matrix
from tailtag.losses.powerset import PowersetLoss

MATRIX = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 1], [1, 0, 0], [0, 1, 1], [0, 0, 0], [1, 1, 0]], dtype=np.uint8)
SETS = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0], [1, 1, 0]])  # by decreasing count, then lexicographic


def test_labelsets_from_matrix_orders_by_count_then_rows():
    labelsets, counts = labelsets_from_matrix(MATRIX)
    np.testing.assert_array_equal(labelsets, SETS)
    np.testing.assert_array_equal(counts, [3, 2, 1, 1])
    sparse_sets, sparse_counts = labelsets_from_matrix(sp.csr_matrix(MATRIX))
    np.testing.assert_array_equal(sparse_sets, labelsets)
    np.testing.assert_array_equal(sparse_counts, counts)
    assert labelsets.dtype == np.uint8


@pytest.mark.parametrize("as_sparse", [False, True])
def test_labelsets_from_matrix_refuses_too_many_combinations(as_sparse):
    matrix = sp.csr_matrix(MATRIX) if as_sparse else MATRIX
    assert len(labelsets_from_matrix(matrix, max_labelsets=4)[0]) == 4
    with pytest.raises(OptionError, match=r"(?s)4 distinct label combinations in 7 images \(more than 3\).*bce"):
        labelsets_from_matrix(matrix, max_labelsets=3)


def test_encode_exact_and_nearest_combination():
    loss = PowersetLoss(SETS)
    exact = torch.tensor(SETS, dtype=torch.float32)
    torch.testing.assert_close(loss.encode(exact), torch.arange(4))
    # [1,1,1] is at distance 1 from rows 1 and 3: the tie goes to the earlier (more frequent) row.
    # [0,1,0] is at distance 1 from rows 1, 2 and 3: row 1 again. [1,0,1] is at distance 1 from row 0 only.
    unseen = torch.tensor([[1.0, 1.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    torch.testing.assert_close(loss.encode(unseen), torch.tensor([1, 1, 0]))


def test_hand_value_decode_and_marginals():
    loss = create_loss("powerset", class_counts=MATRIX.sum(0), n_samples=7, labelsets=SETS)
    assert loss.n_outputs == 4 and loss.task == "multilabel"
    logits = torch.tensor([[2.0, 0.0, -1.0, 0.5], [0.0, 1.0, 0.0, 3.0]])
    targets = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    rows = [[2.0, 0.0, -1.0, 0.5], [0.0, 1.0, 0.0, 3.0]]
    log_z = [math.log(sum(math.exp(v) for v in row)) for row in rows]
    expected = ((log_z[0] - 2.0) + (log_z[1] - 3.0)) / 2  # target combinations 0 and 3
    assert loss(logits, targets).item() == pytest.approx(expected, rel=1e-6)
    torch.testing.assert_close(loss.decode(logits), torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]))
    p = [[math.exp(v - z) for v in row] for row, z in zip(rows, log_z, strict=True)]
    # label 0 is in combinations 0 and 3, label 1 in 1 and 3, label 2 in 1 only.
    marginals = [[r[0] + r[3], r[1] + r[3], r[1]] for r in p]
    torch.testing.assert_close(loss.marginals(logits), torch.tensor(marginals))
    torch.testing.assert_close(loss.probabilities(logits), loss.marginals(logits))


def test_reductions_and_extreme_logits():
    logits = torch.tensor([[100.0, -100.0, 0.0, 0.0], [-100.0, 100.0, -100.0, 100.0]], requires_grad=True)
    targets = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    elements = PowersetLoss(SETS, reduction="none")(logits, targets)
    assert elements.shape == (2,)
    total = PowersetLoss(SETS, reduction="sum")(logits, targets)
    torch.testing.assert_close(total, elements.sum())
    total.backward()
    assert torch.isfinite(logits.grad).all()


def test_shape_mismatch_is_a_value_error():
    with pytest.raises(ValueError, match=r"expected logits \(B, 4\)"):
        PowersetLoss(SETS)(torch.zeros(2, 3), torch.zeros(2, 3))


@pytest.mark.parametrize(
    ("labelsets", "match"),
    [
        (None, "loss powerset needs 'labelsets'"),
        (np.array([[1, 0], [0, 1]]), r"must be an \(M, 3\) 0/1 array"),
        (np.array([[1, 0, 0], [1, 0, 0]]), "1 duplicate row"),
        (np.array([[1, 0, 2], [1, 0, 0]]), "only 0 and 1"),
        (np.array([[1, 0, 0]]), "at least 2 combinations"),
    ],
)
def test_bad_labelsets(labelsets, match):
    with pytest.raises(OptionError, match=match):
        create_loss("powerset", class_counts=np.array([1, 1, 1]), n_samples=3, labelsets=labelsets)

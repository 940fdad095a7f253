"""Label-powerset marginals stay in [0, 1], so the run's probabilities can be calibrated and thresholded."""

from __future__ import annotations

import numpy as np
import torch

from tailtag.calibration import expected_calibration_error
from tailtag.inference.model import Probabilities
from tailtag.losses.powerset import PowersetLoss
from tailtag.thresholds.decision import fit_decision

N_LABELS = 6


def _case() -> tuple[torch.Tensor, torch.Tensor]:
    # 25 distinct combinations of 6 labels (binary 1..25) and confident logits: the float32 sum of the softmax
    # masses of the combinations holding a label rounds above 1 for some rows
    labelsets = torch.tensor([[int(b) for b in np.binary_repr(i, N_LABELS)] for i in range(1, 26)], dtype=torch.float32)
    logits = torch.randn(1000, 25, generator=torch.Generator().manual_seed(0)) * 10
    return labelsets, logits


def test_the_case_rounds_above_one_without_the_clamp():
    labelsets, logits = _case()
    assert (torch.softmax(logits, dim=1) @ labelsets).max() > 1.0  # the case the clamp is there for


def test_marginals_in_unit_interval_and_decision_fits():
    labelsets, logits = _case()
    marginals = Probabilities("powerset_marginals", labelsets)(logits)
    loss_marginals = PowersetLoss(labelsets.numpy()).marginals(logits)
    torch.testing.assert_close(marginals, loss_marginals, rtol=0, atol=0)
    assert marginals.min() >= 0.0 and marginals.max() <= 1.0
    exact = torch.softmax(logits.double(), dim=1) @ labelsets.double()
    torch.testing.assert_close(marginals.double(), exact, rtol=0, atol=1e-6)
    targets = (np.random.default_rng(0).random((1000, N_LABELS)) < 0.3).astype(np.int8)
    p = marginals.numpy()
    expected_calibration_error(targets, p)
    decision = fit_decision(targets, p, strategy="per_class_f1", calibration="temperature", quiet=True)
    assert decision.predict(p).shape == (1000, N_LABELS)

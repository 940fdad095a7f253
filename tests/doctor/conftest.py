"""Generated multi-label data with planted label noise, shared by the doctor's tests."""

from __future__ import annotations

import numpy as np
import pytest


def make_noisy(seed: int = 0, n: int = 400, labels: int = 5, dim: int = 32):
    """(features (n, dim) float32, noisy (n, labels) uint8, injected (n, labels) bool): labels drawn at 30%,
    features = noise + the sum of each true label's direction, then 5% of the pairs flipped."""
    rng = np.random.default_rng(seed)
    true = (rng.random((n, labels)) < 0.3).astype(np.uint8)
    features = rng.normal(size=(n, dim)) + true @ rng.normal(size=(labels, dim))
    flip = rng.random((n, labels)) < 0.05  # 5% of tags off, 5% of absent tags on
    noisy = np.where(flip, 1 - true, true).astype(np.uint8)
    return features.astype(np.float32), noisy, noisy != true


@pytest.fixture
def noisy_data():
    """`make_noisy`, to call with a seed."""
    return make_noisy

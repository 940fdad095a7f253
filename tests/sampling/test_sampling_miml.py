"""The samplers on the real MIML label matrix (2,000 images, 5 labels, 20 label sets)."""

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from tailtag.sampling import create_sampler, describe
from tailtag.sampling.mlresample import ir_summary

MIML = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "miml" / "labels.csv"
pytestmark = [
    pytest.mark.dataset,
    pytest.mark.skipif(not MIML.is_file(), reason="MIML data set not found beside the repository"),
]


def miml() -> tuple[sp.csr_matrix, list[str]]:
    with open(MIML, newline="") as f:
        rows = list(csv.reader(f))
    dense = np.array([[int(v) for v in row[1:]] for row in rows[1:]], dtype=np.uint8)
    return sp.csr_matrix(dense), rows[0][1:]


def test_powerset_ros_balances_the_20_miml_label_sets():
    matrix, names = miml()
    s = create_sampler("powerset_ros", matrix, seed=0)
    published = [378, 341, 340, 268, 216, 172, 106, 38, 28, 21, 20, 19, 19, 14, 6, 5, 4, 3, 1, 1]
    assert sorted(s.combination_sizes_.tolist(), reverse=True) == published
    indices = s.sample()
    assert len(indices) == 20 * 378 and set(np.bincount(s.combination_ids_[indices]).tolist()) == {378}
    headline = describe(s, names).format().splitlines()[0]
    assert headline == "powerset_ros: 2000 images -> 7560 draws per epoch (x3.78); max/min label count 1.42 -> 1.29"


def test_ml_ros_lifts_every_miml_minority_label_to_mean_ir():
    matrix, names = miml()
    s = create_sampler("ml_ros", matrix, seed=0)
    assert [names[j] for j in s.minority_labels_] == ["desert", "mountains", "sunset"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MIML is mildly imbalanced: the bags empty before 25% growth
        indices = s.sample()
    irlbl, _ = ir_summary(matrix[indices])
    assert np.all(irlbl[s.minority_labels_] <= s.mean_ir_) and len(indices) > 2000


def test_class_aware_draws_each_miml_label_equally_often():
    matrix, _ = miml()
    s = create_sampler("class_aware", matrix, seed=0)
    s.sample()
    assert np.bincount(s.classes_).tolist() == [400] * 5

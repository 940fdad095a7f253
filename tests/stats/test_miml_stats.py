"""MIML (2,000 scene images, 5 labels): the published label counts, cardinality and label-set table."""

from pathlib import Path

import numpy as np
import pytest

from tailtag.labels import LabelTable
from tailtag.stats import describe

MIML = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "miml"

pytestmark = [
    pytest.mark.dataset,
    pytest.mark.skipif(not (MIML / "labels.csv").is_file(), reason=f"MIML data not found at {MIML}"),
]

PUBLISHED_SETS = {
    ("trees",): 378,
    ("sea",): 341,
    ("desert",): 340,
    ("mountains",): 268,
    ("sunset",): 216,
    ("sea", "sunset"): 172,
    ("mountains", "trees"): 106,
    ("mountains", "sea"): 38,
    ("sunset", "trees"): 28,
    ("desert", "sunset"): 21,
    ("desert", "trees"): 20,
    ("desert", "mountains"): 19,
    ("mountains", "sunset"): 19,
    ("sea", "trees"): 14,
    ("mountains", "sea", "trees"): 6,
    ("desert", "sea"): 5,
    ("sea", "sunset", "trees"): 4,
    ("desert", "sunset", "trees"): 3,
    ("desert", "mountains", "sunset"): 1,
    ("mountains", "sunset", "trees"): 1,
}


def read_miml() -> LabelTable:
    try:
        from tailtag.labels.options import ReadOptions
        from tailtag.labels.readers import read_labels
    except ImportError:  # the readers are not there yet: build the table the plain way
        import pandas as pd
        import scipy.sparse as sp

        frame = pd.read_csv(MIML / "labels.csv")
        names = list(frame.columns[1:])
        matrix = sp.csr_matrix(frame[names].to_numpy(dtype=np.uint8))
        return LabelTable(paths=frame["Filenames"].to_numpy(dtype=object), names=names, matrix=matrix)
    return read_labels(MIML / "labels.csv", ReadOptions())


def test_miml_counts_cardinality_and_labelsets():
    stats = describe(read_miml())
    imb, sets = stats.imbalance, stats.labelsets
    assert (imb.n_images, imb.n_labels) == (2000, 5)
    assert dict(zip(imb.names, imb.counts.tolist(), strict=True)) == {
        "desert": 409,
        "mountains": 458,
        "sea": 580,
        "sunset": 465,
        "trees": 560,
    }
    assert np.bincount(imb.labels_per_image).tolist() == [0, 1543, 442, 15]
    assert imb.cardinality == pytest.approx(1.236)
    assert {tuple(sets.labels(k)): int(sets.counts[k]) for k in range(len(sets))} == PUBLISHED_SETS
    assert len(sets) == 20 and sets.n_single == 2
    assert int(np.count_nonzero(sets.counts <= 20)) == 10
    # IRLbl = 580 / count; powerlabel puts desert (first column) in the top bit of 5
    np.testing.assert_allclose(imb.irlbl, 580 / np.array([409, 458, 580, 465, 560]))
    assert sets.labels(0) == ["trees"] and int(sets.powerlabels[0]) == 1
    assert imb.mean_ir == pytest.approx(np.mean(580 / np.array([409, 458, 580, 465, 560])))

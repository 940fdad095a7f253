import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    coverage_error,
    f1_score,
    hamming_loss,
    label_ranking_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from tailtag.errors import TailtagError
from tailtag.metrics import evaluate_multilabel, multiclass_metrics, one_error


def random_case(seed=0, n=300, k=7):
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, k)) < np.linspace(0.03, 0.5, k)).astype(int)
    scores = np.clip(targets * 0.3 + rng.random((n, k)) * 0.7, 0, 1)
    return targets, scores


def degenerate_case():
    """Column 0 no positives, 1 never predicted, 2 predicted everywhere, 3 all positive."""
    targets, scores = random_case(3, n=120, k=6)
    targets[:, 0] = 0
    scores[:, 1] = np.minimum(scores[:, 1], 0.4)
    scores[:, 2] = np.maximum(scores[:, 2], 0.6)
    targets[:, 3] = 1
    return targets, scores


@pytest.mark.parametrize("case", [random_case, degenerate_case])
def test_parity_with_scikit_learn(case):
    targets, scores = case()
    pred = (scores >= 0.5).astype(int)
    with pytest.warns(UserWarning) if not targets[:, 0].any() else _nothing():
        m = evaluate_multilabel(targets, scores, 0.5)
    labelled = targets.any(axis=0)
    assert m["micro_f1"] == pytest.approx(f1_score(targets, pred, average="micro", zero_division=0), abs=1e-9)
    macro = f1_score(targets[:, labelled], pred[:, labelled], average="macro", zero_division=0)
    assert m["macro_f1"] == pytest.approx(macro, abs=1e-9)
    assert m["weighted_f1"] == pytest.approx(f1_score(targets, pred, average="weighted", zero_division=0), abs=1e-9)
    assert m["samples_f1"] == pytest.approx(f1_score(targets, pred, average="samples", zero_division=0), abs=1e-9)
    assert m["hamming_loss"] == pytest.approx(hamming_loss(targets, pred), abs=1e-9)
    assert m["coverage"] == pytest.approx(coverage_error(targets, scores), abs=1e-9)
    assert m["ranking_loss"] == pytest.approx(label_ranking_loss(targets, scores), abs=1e-9)
    for j, row in enumerate(m["per_class"].values()):
        assert row["precision"] == pytest.approx(precision_score(targets[:, j], pred[:, j], zero_division=0), abs=1e-9)
        assert row["recall"] == pytest.approx(recall_score(targets[:, j], pred[:, j], zero_division=0), abs=1e-9)
        assert row["support"] == targets[:, j].sum() and row["n_predicted"] == pred[:, j].sum()
        if 0 < targets[:, j].sum() < len(targets):
            assert row["ap"] == pytest.approx(average_precision_score(targets[:, j], scores[:, j]), abs=1e-9)
            assert row["roc_auc"] == pytest.approx(roc_auc_score(targets[:, j], scores[:, j]), abs=1e-9)
    aps = [average_precision_score(targets[:, j], scores[:, j]) for j in np.flatnonzero(labelled)]
    assert m["mAP"] == pytest.approx(np.mean(aps), abs=1e-9)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_degenerate_policy():
    targets, scores = degenerate_case()
    with pytest.warns(UserWarning, match="1 of 6 labels have no positive"):
        m = evaluate_multilabel(targets, scores, 0.5, names=list("abcdef"))
    assert m["per_class"]["a"]["ap"] is None and m["per_class"]["a"]["roc_auc"] is None
    assert m["per_class"]["b"]["precision"] == 0.0 and m["per_class"]["b"]["n_predicted"] == 0
    assert m["per_class"]["c"]["recall"] == 1.0
    assert m["per_class"]["c"]["precision"] == pytest.approx(targets[:, 2].mean())
    assert m["per_class"]["d"]["roc_auc"] is None and m["per_class"]["d"]["ap"] == pytest.approx(1.0)
    assert m["n_empty"] == 1


def test_one_error_golden():
    targets = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0], [0, 0, 1]])
    scores = np.array([[0.9, 0.1, 0.2], [0.9, 0.1, 0.2], [0.5, 0.5, 0.5], [0.3, 0.3, 0.3]])
    # row 2 has no positive and is skipped; row 3 ties at the top with its positive
    assert one_error(targets, scores) == pytest.approx(1 / 3)


def test_buckets_are_metrics_on_their_columns():
    targets, scores = random_case(5)
    buckets = np.array(["tail", "tail", "medium", "medium", "head", "head", "head"])
    m = evaluate_multilabel(targets, scores, 0.5, buckets=buckets)
    assert list(m["buckets"]) == ["head", "medium", "tail"]
    tail = evaluate_multilabel(targets[:, :2], scores[:, :2], 0.5)
    for key in ("macro_f1", "mAP", "subset_accuracy", "one_error", "ranking_loss", "coverage"):
        assert m["buckets"]["tail"][key] == pytest.approx(tail[key], abs=1e-12)
    assert m["buckets"]["head"]["n_labels"] == 3


def test_label_permutation_invariance():
    targets, scores = random_case(6)
    perm = np.random.default_rng(0).permutation(targets.shape[1])
    a, b = evaluate_multilabel(targets, scores, 0.5), evaluate_multilabel(targets[:, perm], scores[:, perm], 0.5)
    for key in ("macro_f1", "micro_f1", "mAP", "coverage", "ranking_loss", "one_error"):
        assert a[key] == pytest.approx(b[key], abs=1e-12)


def test_sparse_targets_accepted():
    import scipy.sparse as sp

    targets, scores = random_case(7)
    dense = evaluate_multilabel(targets, scores, 0.4)
    sparse = evaluate_multilabel(sp.csr_matrix(targets.astype(np.uint8)), scores, 0.4)
    assert dense["macro_f1"] == sparse["macro_f1"]


@pytest.mark.parametrize(
    ("targets", "scores", "kwargs", "match"),
    [
        (np.zeros((3, 2)), np.zeros((3, 3)), {}, r"targets.shape=\(3, 2\) does not match"),
        (np.full((3, 2), 2), np.zeros((3, 2)), {}, "targets must be 0/1, got 2"),
        (np.zeros((3, 2)), np.full((3, 2), np.nan), {}, "scores must be finite"),
        (np.zeros((3, 2)), np.zeros((3, 2)), {"thresholds": np.ones(3)}, r"shape \(2,\)"),
        (np.zeros((3, 2)), np.zeros((3, 2)), {"buckets": np.array(["tail"])}, "buckets must have shape"),
    ],
)
@pytest.mark.filterwarnings("ignore:.*no positive")
def test_errors(targets, scores, kwargs, match):
    with pytest.raises(TailtagError, match=match):
        evaluate_multilabel(targets, scores, **kwargs)


def test_multiclass_parity_and_absent_class():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 200)
    scores = rng.random((200, 5)) + np.eye(5)[y] * 0.5  # class 4 never true
    p = scores.argmax(axis=1)
    m = multiclass_metrics(y, scores, 5)
    np.testing.assert_array_equal(m["confusion"], confusion_matrix(y, p, labels=range(5)))
    with pytest.warns(UserWarning):
        expected_bal = balanced_accuracy_score(y, p)
    assert m["balanced_accuracy"] == pytest.approx(expected_bal, abs=1e-9)
    assert m["macro_f1"] == pytest.approx(f1_score(y, p, labels=range(4), average="macro"), abs=1e-9)
    assert np.isnan(m["recall"][4]) and m["n_absent"] == 1
    np.testing.assert_allclose(m["precision"], precision_score(y, p, labels=range(5), average=None, zero_division=0))


def test_multiclass_rejects_out_of_range():
    with pytest.raises(TailtagError, match=r"class indices in \[0, 3\)"):
        multiclass_metrics(np.array([0, 3]), np.array([0, 1]), 3)


def test_metrics_and_thresholds_do_not_import_torch():
    code = "import sys, tailtag.metrics, tailtag.thresholds; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_one_label_and_one_label_buckets():
    """scikit-learn's ranking metrics refuse a single column; a bucket of one label is common (5 head + 1 tail)."""
    rng = np.random.default_rng(3)
    targets = (rng.random((50, 6)) < 0.3).astype(int)
    scores = rng.random((50, 6))
    result = evaluate_multilabel(targets, scores, buckets=np.array(["head"] * 5 + ["tail"]))
    tail = result["buckets"]["tail"]
    assert tail["n_labels"] == 1 and tail["ranking_loss"] == 0.0
    assert tail["coverage"] == pytest.approx(targets[:, 5].mean())
    assert tail["one_error"] == 0.0  # the only label is the top label of every image that has it
    single = evaluate_multilabel(targets[:, :1], scores[:, :1])
    assert single["macro_f1"] == pytest.approx(result["per_class"]["0"]["f1"])

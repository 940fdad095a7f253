"""Suspected label issues from out-of-fold probabilities, by confident learning.

Confident learning (Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty in Dataset
Labels", JAIR 2021, https://arxiv.org/abs/1911.00068) treats each label j of a multi-label table as a
binary problem (one-vs-rest, as cleanlab's multilabel module does). Its per-class threshold is the mean
out-of-fold probability of the class's own given members (the "self-confidence" threshold): given-1 images
of label j set t_1 = mean p_j over them, given-0 images set t_0 = mean (1 - p_j) over them. An absent tag
whose image is confidently in class 1 (p_j >= t_1, and more so than for class 0) is a suspected *missing*
tag; a present tag confidently in class 0 a suspected *wrong* tag.

cleanlab is the engine: `cleanlab.filter.find_label_issues` (filter_by="confident_learning") flags the
pairs of each binary problem, `cleanlab.rank.get_label_quality_scores` (self-confidence) scores them,
`cleanlab.count.compute_confident_joint` gives the per-label noise rates, and
`cleanlab.multilabel_classification` judges whole tag sets. What tailtag adds around it: issues per
(image, label) with their type (missing / wrong), one ranking across all labels, per-label missing and
wrong rates, the image-level list, and a sparse (N, L) label matrix in (labels with no positives or no
negatives are skipped with a note instead of failing). torch-free.

One ranking across labels needs scores on one scale. Within a label every self-confidence variant
(threshold-adjusted or not, normalized margin, confidence-weighted entropy) orders the pairs alike; what
decides the ranking across labels is where each label's threshold sits. Each label's logits have their own
offset and spread (its prior, how separable it is), and cleanlab's adjustment subtracts the threshold in
probability space, where the confident pairs are all squeezed near 0 or 1, so it hardly moves one label
against another. `recalibrated` therefore centres each label's out-of-fold logits on the midpoint of the mean
logit of its given-1 and of its given-0 images (the boundary between the two given classes, as in linear
discriminant analysis with equal variances) and divides by the label's logit spread, then cleanlab's
self-confidence scores the result. Measured on MIML with seeded noise (`benchmarks/doctor_miml.py`, seeds
0, 1, 2, out-of-fold probabilities alone): average precision 0.635 with cleanlab's adjusted self-confidence,
0.677 with the recalibrated one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

ISSUE_COLUMNS = ("img_path", "label", "issue", "given", "score", "rank")


@dataclass
class LabelIssues:
    """What `find_issues` found.

    Attributes:
        rows: (M,) int64 image index of each suspected issue, ranked (most suspicious first).
        cols: (M,) int64 label index.
        given: (M,) uint8 the tag as given (0: missing-tag suspect, 1: wrong-tag suspect).
        score: (M,) float64 in [0, 1]: 1 - cleanlab's self-confidence of the given tag under the label's
            recalibrated probabilities (`recalibrated`); above 0.5 the image sits on the other side of the
            label's boundary.
        thresholds: (L, 2) per-label (t_0, t_1) self-confidence thresholds (NaN where not computed).
        missing_rate: (L,) estimated P(true 1 | given 0): share of absent tags that should be present.
        wrong_rate: (L,) estimated P(true 0 | given 1): share of present tags that should be absent.
        image_rows: (I,) image indices whose whole tag set looks wrong, worst first.
        image_quality: (N,) cleanlab's multilabel label-quality score of each image's tag set (low = bad).
        pair_scores: (N, L) float32 the same score for every (image, label), flagged or not (NaN for skipped
            labels): the full ranking, e.g. to measure average precision against known noise.
        skipped: label indices left out (no positive or no negative image), with a note each.
    """

    rows: np.ndarray
    cols: np.ndarray
    given: np.ndarray
    score: np.ndarray
    thresholds: np.ndarray
    missing_rate: np.ndarray
    wrong_rate: np.ndarray
    image_rows: np.ndarray
    image_quality: np.ndarray
    pair_scores: np.ndarray
    skipped: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)

    def kind(self) -> np.ndarray:
        """(M,) 'missing' where the tag is absent, 'wrong' where it is present."""
        return np.where(self.given == 1, "wrong", "missing")


def _binary(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.stack([1.0 - p, p], axis=1)


def recalibrated(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(N,) float64 one label's probabilities on a scale shared by all labels (see the module docstring).

    sigmoid((logit p - t) / s), with t the midpoint of the mean logit of the given-1 and of the given-0
    images and s the standard deviation of the label's logits: 0.5 on the label's own boundary, and one
    unit of s means the same for every label.

    Args:
        y: (N,) 0/1 given tags of the label (both values present).
        p: (N,) its out-of-fold probabilities.
    """
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    logit = np.log(p / (1 - p))
    boundary = 0.5 * (logit[y == 1].mean() + logit[y == 0].mean())
    spread = max(float(logit.std()), 1e-6)
    return 1.0 / (1.0 + np.exp(-(logit - boundary) / spread))


def _one_label(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """(flagged (N,) bool, scores (N,), (t_0, t_1), missing rate, wrong rate) of one binary problem."""
    from cleanlab.count import compute_confident_joint
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    probs = _binary(y, np.clip(p, 1e-6, 1 - 1e-6))
    flagged = find_label_issues(y, probs, filter_by="confident_learning", n_jobs=1)
    quality = get_label_quality_scores(y, _binary(y, recalibrated(y, p)), method="self_confidence")
    thresholds = np.array([probs[y == 0, 0].mean(), probs[y == 1, 1].mean()])
    # confident joint: rows = given label, columns = latent true label, calibrated to the given counts
    joint = compute_confident_joint(y, probs, calibrate=True).astype(np.float64)
    rates = joint[:, ::-1].diagonal() / np.maximum(joint.sum(axis=1), 1e-12)  # [P(true 1|given 0), P(true 0|given 1)]
    return flagged, 1.0 - quality, thresholds, float(rates[0]), float(rates[1])


def find_issues(labels: sp.spmatrix | np.ndarray, probabilities: np.ndarray, *, min_count: int = 2) -> LabelIssues:
    """Suspected missing and wrong tags, per-label noise rates and whole-tag-set issues.

    Args:
        labels: (N, L) 0/1 given labels (scipy sparse or dense).
        probabilities: (N, L) float out-of-fold probabilities of the same images and labels (in `doctor`:
            the cross-fitted models and the neighbour vote combined).
        min_count: a label needs this many given-1 and given-0 images to be judged (confident learning
            estimates a threshold from each side).

    Returns:
        `LabelIssues`, issues ranked by score (ties broken by image then label index, so the order is exact).
    """
    csc = sp.csc_matrix(labels, dtype=np.uint8)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if csc.shape != probabilities.shape:
        raise ValueError(f"labels {csc.shape} and probabilities {probabilities.shape} differ in shape")
    n, n_labels = csc.shape
    thresholds = np.full((n_labels, 2), np.nan)
    missing_rate, wrong_rate = np.full(n_labels, np.nan), np.full(n_labels, np.nan)
    pair_scores = np.full((n, n_labels), np.nan, dtype=np.float32)
    rows, cols, scores, skipped = [], [], [], {}
    for j in range(n_labels):
        positives = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
        if len(positives) < min_count or n - len(positives) < min_count:
            skipped[j] = f"{len(positives)} of {n} images tagged: too few on one side to estimate thresholds"
            continue
        y = np.zeros(n, dtype=np.int64)
        y[positives] = 1
        flagged, score, thresholds[j], missing_rate[j], wrong_rate[j] = _one_label(y, probabilities[:, j])
        pair_scores[:, j] = score
        found = np.flatnonzero(flagged)
        rows.append(found)
        cols.append(np.full(len(found), j, dtype=np.int64))
        scores.append(score[found])
    rows_a = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    cols_a = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    score_a = np.concatenate(scores) if scores else np.zeros(0)
    order = np.lexsort((cols_a, rows_a, -score_a))
    rows_a, cols_a, score_a = rows_a[order], cols_a[order], score_a[order]
    csr = csc.tocsr()
    given = np.asarray(csr[rows_a, cols_a]).reshape(-1).astype(np.uint8) if len(rows_a) else np.zeros(0, np.uint8)
    image_rows, image_quality = tag_set_issues(csr, probabilities)
    return LabelIssues(
        rows_a, cols_a, given, score_a, thresholds, missing_rate, wrong_rate, image_rows, image_quality, pair_scores,
        skipped,
    )  # fmt: skip


def tag_set_issues(labels: sp.csr_matrix, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(image indices whose tag set cleanlab's multilabel filter flags, worst first; (N,) tag-set quality).

    cleanlab needs every label to have a given-1 image; labels without one are left out of this step.
    """
    from cleanlab.multilabel_classification import filter as ml_filter
    from cleanlab.multilabel_classification import rank as ml_rank

    used = np.flatnonzero(np.bincount(labels.indices, minlength=labels.shape[1]) > 0)
    if len(used) < 2:
        return np.zeros(0, dtype=np.int64), np.ones(labels.shape[0])
    remap = np.full(labels.shape[1], -1)
    remap[used] = np.arange(len(used))
    lists = [remap[labels.indices[labels.indptr[i] : labels.indptr[i + 1]]].tolist() for i in range(labels.shape[0])]
    probs = np.clip(probabilities[:, used], 1e-6, 1 - 1e-6)
    flagged = ml_filter.find_label_issues(lists, probs, filter_by="confident_learning", n_jobs=1)
    quality = ml_rank.get_label_quality_scores(lists, probs)
    image_rows = np.flatnonzero(flagged)
    return image_rows[np.argsort(quality[image_rows], kind="stable")], quality


def issue_table(issues: LabelIssues, paths: np.ndarray, names: list[str]) -> list[dict]:
    """The rows of label_issues.csv: img_path, label, issue, given, score (6 decimals), rank (1 = worst)."""
    kinds = issues.kind()
    return [
        {
            "img_path": str(paths[i]),
            "label": names[j],
            "issue": str(kinds[m]),
            "given": int(issues.given[m]),
            "score": round(float(issues.score[m]), 6),
            "rank": m + 1,
        }
        for m, (i, j) in enumerate(zip(issues.rows.tolist(), issues.cols.tolist(), strict=True))
    ]

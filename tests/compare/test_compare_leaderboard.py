"""Leaderboard statistics against hand computations, and the paired-test flags."""

from __future__ import annotations

import csv

import pytest
from scipy import stats

from tailtag.compare.cell import METRICS
from tailtag.compare.leaderboard import build_rows, format_table, paired, rank, write_csv


def _record(loss: str, seed: int, macro_f1: float, rule: str = "fixed 0.5", tail=None) -> dict:
    metrics = {m: 0.5 for m in METRICS}
    metrics.update(macro_f1=macro_f1, tail_mAP=tail)
    return {"loss": loss, "sampler": "none", "head": "linear", "rule": rule, "seed": seed, "metrics": metrics}


# a is best; b is a little worse on every seed but with a noisy gap; c is worse by a constant 0.2
SCORES = {"a": [0.70, 0.74, 0.72], "b": [0.69, 0.75, 0.68], "c": [0.50, 0.54, 0.52]}


@pytest.fixture
def rows():
    records = [_record(loss, seed, v) for loss, values in SCORES.items() for seed, v in enumerate(values)]
    return rank(build_rows(records), "macro_f1", baseline={"loss": "c"})


def test_mean_std_by_hand(rows):
    a = rows[0]
    assert a.config["loss"] == "a" and a.rank == 1
    assert a.mean["macro_f1"] == pytest.approx(0.72)
    # sample std (ddof=1) of 0.70, 0.74, 0.72: sqrt((0.02^2 + 0.02^2 + 0) / 2) = 0.02
    assert a.std["macro_f1"] == pytest.approx(0.02)
    assert rows[1].mean["macro_f1"] == pytest.approx((0.69 + 0.75 + 0.68) / 3)
    assert a.mean["tail_mAP"] is None and a.std["tail_mAP"] is None
    assert [r.config["loss"] for r in rows] == ["a", "b", "c"]


def test_paired_test_matches_scipy_and_hand_interval(rows):
    b = rows[1]
    expected = stats.ttest_rel(SCORES["b"], SCORES["a"]).pvalue
    assert b.vs_best["p"] == pytest.approx(expected)
    diffs = [x - y for x, y in zip(SCORES["b"], SCORES["a"], strict=True)]  # -0.01, +0.01, -0.04
    mean = sum(diffs) / 3
    sd = (sum((d - mean) ** 2 for d in diffs) / 2) ** 0.5
    half = stats.t.ppf(0.975, 2) * sd / 3**0.5
    assert b.vs_best["diff"] == pytest.approx(mean)
    assert b.vs_best["ci"] == pytest.approx((mean - half, mean + half))
    assert b.vs_best["n"] == 3


def test_noise_flags(rows):
    a, b, c = rows
    assert a.vs_best is None and a.within_noise()
    assert not b.vs_best["significant"] and b.within_noise()
    # a constant gap has zero variance: p is 0 (certainly different), not NaN
    assert c.vs_best["p"] == 0.0 and c.vs_best["significant"] and not c.within_noise()
    assert c.vs_baseline is None  # c is the baseline
    assert a.vs_baseline["diff"] == pytest.approx(0.2) and a.vs_baseline["significant"]


def test_paired_edge_cases():
    assert paired({0: 0.5, 1: 0.6}, {0: 0.5, 1: 0.6}) == {
        "diff": 0.0, "ci": (0.0, 0.0), "p": 1.0, "n": 2, "significant": False,
    }  # fmt: skip
    one_seed = paired({0: 0.5}, {0: 0.4})
    assert one_seed["p"] is None and not one_seed["significant"]
    missing = paired({0: 0.5, 1: None, 2: 0.7}, {0: 0.4, 1: 0.3, 2: 0.6})
    assert missing["n"] == 2  # seeds without a value on either side are left out


def test_ties_sort_by_label():
    records = [_record(loss, seed, 0.6) for loss in ("z", "m", "b") for seed in (0, 1)]
    assert [r.config["loss"] for r in rank(build_rows(records), "macro_f1")] == ["b", "m", "z"]


def test_csv_and_table(rows, tmp_path):
    path = write_csv(rows, tmp_path / "leaderboard.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        lines = list(csv.DictReader(handle))
    assert [line["loss"] for line in lines] == ["a", "b", "c"]
    assert lines[0]["macro_f1_mean"] == "0.7200" and lines[0]["macro_f1_std"] == "0.0200"
    assert [line["within_noise"] for line in lines] == ["yes", "yes", "no"]
    assert lines[0]["tail_mAP_mean"] == "" and lines[0]["n_seeds"] == "3"
    table = format_table(rows, "macro_f1")
    assert "best" in table.splitlines()[2]
    assert "≈" in table.splitlines()[3] and "≈" not in table.splitlines()[4]
    assert "n/a" in table  # tail_mAP without tail labels

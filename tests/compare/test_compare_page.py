"""leaderboard.html: self-contained, escaped, and rendered by headless Chromium with its plots decoded."""

from __future__ import annotations

import pytest

from tailtag.compare.cell import METRICS
from tailtag.compare.leaderboard import build_rows, rank
from tailtag.compare.page import write_page

EVIL = '<img src=x onerror="window.pwned=1">'


def _rows(with_tail: bool):
    records = []
    for i, loss in enumerate(("bce", "focal", EVIL)):
        for seed in range(3):
            metrics = {m: 0.5 + 0.1 * i + 0.01 * seed for m in METRICS}
            metrics["tail_mAP"] = metrics["mAP"] - 0.1 if with_tail else None
            records.append(
                {
                    "loss": loss,
                    "sampler": "none",
                    "head": "linear",
                    "rule": "fixed 0.5",
                    "seed": seed,
                    "metrics": metrics,
                }
            )
    return rank(build_rows(records), "macro_f1", baseline={"loss": "bce"})


def test_page_is_self_contained_and_escaped(tmp_path):
    path = write_page(_rows(True), ["best is <b>x</b>"], "macro_f1", "grid <1>", tmp_path / "leaderboard.html")
    text = path.read_text(encoding="utf-8")
    assert text.count("data:image/png;base64,") == 2
    assert "<script" not in text and "http" not in text and EVIL not in text
    assert "&lt;b&gt;x&lt;/b&gt;" in text and "grid &lt;1&gt;" in text
    assert text.count("<tr class=") == 3


def test_page_without_tail_labels_says_so(tmp_path):
    text = write_page(_rows(False), [], "macro_f1", "t", tmp_path / "p.html").read_text(encoding="utf-8")
    assert text.count("data:image/png;base64,") == 1
    assert "No tail labels" in text


@pytest.mark.browser
def test_page_renders_in_chromium(browser, tmp_path):
    path = write_page(_rows(True), ["statement"], "macro_f1", "grid", tmp_path / "leaderboard.html")
    browser.get(path.as_uri())
    widths = browser.execute_script(
        "return Array.prototype.map.call(document.images, function (i) { return i.complete ? i.naturalWidth : 0; });"
    )
    assert len(widths) == 2 and all(w > 200 for w in widths)
    assert browser.execute_script("return window.pwned === undefined;")
    assert browser.execute_script("return document.querySelectorAll('tr.best').length;") == 1
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_dollar_signs_in_names_are_drawn_literally(tmp_path):
    """A `$` in a configuration or rule name would start matplotlib mathtext (an odd count raises)."""
    import matplotlib

    records = [
        {"loss": loss, "sampler": "none", "head": "linear", "rule": r"$\frac{$", "seed": 0,
         "metrics": {m: 0.5 + 0.1 * i for m in METRICS}}
        for i, loss in enumerate((r"$\frac{$", "a_b%"))
    ]  # fmt: skip
    with matplotlib.rc_context({"text.usetex": True}):
        path = write_page(rank(build_rows(records), "macro_f1"), [], "macro_f1", "t", tmp_path / "p.html")
    assert path.read_text(encoding="utf-8").count("data:image/png;base64,") == 2

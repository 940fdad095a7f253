"""The rendered report page: self-contained, escaped, complete, and degrading on a partial summary."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import warnings
from html.parser import HTMLParser

import numpy as np
import pytest

from tailtag.errors import OptionError
from tailtag.report import ReportWarning, render_report, write_report
from tailtag.report._template import SCRIPT

# The per-class tables' JSON: data, not script (the CSP runs only the one hashed script).
_DATA_BLOCK = re.compile(r'<script type="application/json" id="[^"]+">(.*?)</script>', re.S)
HOSTILE = ['<script>alert("x")</script>', '<img src=x onerror="window.pwned=1">', "$x^2$ & 'quotes'", "trees"]


class _Page(HTMLParser):
    """Tags, their attributes, and the text of every <td> of #per-class."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.rows: list[list[str]] = []
        self._in_table = self._in_cell = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table":
            self._in_table = attrs.get("id") == "per-class"
        elif tag == "tr" and self._in_table and "data-i" in attrs:
            self.rows.append([])
        elif tag == "td" and self._in_table and self.rows:
            self._in_cell = True
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag == "td":
            self._in_cell = False
        elif tag == "table":
            self._in_table = False

    def handle_data(self, data):
        if self._in_cell:
            self.rows[-1][-1] += data


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _render(summary, data) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ReportWarning)  # every section must draw
        return render_report(summary, data)


@pytest.fixture(scope="module")
def standard(tmp_path_factory, build_inputs_fn) -> tuple[dict, object, str]:
    """(summary, data, html) of one report on 150 images x 6 labels, the last without evaluation positives and
    a prior baseline that beats the model's macro-F1; shared because a render costs about a second."""
    folder = tmp_path_factory.mktemp("standard")
    summary, data = build_inputs_fn(folder, n=150, k=6, empty_last=True)
    summary["baselines"]["prior"]["macro_f1"] = 0.999
    with warnings.catch_warnings():
        warnings.simplefilter("error", ReportWarning)  # every section must draw
        path = write_report(folder / "out" / "report.html", summary, data)
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no temporary file left behind
    return summary, data, path.read_text(encoding="utf-8")


def test_report_is_self_contained(standard):
    html = standard[2]
    page = _parse(html)
    for tag, attrs in page.tags:
        for key in ("src", "href"):
            if key in attrs:
                assert attrs[key].startswith(("data:", "#")), (tag, attrs[key][:60])
        assert tag != "link" and not (tag == "script" and "src" in attrs)
    assert "http://" not in html and "https://" not in html
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in html and f"<script>{SCRIPT}</script>" in html
    assert html.count("data:image/png;base64,") == 6  # long tail, history, PR, threshold, reliability, co-confusion
    assert html.count("data:image/jpeg;base64,") >= 8  # thumbnails of the misclassified images


def test_hostile_label_names_are_escaped(report_inputs):
    summary, data = report_inputs(n=120, k=len(HOSTILE), names=HOSTILE)
    summary["warnings"] = ["<b>bold</b> warning"]
    summary["run"] = "</title><script>alert(2)</script>"
    html = _render(summary, data)
    blocks = _DATA_BLOCK.findall(html)
    assert len(blocks) == 1 and not any(c in blocks[0] for c in "<>&")  # nothing can close the data block
    assert [row[0] for row in json.loads(blocks[0])["rows"]] == HOSTILE
    markup = _DATA_BLOCK.sub("", html)
    assert markup.count("<script") == 1 and "onerror=" not in markup.replace("onerror=&#34;", "")
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt; warning" in html
    assert [row[0] for row in _parse(html).rows] == HOSTILE


_ALL_NONE = dict.fromkeys(
    ("run", "per_class", "at_0_5", "baselines", "buckets", "calibration", "co_confusion", "errors", "warnings")
)


@pytest.mark.parametrize("summary", [None, _ALL_NONE], ids=["no-summary", "keys-none"])
def test_missing_summary_keys_degrade(report_inputs, summary):
    _, data = report_inputs(n=40, k=4)
    html = _render(summary, data)
    page = _parse(html)
    assert len(page.rows) == 4
    assert page.rows[0][4] == "n/a" and page.rows[0][2] != "n/a"  # precision unknown, train count from the data
    assert "Misclassified examples: not available" in html and "Co-confusion heatmap: not available" in html
    assert 'id="warnings"' not in html and "The summary has no calibration numbers." in html
    tp = [int(row[10].replace(",", "")) for row in page.rows]
    assert tp == np.count_nonzero(data.predictions() & (data.targets > 0), axis=0).tolist()


def test_wrong_types_in_summary_degrade(report_inputs):
    summary, data = report_inputs(n=80, k=3)
    summary.update(per_class="oops", buckets=[1, 2], errors=5, at_0_5={"macro_f1": "high"}, warnings="one warning")
    summary.update(baselines={"prior": None}, multiclass={"balanced_accuracy": 0.5, "per_class": ["x"]})
    html = _render(summary, data)
    assert "one warning" in html and len(_parse(html).rows) == 3
    assert "The summary has no confusion matrix." in html and 'id="multiclass-per-class"' not in html


def test_broken_section_is_reported_in_place(report_inputs):
    summary, data = report_inputs(n=80, k=3)
    summary["co_confusion"] = {"labels": ["a", "b"], "matrix": [[0.0, 1.0, 2.0]]}
    with pytest.warns(ReportWarning, match="error analysis"):
        html = render_report(summary, data)
    assert "The error analysis section could not be drawn: ValueError: co_confusion.matrix has shape (1, 3)" in html
    assert 'id="per-class"' in html  # the other sections are intact


def test_headline_table_marks_inflated_metrics_and_losing_cells(standard):
    summary, _, html = standard
    assert "Inflated by negatives" in html
    row = re.search(r'<tr data-metric="macro-F1">.*?</tr>', html, re.S).group(0)
    assert 'class="lose"' in row and "0.9990" in row
    for metric in ("label-wise accuracy", "Hamming loss"):
        row = re.search(rf'<tr data-metric="{metric}">.*?</tr>', html, re.S).group(0)
        assert 'href="#inflated"' in row
    assert f"{summary['at_0_5']['macro_f1']:.4f}" in html
    assert "measured on the data the thresholds were fitted on, so optimistic" in html


def test_per_class_table_matches_summary(standard):
    summary, data, html = standard
    page = _parse(html)
    assert [row[0] for row in page.rows] == data.names
    for row, name in zip(page.rows, data.names, strict=True):
        entry = summary["per_class"][name]
        assert row[6] == f"{entry['f1']:.4f}" and row[9] == f"{entry['threshold']:.4f}"
    assert page.rows[-1][7] == "n/a" and page.rows[-1][3] == "0"  # AP undefined without positives


def test_single_label(report_inputs):
    summary, data = report_inputs(n=60, k=1)
    html = _render(summary, data)
    assert len(_parse(html).rows) == 1 and "Curves for" not in html


def test_forty_labels_draw_a_selection(report_inputs):
    summary, data = report_inputs(n=200, k=40)
    html = _render(summary, data)
    note = re.search(r"Curves for (\d+) of 40 labels: (.*?)\.</p>", html).groups()
    assert 12 <= int(note[0]) <= 13 and "most frequent" in note[1] and "rarest" in note[1]
    assert "Thumbnails for 12 of" in html
    assert html.count('class="class-errors"') == 12


def test_multiclass_section(report_inputs):
    summary, data = report_inputs(n=150, k=5, multiclass=True)
    html = _render(summary, data)
    assert 'id="multiclass-per-class"' in html and 'href="#multiclass"' in html
    assert f"{summary['multiclass']['balanced_accuracy']:.4f}" in html
    assert "Confusion matrix: not available" not in html


def test_multilabel_report_has_no_multiclass_section(standard):
    assert 'id="multiclass"' not in standard[2] and 'href="#multiclass"' not in standard[2]


def test_write_report_refuses_a_folder(tmp_path, report_inputs):
    summary, data = report_inputs(n=40, k=2)
    with pytest.raises(OptionError, match="is a folder; expected an HTML file name"):
        write_report(tmp_path, summary, data)

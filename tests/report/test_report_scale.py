"""A report of 3,000 labels: one page of the per-class table in the DOM, the rest as JSON; per-bucket plots
instead of per-label ones; a bounded file; and, in headless Chromium, paging, sorting and filtering."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest

from tailtag.report import ReportWarning, write_report
from tailtag.report.bucket_plots import MANY_LABELS, bucket_summary_plot
from tailtag.report.paged_table import PAGE_ROWS, json_value, paged_table
from tailtag.report.tables import Column, worst_first

N_IMAGES, N_LABELS = 300, 3000
_DATA = re.compile(r'<script type="application/json" id="per-class-data">(.*?)</script>', re.S)
_ROW = re.compile(r'<tr data-i="(\d+)">')


@pytest.fixture(scope="module")
def large(tmp_path_factory, build_evaluated_inputs_fn):
    """(summary, data, path, html) of one 300-image x 3,000-label report."""
    folder = tmp_path_factory.mktemp("large_report")
    summary, data = build_evaluated_inputs_fn(folder, N_IMAGES, N_LABELS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ReportWarning)  # every section must draw
        path = write_report(folder / "report.html", summary, data)
    return summary, data, path, path.read_text(encoding="utf-8")


def _table_html(html: str) -> str:
    return re.search(r'<table id="per-class".*?</table>', html, re.S).group(0)


def test_table_is_one_page_of_html_and_every_row_as_json(large):
    summary, data, path, html = large
    assert path.stat().st_size < 1_500_000  # ~0.7 MB: 3,000 rows of JSON and six plots
    rows = _ROW.findall(_table_html(html))
    assert len(rows) == PAGE_ROWS
    payload = json.loads(_DATA.search(html).group(1))
    assert len(payload["rows"]) == N_LABELS and payload["page"] == PAGE_ROWS
    assert sorted(payload["order"]) == list(range(N_LABELS)) and [int(i) for i in rows] == payload["order"][:PAGE_ROWS]
    assert "Without JavaScript only the first 50 of 3,000" in html and "3,000 labels. Worst first" in html


def test_default_order_puts_the_worst_measured_label_first(large):
    summary, data, _, html = large
    first = data.names[int(_ROW.search(_table_html(html)).group(1))]
    entries = summary["per_class"]
    measured = {name: e["f1"] for name, e in entries.items() if e["support"] > 0}
    assert entries[first]["support"] > 0 and entries[first]["f1"] == min(measured.values())


def test_plots_are_per_bucket_and_do_not_scale_with_labels(large):
    _, data, _, html = large
    alts = re.findall(r'<img class="plot" src="data:image/png;base64,[^"]*" alt="([^"]*)"', html)
    assert sorted(alts) == sorted([
        "Training label counts, sorted", "Per-class metrics by bucket", "Precision-recall curves",
        "Threshold curves", "Reliability diagram", "Co-confusion heatmap",
    ])  # fmt: skip
    assert f"3,000 labels (more than {MANY_LABELS}): per-label plots are summarised per frequency bucket" in html
    assert "the profile is one filled area per bucket" in html
    assert re.search(r"Curves for 1[23] of 3,000 labels", html)
    assert "Co-confusion shows the 30 of 3,000 labels" in html and "Thumbnails for 12 of 3,000 classes" in html
    assert html.count('class="class-errors"') == 12


def test_small_report_keeps_every_row_in_label_order(report_inputs):
    summary, data = report_inputs(n=60, k=5)
    from tailtag.report import render_report

    html = render_report(summary, data)
    assert [int(i) for i in _ROW.findall(_table_html(html))] == [0, 1, 2, 3, 4]
    assert "Per-class metrics by bucket" not in html and "Without JavaScript" not in html


# --- the building blocks ---------------------------------------------------------------------------------------


def test_json_value_round_trips_the_shown_text():
    assert json_value("0.1235", repr(0.12345678), "float") == 0.1235
    assert json_value("1,234", repr(1234.0), "int") == 1234
    assert json_value("n/a", "", "float") is None and json_value("sea", "sea", "text") == "sea"
    assert json_value("n/a", "", "text") is None


def test_paged_table_escapes_markup_and_checks_the_order():
    columns = (Column("label", "label", "text"), Column("f1", "F1", "float"))
    rows = [[("</script><b>&", "</script><b>&"), ("0.5000", "0.5")], [("b", "b"), ("n/a", "")]]
    table = paged_table("t", columns, rows, order=[1, 0], page_rows=1)
    assert not any(c in table.data_json for c in "<>&")
    assert json.loads(table.data_json)["rows"] == [["</script><b>&", 0.5], ["b", None]]
    assert [row["i"] for row in table.first_page] == [1] and table.groups == []
    with pytest.raises(ValueError, match="permutation of the 2 row indices"):
        paged_table("t", columns, rows, order=[0, 0])


def test_worst_first_golden():
    def row(f1: str, support: str) -> dict:
        cells = [("x", "x")] * 14
        cells[6], cells[3] = (f1, f1), (support, support)
        return {"cells": cells}

    # F1 0.5 / 0.1 / 0.1 (more support) / n/a / 0 without positives
    rows = [row("0.5", "3.0"), row("0.1", "2.0"), row("0.1", "9.0"), row("", "4.0"), row("0.0", "0.0")]
    assert worst_first(rows) == [2, 1, 0, 3, 4]


def test_bucket_summary_plot_needs_a_value():
    nan = np.full(3, np.nan)
    assert bucket_summary_plot(["head", "tail", "tail"], np.ones(3), {"f1": nan, "ap": nan}) is None
    uri = bucket_summary_plot(["tail", "head", "odd"], np.array([0, 2, 1]), {"threshold": np.array([0.2, 0.5, 0.4])})
    assert uri.startswith("data:image/png;base64,")


# --- in the browser --------------------------------------------------------------------------------------------

_VISIBLE = """
var table = document.getElementById("per-class");
var col = table.querySelector('th[data-key="' + arguments[0] + '"]').cellIndex;
return Array.prototype.map.call(table.tBodies[0].rows, function (r) { return r.cells[col].textContent; });
"""

# Replace the filter's text as typing would: set the value, then the input event the page listens to.
_TYPE = """
var box = document.getElementById("per-class-filter");
box.value = arguments[0];
box.dispatchEvent(new Event("input"));
"""


@pytest.mark.browser
def test_pages_filters_and_sorts_in_chromium(browser, large):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    summary, data, path, html = large
    order = json.loads(_DATA.search(html).group(1))["order"]
    browser.get(path.as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    labels = lambda: browser.execute_script(_VISIBLE, "label")  # noqa: E731
    status = browser.find_element(By.ID, "per-class-status")
    assert labels() == [data.names[i] for i in order[:PAGE_ROWS]] and status.text == "rows 1-50 of 3,000"
    assert browser.find_element(By.ID, "per-class-prev").get_attribute("disabled") is not None

    browser.find_element(By.ID, "per-class-next").click()
    assert labels() == [data.names[i] for i in order[PAGE_ROWS : 2 * PAGE_ROWS]]
    assert status.text == "rows 51-100 of 3,000"
    browser.find_element(By.ID, "per-class-prev").click()
    assert labels()[0] == data.names[order[0]]

    box = browser.find_element(By.ID, "per-class-filter")
    box.send_keys("LABEL_2718")
    assert labels() == ["label_2718"] and status.text == "rows 1-1 of 1 matching, of 3,000"
    browser.execute_script(_TYPE, "label_27")  # label_2700 to label_2799: two pages
    assert status.text == "rows 1-50 of 100 matching, of 3,000"
    browser.execute_script(_TYPE, "")
    assert status.text == "rows 1-50 of 3,000"

    Select(browser.find_element(By.ID, "per-class-group")).select_by_value("head")
    heads = [j for j, b in enumerate(data.buckets) if b == "head"]
    assert set(browser.execute_script(_VISIBLE, "bucket")) == {"head"}
    assert status.text.endswith(f"of {len(heads):,} matching, of 3,000")

    header = browser.find_element(By.CSS_SELECTOR, '#per-class th[data-key="support"]')
    header.click()
    header.click()
    WebDriverWait(browser, 5).until(lambda _: header.get_attribute("aria-sort") == "descending")
    support = [int(v.replace(",", "")) for v in browser.execute_script(_VISIBLE, "support")]
    assert support[0] == max(summary["per_class"][data.names[j]]["support"] for j in heads)
    assert support == sorted(support, reverse=True) and len(support) == min(PAGE_ROWS, len(heads))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#per-class tbody tr")) <= PAGE_ROWS
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []

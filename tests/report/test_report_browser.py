"""The written report in headless Chromium: loads without console errors, runs no injected code, and its
per-class table sorts on a header click."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tailtag.report import write_report

pytestmark = pytest.mark.browser

NAMES = ["trees", "sea", '<img src=x onerror="window.pwned=1">', "sunset", "desert", "mountains", "no_positives"]
_COLUMN_TEXT = """
var table = document.getElementById("per-class");
var col = table.querySelector('th[data-key="' + arguments[0] + '"]').cellIndex;
return Array.prototype.filter.call(table.tBodies[0].rows, function (r) { return !r.hidden; })
    .map(function (r) { return r.cells[col].textContent; });
"""


def _column(browser, key: str) -> list[str]:
    return browser.execute_script(_COLUMN_TEXT, key)


def _click(browser, key: str, expected: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    header = browser.find_element(By.CSS_SELECTOR, f'#per-class th[data-key="{key}"]')
    header.click()
    WebDriverWait(browser, 5).until(lambda _: header.get_attribute("aria-sort") == expected)


@pytest.fixture(scope="module")
def report_path(tmp_path_factory, build_inputs_fn) -> Path:
    folder = tmp_path_factory.mktemp("browser_report")
    summary, data = build_inputs_fn(folder, n=160, k=len(NAMES), names=NAMES, empty_last=True)
    return write_report(folder / "report.html", summary, data)


@pytest.fixture
def opened_report(browser, report_path):
    browser.get(report_path.as_uri())
    return browser


def test_report_loads_cleanly_and_sorts(opened_report, tmp_path):
    browser = opened_report
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []
    assert browser.execute_script("return window.pwned === undefined")
    assert browser.execute_script('return document.querySelectorAll("img.plot").length') >= 6

    _click(browser, "f1", "ascending")
    f1 = [float(text) for text in _column(browser, "f1")]
    assert f1 == sorted(f1) and len(f1) == len(NAMES)
    _click(browser, "f1", "descending")
    assert [float(text) for text in _column(browser, "f1")] == sorted(f1, reverse=True)
    assert browser.find_element("id", "per-class").get_attribute("data-sorted-by") == "f1"

    _click(browser, "ap", "ascending")
    ascending = _column(browser, "ap")
    _click(browser, "ap", "descending")
    descending = _column(browser, "ap")
    assert ascending[-1] == descending[-1] == "n/a"  # undefined AP sorts last both ways
    assert [float(v) for v in descending[:-1]] == sorted((float(v) for v in ascending[:-1]), reverse=True)

    _click(browser, "label", "ascending")
    assert _column(browser, "label") == sorted(NAMES, key=str.lower)

    browser.execute_script("window.scrollTo(0, 0)")
    _save_screenshot(browser, tmp_path / "report.png")


def test_label_filter(opened_report):
    from selenium.webdriver.common.by import By

    box = opened_report.find_element(By.ID, "per-class-filter")
    assert box.is_displayed()  # hidden in the HTML, shown by the script
    box.send_keys("SUN")
    assert _column(opened_report, "label") == ["sunset"]


def _save_screenshot(browser, path: Path) -> None:
    assert browser.save_screenshot(str(path))
    assert path.stat().st_size > 10_000  # a blank or error page compresses to a few kB
    folder = os.environ.get("TAILTAG_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(folder) / "report.png")


def test_multiclass_table_draws(browser, tmp_path, build_inputs_fn):
    summary, data = build_inputs_fn(tmp_path, n=150, k=5, multiclass=True)
    browser.get(write_report(tmp_path / "report.html", summary, data).as_uri())
    assert [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == []
    texts = browser.execute_script(
        'return Array.prototype.map.call(document.querySelectorAll("#multiclass-per-class tbody tr"),'
        " function (r) { return r.cells[0].textContent; });"
    )
    assert texts == data.names
    assert browser.find_element("id", "multiclass-per-class-status").text == "rows 1-5 of 5"

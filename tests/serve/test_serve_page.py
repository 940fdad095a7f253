"""The page in headless Chromium: upload a real JPEG, read the rendered tags and bars, compare with the API."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.browser


def _wait_state(browser, states: tuple[str, ...], timeout: float = 30) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def state(driver):
        value = driver.find_element(By.ID, "results").get_attribute("data-state")
        return value if value in states else False

    return WebDriverWait(browser, timeout).until(state)


def test_page_tags_an_uploaded_image(browser, service, images):
    from selenium.webdriver.common.by import By

    path = images[5]  # the CMYK JPEG: decoded on the server exactly as batch prediction decodes it
    expected = httpx.post(f"{service}/v1/tags", files=[("images", (path.name, path.read_bytes()))]).json()
    expected = expected["results"][0]
    assert expected["tags"], "pick an image the run tags, or the comparison below proves little"
    browser.get_log("browser")  # drop entries of earlier tests
    browser.get(f"{service}/")
    assert browser.find_element(By.ID, "title").text == "tailtag \u2014 run"
    browser.find_element(By.ID, "file-input").send_keys(str(path))
    assert _wait_state(browser, ("done", "error")) == "done", browser.find_element(By.ID, "error").text

    result = browser.find_element(By.CSS_SELECTOR, "#results .result")
    assert [tag.text for tag in result.find_elements(By.CSS_SELECTOR, ".tag")] == expected["tags"]
    bars = result.find_elements(By.CSS_SELECTOR, ".prob-bar[data-label]")
    shown = [(bar.get_attribute("data-label"), float(bar.get_attribute("data-prob"))) for bar in bars]
    ranked = sorted(expected["probabilities"].items(), key=lambda item: -item[1])
    assert [label for label, _ in shown] == [label for label, _ in ranked]  # every label, most probable first
    assert all(abs(p - expected["probabilities"][label]) < 1e-6 for label, p in shown)
    chosen = result.find_elements(By.CSS_SELECTOR, ".prob-row.chosen .prob-bar")
    assert {bar.get_attribute("data-label") for bar in chosen} == set(expected["tags"])
    assert result.find_element(By.TAG_NAME, "img").get_attribute("src").startswith("blob:")
    assert len(result.find_elements(By.CSS_SELECTOR, ".threshold")) == len(bars)  # thresholds from /v1/labels
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not severe, severe


def test_page_shows_errors_politely(browser, service, tmp_path):
    from selenium.webdriver.common.by import By

    broken = tmp_path / "notes.jpg"
    broken.write_text("these are not pixels")
    browser.get(f"{service}/")
    browser.find_element(By.ID, "file-input").send_keys(str(broken))
    assert _wait_state(browser, ("done", "error")) == "error"
    shown = browser.find_element(By.ID, "error")
    assert shown.is_displayed()
    assert "image 0 ('notes.jpg'): not an image" in shown.text and "send the complete" in shown.text
    # the browser logs the 422 itself; nothing else may fail (no script error, no blocked resource)
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "422" not in e["message"]]
    assert not severe, severe


def test_docs_page_renders_offline(browser, service):
    """Swagger UI draws the API's operations from local assets (this machine has no network)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{service}/docs")
    WebDriverWait(browser, 30).until(lambda driver: driver.find_elements(By.CSS_SELECTOR, ".opblock"))
    paths = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/v1/tags", "/v1/labels", "/healthz"} <= paths

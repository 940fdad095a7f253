"""Shared fixtures: `browser`, a headless Chromium driven by Debian's chromedriver (for the HTML report and the
service page). Tests that use it are marked `@pytest.mark.browser`."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

_INSTALL = "install them with `apt-get install chromium chromium-driver` (and the dev extra for selenium)"


def _missing(reason: str) -> None:
    """Fail when the environment promises a browser (the Makefile's test target sets TAILTAG_REQUIRE_BROWSER=1),
    skip otherwise."""
    if os.environ.get("TAILTAG_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}; TAILTAG_REQUIRE_BROWSER=1 requires it: {_INSTALL}", pytrace=False)
    pytest.skip(f"{reason}: {_INSTALL}")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """A selenium 4 `webdriver.Chrome` on headless Chromium, 1280 x 2000, with the console log readable through
    `driver.get_log("browser")`. The chromedriver path is given explicitly, so selenium-manager never goes to
    the network."""
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed")
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        _missing(f"chromium ({chromium or 'not found'}) and chromedriver ({chromedriver or 'not found'}) are needed")
    options = webdriver.ChromeOptions()
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,2000",
    ):
        options.add_argument(argument)
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    except WebDriverException as error:
        _missing(f"chromium did not start ({error.msg or error})")
    try:
        yield driver
    finally:
        driver.quit()

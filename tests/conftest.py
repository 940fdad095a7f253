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


# --- a small trained run, shared by the inference, evaluation, export, predict and serve tests ---------------

#: Real ImageNet Lite0 at 64 px, head mode with the last stage trained (top_blocks=1) and two cached views:
#: every branch of the scoring path (trunk cache, mirrored maps, view averaging) in about 20 s of training.
SMALL_RUN = (
    "image_size=64", "num_workers=0", "warmup_epochs=0", "batch_size=16", "epochs=2",
    "top_blocks=1", "views=[center,full]",
)  # fmt: skip


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread per test: two intra-op threads on a shared 2-core machine make small steps many times
    slower (spinning waits). torch is imported only if a test already did."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def train_small_run():
    """`train_small_run(root, *overrides)`: `tailtag train` on 80 generated 64 px scenes into root/run, with
    `SMALL_RUN` and then `overrides` as --set values; returns the run directory (thresholds fitted)."""
    from pathlib import Path

    def train(root: Path, *overrides: str) -> Path:
        import torch

        from tailtag.cli import main
        from tailtag.demo import make_demo_dataset

        labels = make_demo_dataset(root / "data", n_images=80, size=64)
        sets = [a for key in (f"cache_dir={root / 'cache'}", *SMALL_RUN, *overrides) for a in ("--set", key)]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            status = main(["train", str(labels), "--images", str(labels.parent), "--out", str(root / "run"), *sets])
        finally:
            torch.set_num_threads(threads)
        assert status == 0
        return root / "run"

    return train


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, train_small_run):
    """The shared run directory (tests that change it work on a copy)."""
    return train_small_run(tmp_path_factory.mktemp("small-run"))


@pytest.fixture
def child_env() -> dict[str, str]:
    """Environment of `python -m tailtag` child processes: one thread each (as torchrun sets for its
    workers), unbuffered output so a killed child's last lines are on disk."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}

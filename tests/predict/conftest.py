"""Fixtures of the prediction tests: the images of the shared small run (`small_run`, tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_images(small_run) -> Path:
    """The folder of the run's 80 demo JPEGs (images/0001.jpg ...)."""
    return small_run.parent / "data" / "images"

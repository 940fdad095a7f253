"""The shared small run's tagger, its images, and the service running on it (`small_run`: tests/conftest.py)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tailtag.inference import Tagger
from tailtag.serve import BackgroundServer, Limits, create_app

#: The limits of the shared test service: small, so each one is cheap to exceed.
TEST_LIMITS = Limits(
    max_batch=8, max_wait_ms=50, max_images=4, max_request_mb=1, max_pixels=1_000_000, timeout_s=20, decode_threads=2
)


@pytest.fixture(scope="session")
def tagger(small_run) -> Tagger:
    return Tagger.load(small_run)


@pytest.fixture(scope="session")
def images(small_run, tmp_path_factory) -> list[Path]:
    """Eight good images of different kinds: demo JPEGs, a CMYK JPEG, an RGBA PNG, a larger sideways JPEG."""
    scenes = sorted((small_run.parent / "data" / "images").glob("*.jpg"))[:5]
    folder = tmp_path_factory.mktemp("serve-images")
    base = Image.open(scenes[0]).convert("RGB")
    base.convert("CMYK").save(folder / "cmyk.jpg", quality=90)
    rgba = base.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(base.size))
    rgba.save(folder / "alpha.png")
    big = Image.open(scenes[1]).convert("RGB").resize((400, 300))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: the loader must turn it upright, as batch prediction does
    big.save(folder / "rotated.jpg", quality=85, exif=exif)
    return [*scenes, folder / "cmyk.jpg", folder / "alpha.png", folder / "rotated.jpg"]


@pytest.fixture(scope="session")
def service(small_run):
    """The service on a free loopback port with TEST_LIMITS, in a background thread; yields its base URL."""
    app = create_app(Tagger.load(small_run), TEST_LIMITS, docs=True)
    with BackgroundServer(app) as server:
        yield server.url


@pytest.fixture(scope="session")
def make_png():
    """png(width, height, seed=0) -> bytes: a real PNG of random noise (incompressible: size ~ 3 x pixels)."""
    return _png_bytes


def _png_bytes(width: int, height: int, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()

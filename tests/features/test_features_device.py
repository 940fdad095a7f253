"""Feature extraction through the device input pipeline (on CPU tensors): same features as the PIL pipeline
up to decoder/resampler rounding, bad images reported the same way."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tailtag.features import compute_features
from tailtag.models import create_backbone


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return create_backbone("test_efficientnet", None, input_size=32)


def _images(folder, n):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        small = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
        path = folder / f"{i}.jpg" if i % 2 == 0 else folder / f"{i}.png"  # JPEG: device decode; PNG: fallback
        Image.fromarray(small).resize((60, 50), Image.BICUBIC).save(path)
        paths.append(path)
    (folder / "bad.jpg").write_text("not an image")
    return [*paths, folder / "bad.jpg"]


def test_device_pipeline_features_match_the_cpu_pipeline(backbone, tmp_path):
    paths = _images(tmp_path / "img", 5)
    options = {"views": ("center", "flip", "full"), "num_workers": 0, "batch_size": 4, "progress": False}
    cpu = compute_features(backbone, paths, cache_dir=tmp_path / "c1", input_pipeline="cpu", **options)
    dev = compute_features(backbone, paths, cache_dir=tmp_path / "c2", input_pipeline="device", **options)
    assert dev.features.shape == cpu.features.shape == (3, 6, backbone.num_features)
    assert dev.ok.tolist() == cpu.ok.tolist() == [True] * 5 + [False]
    assert [p.path for p in dev.problems] == [p.path for p in cpu.problems] == [str(paths[-1])]
    good = dev.features[:, :5]
    scale = float(np.abs(cpu.features[:, :5]).mean())
    assert float(np.abs(good - cpu.features[:, :5]).mean()) < 0.02 * scale  # rounding-level differences only
    assert not np.allclose(good[0], good[1])  # center and flip views differ

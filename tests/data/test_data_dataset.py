"""ImageDataset + collate_images: bad images are flagged with their reason, never fatal, never lost."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from tailtag.data import ImageDataset, collate_images
from tailtag.models import PreprocessConfig, eval_transform

CFG = PreprocessConfig(input_size=(16, 16), crop_pct=1.0, mean=(0.5,) * 3, std=(0.5,) * 3)


@pytest.fixture
def files(tmp_path):
    """Six paths: four readable JPEGs (colour i * 40 in red), an HTML page named .jpg, a missing file."""
    paths = []
    for i in range(4):
        path = tmp_path / f"img{i}.jpg"
        Image.new("RGB", (24, 20), (i * 40, 0, 0)).save(path)
        paths.append(str(path))
    (tmp_path / "page.jpg").write_text("<!DOCTYPE html><html>404</html>")
    paths.insert(2, str(tmp_path / "page.jpg"))
    paths.append(str(tmp_path / "gone.jpg"))
    return paths


def _load_all(dataset, **loader_kwargs):
    loader = DataLoader(dataset, batch_size=4, collate_fn=collate_images, **loader_kwargs)
    return list(loader)


@pytest.mark.parametrize("num_workers", [0, 1])
def test_bad_images_are_reported_not_fatal(files, num_workers):
    targets = np.arange(12, dtype=np.float32).reshape(6, 2)
    dataset = ImageDataset(files, eval_transform(CFG), targets=targets)
    batches = _load_all(dataset, num_workers=num_workers)
    indices = torch.cat([batch.indices for batch in batches]).tolist()
    assert indices == [0, 1, 3, 4]
    problems = [problem for batch in batches for problem in batch.problems]
    assert [(p.path, p.kind) for p in problems] == [(files[2], "not an image"), (files[5], "missing")]
    assert "looks like HTML" in problems[0].reason
    first = batches[0]
    assert first.images.shape == (3, 3, 16, 16)
    torch.testing.assert_close(first.targets, torch.tensor([[0.0, 1.0], [2.0, 3.0], [6.0, 7.0]]))
    red = (first.images[:, 0].mean(dim=(1, 2)) + 1) / 2 * 255  # undo the 0.5 / 0.5 normalization
    torch.testing.assert_close(red, torch.tensor([0.0, 40.0, 80.0]), atol=1.5, rtol=0)


def test_a_batch_of_only_bad_images(files):
    dataset = ImageDataset([files[2], files[5]], eval_transform(CFG))
    (batch,) = _load_all(dataset)
    assert batch.images is None and batch.targets is None
    assert batch.indices.tolist() == [] and len(batch.problems) == 2


def test_without_targets(files):
    batch = _load_all(ImageDataset(files[:2], eval_transform(CFG)))[0]
    assert batch.targets is None and batch.images.shape == (2, 3, 16, 16)


def test_draft_size_and_pixel_limit_are_passed_to_the_loader(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (800, 600), (10, 200, 30)).save(path)
    sizes = []
    dataset = ImageDataset([path], lambda image: sizes.append(image.size) or torch.zeros(1), draft_size=(100, 100))
    dataset[0]
    assert sizes == [(200, 150)]  # 1/4 DCT scale keeps both sides >= 100
    limited = ImageDataset([path], eval_transform(CFG), max_pixels=1000)
    assert "over the limit of 1,000" in limited[0]["error"]


def test_targets_must_match_paths(files):
    with pytest.raises(ValueError, match=r"targets must be \(N, K\) with N=6 paths; got shape \(5, 2\)"):
        ImageDataset(files, eval_transform(CFG), targets=np.zeros((5, 2)))

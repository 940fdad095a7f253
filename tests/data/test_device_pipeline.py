"""The device input pipeline on CPU tensors: parity with the PIL eval transform, fallbacks, bad files, seeding.

Tolerance of the parity tests: the device pipeline decodes with torchvision's libjpeg-turbo build and resizes
float tensors with torch's antialiased bicubic kernel; the CPU pipeline decodes with Pillow's libjpeg-turbo
and resamples with Pillow's bicubic filter in 8-bit. Both round to uint8 after resizing, so pixels differ by
rounding: a grey level (1/255/std ~= 0.017 after normalising) here and there, a few levels at strong edges.
The tests allow a mean absolute difference of 0.01 and a maximum of 0.1 (~5 grey levels) in normalised units;
a wrong crop, a missing normalisation or swapped channels differ by 0.3 and more.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from tailtag.data.device_pipeline import DeviceBatches, DeviceTransform, EncodedImages, collate_encoded
from tailtag.images import load_image
from tailtag.models import PreprocessConfig, eval_transform

CFG = PreprocessConfig(input_size=(48, 48))
MEAN_TOL, MAX_TOL = 0.01, 0.1


def _photo(seed: int, size=(120, 90)) -> Image.Image:
    """A smooth random colour field with some texture (JPEG-friendly, like a photo)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(small).resize(size, Image.BICUBIC), dtype=np.int16)
    noise = rng.integers(-12, 13, base.shape)
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


@pytest.fixture
def files(tmp_path):
    """jpg0-3 (JPEG), png (PNG), cmyk (CMYK JPEG), rotated (EXIF orientation 6), trunc (half a JPEG),
    html (a web page named .jpg), gone (missing)."""
    paths = {}
    for i in range(4):
        paths[f"jpg{i}"] = tmp_path / f"{i}.jpg"
        _photo(i).save(paths[f"jpg{i}"], quality=92)
    paths["png"] = tmp_path / "p.png"
    _photo(10, (70, 100)).save(paths["png"])
    paths["cmyk"] = tmp_path / "cmyk.jpg"
    _photo(11).convert("CMYK").save(paths["cmyk"], quality=95)
    paths["rotated"] = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    _photo(12, (100, 60)).save(paths["rotated"], quality=95, exif=exif)
    buffer = io.BytesIO()
    _photo(13).save(buffer, "JPEG", quality=90)
    paths["trunc"] = tmp_path / "trunc.jpg"
    paths["trunc"].write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    paths["html"] = tmp_path / "page.jpg"
    paths["html"].write_text("<!DOCTYPE html><html>404</html>")
    paths["gone"] = tmp_path / "gone.jpg"
    return {key: str(path) for key, path in paths.items()}


def _batch(dataset, keys):
    return collate_encoded([dataset[key] for key in keys])


def test_eval_output_matches_the_pil_pipeline(files):
    names = ["jpg0", "jpg1", "png", "cmyk", "rotated", "jpg2"]
    paths = [files[name] for name in names]
    dataset = EncodedImages(paths)
    batch = _batch(dataset, range(len(paths)))
    assert batch.encoded.tolist() == [True, True, False, False, False, True]  # PNG, CMYK, rotated: CPU fallback
    out = DeviceTransform(CFG, "cpu")(batch)
    reference = torch.stack([eval_transform(CFG)(load_image(path)) for path in paths])
    assert out.images.shape == (6, 3, 48, 48) and out.images.dtype == torch.float32
    assert out.indices.tolist() == list(range(6)) and out.problems == []
    diff = (out.images - reference).abs()
    assert float(diff.mean()) < MEAN_TOL and float(diff.max()) < MAX_TOL
    # the rotated file comes out upright: compared with a wrongly rotated version it is far off
    wrong = eval_transform(CFG)(Image.open(files["rotated"]).convert("RGB"))
    assert float((out.images[4] - wrong).abs().mean()) > 10 * MEAN_TOL


def test_bad_files_are_reported_with_the_reason_and_left_out(files):
    paths = [files[name] for name in ("jpg0", "trunc", "html", "gone", "jpg1")]
    dataset = EncodedImages(paths)
    batch = _batch(dataset, range(5))
    assert [problem.path for problem in batch.problems] == [files["html"], files["gone"]]  # found by the worker
    assert batch.encoded.tolist() == [True, True, True]  # the truncated JPEG's header reads fine
    out = DeviceTransform(CFG, "cpu")(batch)
    assert out.indices.tolist() == [0, 4] and out.images.shape[0] == 2
    reasons = {problem.path: problem.reason for problem in out.problems}
    assert set(reasons) == {files["trunc"], files["html"], files["gone"]}
    assert "truncated" in reasons[files["trunc"]]
    assert reasons[files["gone"]] == EncodedImages([files["gone"]])[0]["error"] and reasons[files["gone"]]


def test_a_batch_of_only_bad_files_gives_no_images(files):
    out = DeviceTransform(CFG, "cpu")(_batch(EncodedImages([files["trunc"], files["html"]]), [0, 1]))
    assert out.images is None and len(out.problems) == 2 and out.indices.numel() == 0


def test_training_draws_depend_only_on_their_seed(files):
    paths = [files[f"jpg{i}"] for i in range(4)] + [files["png"]]
    dataset = EncodedImages(paths, choice=np.array([0, 1, 0, 1, 0]))
    transform = DeviceTransform(CFG, "cpu", train=True, strengths=("light", "strong"))
    keys = [(row, 1000 + row) for row in range(5)]
    first = transform(_batch(dataset, keys)).images
    again = transform(_batch(dataset, keys)).images
    assert torch.equal(first, again)
    # a different batch composition and order: each draw still gets the same pixels
    alone = transform(_batch(dataset, [keys[3], keys[0]])).images
    assert torch.equal(alone[0], first[3]) and torch.equal(alone[1], first[0])
    other_seed = transform(_batch(dataset, [(0, 7)])).images
    assert not torch.equal(other_seed[0], first[0])
    assert first.shape == (5, 3, 48, 48) and first.dtype == torch.float32
    # augmented but still normalised pixels of a photo: roughly zero-centred, unit-scaled
    assert -1.5 < float(first.mean()) < 1.5 and 0.2 < float(first.std()) < 2.0


def test_training_augmentation_varies_and_strong_can_erase(files):
    dataset = EncodedImages([files["jpg0"]], choice=np.array([1]))
    transform = DeviceTransform(CFG, "cpu", train=True, strengths=("light", "strong"))
    draws = transform(_batch(dataset, [(0, seed) for seed in range(24)])).images
    assert len({tuple(image.flatten()[:50].tolist()) for image in draws}) == 24
    erased = [(image == 0).all(dim=0).sum() > 20 for image in draws]  # a zero box in every channel
    assert 0 < sum(erased) < 24


def test_channels_last_and_loader_wrapper(files):
    paths = [files[f"jpg{i}"] for i in range(4)]
    loader = DataLoader(EncodedImages(paths), batch_size=3, collate_fn=collate_encoded, num_workers=1)
    batches = list(DeviceBatches(loader, DeviceTransform(CFG, "cpu", channels_last=True)))
    assert len(batches) == 2 and [b.indices.tolist() for b in batches] == [[0, 1, 2], [3]]
    assert batches[0].images.is_contiguous(memory_format=torch.channels_last)


def test_pixel_limit_is_enforced(files):
    sample = EncodedImages([files["jpg0"]], max_pixels=100)[0]
    assert sample["item"] is None and "pixels" in sample["error"]

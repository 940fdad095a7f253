"""Preprocessing pipelines: exact geometry of the eval/view transforms, randomness of the train ones, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tailtag.errors import OptionError
from tailtag.images import load_image
from tailtag.models import (
    MultiView,
    PreprocessConfig,
    draft_size,
    eval_transform,
    train_draft_size,
    train_transform,
    view_transform,
)

CFG = PreprocessConfig(input_size=(48, 48), interpolation="bilinear", crop_pct=0.875, mean=(0.5,) * 3, std=(0.5,) * 3)


def _thirds(width: int = 300, height: int = 100) -> Image.Image:
    """Left third red, middle green, right third blue."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 3, 0] = 255
    pixels[:, width // 3 : 2 * width // 3, 1] = 255
    pixels[:, 2 * width // 3 :, 2] = 255
    return Image.fromarray(pixels)


def test_eval_transform_normalizes_and_crops():
    gray = Image.new("RGB", (80, 60), (255, 0, 51))
    out = eval_transform(CFG)(gray)
    assert out.shape == (3, 48, 48) and out.dtype == torch.float32
    expected = torch.tensor([1.0, -1.0, 51 / 255 * 2 - 1]).view(3, 1, 1).expand(3, 48, 48)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


def test_center_view_sees_only_the_middle_and_full_view_sees_everything():
    image = _thirds()
    center = view_transform(CFG, "center")(image)  # shorter side -> 54 px: 162 x 54, crop the middle 48
    full = view_transform(CFG, "full")(image)  # the whole 300 x 100 image squashed to 48 x 48
    to_unit = lambda t: (t + 1) / 2  # noqa: E731 - undo mean = std = 0.5
    assert to_unit(center)[1].min() > 0.99 and to_unit(center)[[0, 2]].max() < 0.01
    assert to_unit(full)[0, :, :10].min() > 0.99  # red on the left
    assert to_unit(full)[2, :, -10:].min() > 0.99  # blue on the right


def test_flip_view_is_the_mirrored_center_view():
    image = _thirds(90, 70)
    torch.testing.assert_close(view_transform(CFG, "flip")(image), view_transform(CFG, "center")(image).flip(-1))


def test_multi_view_stacks_views_in_order():
    image = _thirds()
    stacked = MultiView(CFG, ["full", "center"])(image)
    assert stacked.shape == (2, 3, 48, 48)
    torch.testing.assert_close(stacked[1], view_transform(CFG, "center")(image))


def test_non_square_input_resizes_both_sides():
    cfg = PreprocessConfig(input_size=(32, 64), crop_pct=1.0)
    assert cfg.resize_size == (32, 64)
    assert eval_transform(cfg)(_thirds()).shape == (3, 32, 64)


@pytest.mark.parametrize("strength", ["light", "strong"])
def test_train_transform_is_random_but_seeded(strength):
    image = _thirds(120, 90)
    transform = train_transform(CFG, strength)
    torch.manual_seed(0)
    first, second = transform(image), transform(image)
    torch.manual_seed(0)
    again = transform(image)
    assert first.shape == (3, 48, 48) and first.dtype == torch.float32
    assert not torch.equal(first, second)
    torch.testing.assert_close(first, again)


def test_draft_sizes():
    cfg = PreprocessConfig(input_size=(224, 224), crop_pct=0.875)
    assert draft_size(cfg, ["center"]) == (256, 256)  # shorter side resized to 224 / 0.875
    assert draft_size(cfg, ["full"]) == (224, 224)
    assert draft_size(cfg, ["full", "flip"]) == (256, 256)
    assert train_draft_size(cfg, "light") == (379, 379)  # 224 / sqrt(0.35): the smallest crop keeps full detail
    assert train_draft_size(cfg, "strong") == (501, 501)


def test_draft_decoding_gives_nearly_the_same_input(tmp_path):
    rng = np.random.default_rng(0)
    smooth = rng.random((12, 16, 3))  # low-frequency content, upsampled to a large photo
    photo = Image.fromarray((smooth * 255).astype(np.uint8)).resize((1600, 1200), Image.BICUBIC)
    path = tmp_path / "photo.jpg"
    photo.save(path, quality=92)
    cfg = PreprocessConfig(input_size=(96, 96), crop_pct=0.875)
    drafted = load_image(path, draft_size=draft_size(cfg, ["center"]))
    assert drafted.size == (200, 150)  # decoded at 1/8 scale: still >= 109 px (96 / 0.875) on both sides
    full = eval_transform(cfg)(load_image(path))
    fast = eval_transform(cfg)(drafted)
    assert (full - fast).abs().mean() < 0.02  # normalized units (range 2): measured 0.007


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"crop_pct": 0.0}, r"crop_pct must be in \(0, 1\], got 0.0"),
        ({"interpolation": "cubic"}, "interpolation must be one of nearest, bilinear, bicubic, lanczos, got 'cubic'"),
        ({"input_size": (4, 4)}, r"input_size must be \(H, W\) with both sides >= 8 pixels"),
        ({"std": (0.5, 0.0, 0.5)}, "std > 0"),
    ],
)
def test_bad_config(kwargs, message):
    with pytest.raises(OptionError, match=message):
        PreprocessConfig(**kwargs)


def test_unknown_view_and_strength():
    with pytest.raises(OptionError, match="unknown view 'crop'; valid views: center, flip, full"):
        view_transform(CFG, "crop")
    with pytest.raises(OptionError, match="unknown augmentation strength 'medium'; valid: light, strong"):
        train_transform(CFG, "medium")


def test_from_timm_config():
    data_config = {"input_size": (3, 256, 256), "interpolation": "random", "crop_pct": 0.9, "mean": (0, 0, 0)}
    cfg = PreprocessConfig.from_timm(data_config, input_size=128)
    assert cfg.input_size == (128, 128) and cfg.interpolation == "bicubic" and cfg.crop_pct == 0.9
    assert cfg.to_dict()["mean"] == [0.0, 0.0, 0.0]

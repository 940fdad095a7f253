"""create_backbone: offline ImageNet weights, weights files, explicit random init, and its errors."""

from __future__ import annotations

import logging

import pytest
import timm
import torch
from safetensors.torch import save_file

from tailtag.errors import OptionError, TailtagError
from tailtag.models import (
    PreprocessConfig,
    TagModel,
    backbone_name_problem,
    create_backbone,
    create_head,
    is_offline_imagenet,
)
from tailtag.models.weights import PACKAGED_IMAGENET, file_sha256, lite0_weights_file, packaged_weights_file


def test_lite0_imagenet_is_offline_and_identified_by_file_hash():
    backbone = create_backbone("tf_efficientnet_lite0", "imagenet")
    assert is_offline_imagenet("tf_efficientnet_lite0")
    assert backbone.num_features == 1280
    assert backbone.weights_id == f"sha256:{file_sha256(lite0_weights_file())}"
    assert backbone.preprocess == PreprocessConfig((224, 224), "bicubic", 0.875, (0.5,) * 3, (0.5,) * 3)
    assert not backbone.model.training
    with torch.inference_mode():
        features = backbone.model(torch.zeros(2, 3, 64, 64))
    assert features.shape == (2, 1280)  # num_classes=0: pooled features, no classifier


def test_lite2_imagenet_is_offline_too_with_its_own_preprocessing():
    backbone = create_backbone("tf_efficientnet_lite2", "imagenet")
    assert is_offline_imagenet("tf_efficientnet_lite2") and not is_offline_imagenet("resnet50")
    assert backbone.weights_id == f"sha256:{file_sha256(packaged_weights_file('tf_efficientnet_lite2'))}"
    assert backbone.weights_id != f"sha256:{file_sha256(lite0_weights_file())}"
    assert backbone.preprocess == PreprocessConfig((260, 260), "bicubic", 0.89, (0.5,) * 3, (0.5,) * 3)


def test_input_size_override_and_describe():
    backbone = create_backbone("test_efficientnet", None, input_size=48)
    assert backbone.preprocess.input_size == (48, 48)
    assert backbone.preprocess.crop_pct == 0.95  # from timm's pretrained_cfg of that model
    described = backbone.describe()
    assert described["preprocess"]["input_size"] == [48, 48]
    assert described["num_features"] == backbone.num_features == 256


def test_weights_file_loads_exactly(tmp_path):
    source = timm.create_model("test_efficientnet", pretrained=False)  # with a classifier: ignored on load
    path = tmp_path / "w.safetensors"
    save_file(source.state_dict(), str(path))
    backbone = create_backbone("test_efficientnet", path)
    loaded = backbone.model.state_dict()
    assert all(torch.equal(loaded[k], source.state_dict()[k]) for k in loaded)
    assert backbone.weights_id == f"sha256:{file_sha256(path)}"


def test_packaged_lite0_file_passed_by_path_loads_by_order():
    by_name = create_backbone("tf_efficientnet_lite0", "imagenet")
    by_path = create_backbone("tf_efficientnet_lite0", str(lite0_weights_file()))
    assert by_path.weights_id == by_name.weights_id
    assert torch.equal(by_path.model.state_dict()["bn2.weight"], by_name.model.state_dict()["bn2.weight"])


def test_weights_of_another_architecture_are_an_error(tmp_path):
    path = tmp_path / "resnet.safetensors"
    save_file(timm.create_model("test_resnet", pretrained=False).state_dict(), str(path))
    with pytest.raises(TailtagError, match=r"resnet.safetensors: does not fit the backbone: \d+ missing: conv_stem"):
        create_backbone("test_efficientnet", path)


def test_missing_weights_file_names_the_choices(tmp_path):
    with pytest.raises(TailtagError, match=r"no_such.pth: not found\n  fix: give --weights a .safetensors"):
        create_backbone("test_efficientnet", tmp_path / "no_such.pth")


@pytest.mark.parametrize("weights", [None, "none", "NONE"])
def test_random_weights_only_when_asked_and_loudly(caplog, weights):
    torch.manual_seed(0)
    with caplog.at_level(logging.WARNING, logger="tailtag.models.backbones"):
        backbone = create_backbone("test_efficientnet", weights)
    assert backbone.weights_id.startswith("random:")
    assert "RANDOM weights" in caplog.text


def test_random_weights_ids_differ_between_initialisations():
    torch.manual_seed(0)
    first = create_backbone("test_efficientnet", None).weights_id
    torch.manual_seed(1)
    second = create_backbone("test_efficientnet", None).weights_id
    torch.manual_seed(0)
    again = create_backbone("test_efficientnet", None).weights_id
    assert first != second and first == again  # cached features of two random inits never mix


def test_hub_failure_explains_the_offline_route(monkeypatch):
    calls = []

    real_create_model = timm.create_model

    def offline_create_model(name, pretrained=False, **kwargs):
        calls.append(pretrained)
        if pretrained:
            raise OSError("We couldn't connect to 'https://huggingface.co'")
        return real_create_model(name, pretrained=False, **kwargs)

    monkeypatch.setattr(timm, "create_model", offline_create_model)
    with pytest.raises(TailtagError) as error:
        create_backbone("test_resnet", "imagenet")
    assert calls == [True]  # asked the hub once, never fell back to random weights
    message = str(error.value)
    assert "cannot get ImageNet weights for backbone 'test_resnet' from the timm hub (OSError" in message
    assert "--weights weights.safetensors" in message and "tf_efficientnet_lite0" in message


def test_unknown_backbone_suggests_names():
    with pytest.raises(OptionError, match=r"unknown backbone 'tf_efficientnet_lite00'.*did you mean tf_efficientnet"):
        create_backbone("tf_efficientnet_lite00")


def test_bad_input_size():
    with pytest.raises(OptionError, match="input_size must be an int >= 8 pixels, got 4"):
        create_backbone("test_efficientnet", None, input_size=4)


def test_backbone_weights_from_a_tag_model_checkpoint(tmp_path):
    torch.manual_seed(3)
    trained = create_backbone("test_efficientnet", None)
    model = TagModel(trained.model, create_head("mlp", trained.num_features, 5, hidden=8))
    path = tmp_path / "best.pth"
    torch.save({"model": {f"module.{k}": v for k, v in model.state_dict().items()}, "epoch": 7}, path)
    reloaded = create_backbone("test_efficientnet", path)  # DDP prefix and the head are dropped
    assert all(torch.equal(v, trained.model.state_dict()[k]) for k, v in reloaded.model.state_dict().items())


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("hf-hub:timm/resnet18.a1_in1k", "not a plain timm model name"),
        ("local-dir:/tmp/model", "not a plain timm model name"),
        ("timm/resnet18", "not a plain timm model name"),
        ("../../resnet18", "not a plain timm model name"),
        ("..\\resnet18", "not a plain timm model name"),
        (" resnet18", "not a plain timm model name"),
        ("resnet18.no_such_tag", "resnet18 has no pretrained tag 'no_such_tag'; its tags: a1_in1k, "),
        ("", "must be a timm model name (a non-empty string), got ''"),
        (["resnet18"], "must be a timm model name (a non-empty string), got ['resnet18']"),
    ],
)
def test_backbone_names_other_than_plain_registry_names_are_refused(name, problem):
    assert problem in backbone_name_problem(name)
    with pytest.raises(OptionError, match="config key 'backbone': "):
        create_backbone(name, None)


@pytest.mark.parametrize("name", ["resnet18", "tf_efficientnet_lite0", "resnet18.a1_in1k"])
def test_plain_registry_names_and_pretrained_tags_are_accepted(name):
    assert backbone_name_problem(name) is None


@pytest.mark.parametrize("name", sorted(PACKAGED_IMAGENET))
def test_packaged_backbones_accepted_without_timm_are_plain_timm_names(name):
    # backbone_name_problem accepts these without importing timm; timm's registry must agree
    assert backbone_name_problem(name) is None
    assert timm.is_model(name) and name == name.strip() and not any(sign in name for sign in ".:/\\")

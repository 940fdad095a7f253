"""The trained model of a run, rebuilt from model.json + model.safetensors (a safe format: no pickle).

`RunModel` holds the backbone and head with the trained weights and knows how logits become per-label
probabilities (sigmoid, softmax, or the label-powerset marginals), so evaluation, prediction, export and the
service all score images the same way as training's validation did.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from safetensors.torch import load_file
from torch import nn

from tailtag import rundir
from tailtag.errors import LabelFileError, OptionError, TailtagError
from tailtag.inference.run_checks import check_labels_fit_head, check_model_json
from tailtag.inference.run_files import RunFiles, read_run
from tailtag.models import Backbone, PreprocessConfig, TagModel, create_head
from tailtag.models.trunk import split_backbone
from tailtag.rundir import OUTPUTS  # noqa: F401  (re-exported by tailtag.inference)


class Probabilities(nn.Module):
    """logits (B, M) -> per-label probabilities (B, K), as `TailLoss.probabilities` does at validation.

    For label powerset (Read et al., "Multi-label classification using ensembles of pruned sets", 2008) the
    M outputs score label combinations; a label's probability is the softmax mass of the sets that hold it.
    """

    def __init__(self, output: str, labelsets: torch.Tensor | None = None):
        super().__init__()
        self.output = output
        self.register_buffer("labelsets", labelsets if labelsets is not None else torch.zeros(0, 0))

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if self.output == "sigmoid":
            return torch.sigmoid(logits)
        probabilities = torch.softmax(logits, dim=1)
        if self.output != "powerset_marginals":
            return probabilities
        # a float32 sum of softmax masses can round to 1.0000001; downstream range checks need [0, 1]
        return (probabilities @ self.labelsets).clamp_max(1.0)


@dataclass
class RunModel:
    """A run's trained model on the CPU in eval mode.

    Attributes:
        run: the run directory's files.
        backbone: pooled-feature extractor with the trained weights; `weights_id` names the weights its
            frozen part was extracted with, so head-mode runs reuse the training feature cache. None for a run
            trained on features computed elsewhere (`tailtag train --features`): it scores feature vectors.
        head: features (B, D) -> logits (B, M).
        probabilities: logits -> (B, K) per-label probabilities.
    """

    run: RunFiles
    backbone: Backbone | None
    head: nn.Module
    probabilities: Probabilities

    @property
    def names(self) -> list[str]:
        return self.run.names

    @property
    def on_features(self) -> bool:
        """True for a run trained on features computed elsewhere: it has no network that reads images."""
        return self.backbone is None

    def image_backbone(self) -> Backbone:
        """The backbone; a clear error for a run trained on features from a file, which cannot read images."""
        if self.backbone is None:
            source = self.run.model.backbone.get("source", "a features file")
            raise TailtagError(
                f"{self.run.path}: this run was trained on features computed elsewhere ({source}), so it scores "
                "feature vectors, not images: it has no network to export, serve or run on image files\n"
                f"  fix: tailtag predict {self.run.path} --features FEATS --out FILE (FEATS: vectors from the same "
                "model), or train on images to get a model that reads them"
            )
        return self.backbone

    @property
    def preprocess(self) -> PreprocessConfig:
        return self.image_backbone().preprocess

    def feature_scorer(self) -> nn.Module:
        """features (B, D) -> probabilities (B, K): the head of a run trained on features (`on_features`)."""
        return nn.Sequential(self.head, self.probabilities).eval()

    def tag_model(self) -> nn.Module:
        """images (B, 3, H, W) normalised -> probabilities (B, K): the plain network, no test-time averaging."""
        return nn.Sequential(TagModel(self.image_backbone().model, self.head), self.probabilities).eval()

    def view_scorer(self) -> ViewScorer:
        """images of one view (B, 3, H, W) -> probabilities (B, K) exactly as validation scored that view.

        Average its outputs over `scoring_views(model)` (each view its own preprocessing) to reproduce
        `score_images` without the feature cache: what prediction, export and serving run.
        """
        config = self.run.config
        top_blocks = config.top_blocks if config.mode == "head" else 0
        cached, top, map_shape = split_backbone(self.image_backbone(), top_blocks)
        return ViewScorer(cached.model, top, self.head, self.probabilities, map_shape).eval()


class ViewScorer(nn.Module):
    """One view's images -> probabilities. With a trained top (head mode, `top_blocks` > 0) the top and head
    run on the trunk's feature maps and on their mirror image, averaged, as `predict_views` does on cached maps.
    """

    def __init__(
        self, trunk: nn.Module, top: nn.Module | None, head: nn.Module, probabilities: Probabilities, map_shape
    ):
        super().__init__()
        self.trunk, self.top, self.head, self.probabilities = trunk, top, head, probabilities
        self.map_shape = tuple(map_shape) if map_shape is not None else None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.top is None:
            return self.probabilities(self.head(self.trunk(images)))
        maps = self.trunk(images).reshape(-1, *self.map_shape)
        straight = self.probabilities(self.head(self.top(maps)))
        mirrored = self.probabilities(self.head(self.top(maps.flip(-1))))
        return (straight + mirrored) / 2


def load_model(run: str | RunFiles) -> RunModel:
    """Rebuild the model of the run directory `run` (a path or `read_run`'s result)."""
    files = run if isinstance(run, RunFiles) else read_run(run)
    info = files.model
    # Before timm sees the name: a hub or path name would make timm download or read files.
    described_model = info.to_dict()
    check_model_json(described_model, files.file(rundir.MODEL))
    check_labels_fit_head(files.labels, described_model, files.file(rundir.LABELS))
    state = _read_weights(files)
    head, probabilities = _head(files, state)
    described = info.backbone
    if described.get("kind") == rundir.FEATURES_KIND:  # trained on features from a file: the head alone
        return RunModel(files, None, head, probabilities)
    # timm only here: a head trained on embeddings returned above without it (~0.7 s and ~60 MB to import).
    import timm

    # An empty timm model of the run's architecture: every tensor comes from model.safetensors;
    # pretrained=False, so nothing is downloaded when a run is read.
    network = timm.create_model(described["name"], pretrained=False, num_classes=0)
    try:
        preprocess = PreprocessConfig(**described["preprocess"])
    except (TypeError, ValueError, OptionError) as exc:
        raise LabelFileError(
            files.file(rundir.MODEL), f"key 'backbone' -> 'preprocess' is malformed ({exc})", fix="retrain"
        ) from exc
    # Head mode keeps the trunk frozen, so its cached activations are those of the original weights.
    weights_id = described["weights_id"] if files.config.mode == "head" else f"run:{_digest(state)}"
    backbone = Backbone(described["name"], network, int(network.num_features), preprocess, weights_id)
    _load_part(backbone.model, state, "backbone.", files.file(rundir.WEIGHTS))
    backbone.model.eval()
    return RunModel(files, backbone, head, probabilities)


def _read_weights(files: RunFiles) -> dict[str, torch.Tensor]:
    weights_file = files.file(rundir.WEIGHTS)
    try:
        return load_file(str(weights_file))
    except Exception as exc:  # safetensors raises several types for damaged files
        raise LabelFileError(weights_file, f"cannot be read ({exc})", fix="retrain, or restore the file") from exc


def _head(files: RunFiles, state: dict[str, torch.Tensor]) -> tuple[nn.Module, Probabilities]:
    """The trained head and the logits -> probabilities map of model.json, in eval mode."""
    info, head_info = files.model, files.model.head
    try:
        head = create_head(
            head_info.name,
            head_info.in_features,
            head_info.n_outputs,
            hidden=head_info.hidden,
            dropout=head_info.dropout,
        )
    except (TypeError, ValueError, OptionError) as exc:
        raise LabelFileError(files.file(rundir.MODEL), f"key 'head' is malformed ({exc})", fix="retrain") from exc
    _load_part(head, state, "head.", files.file(rundir.WEIGHTS))
    labelsets = torch.tensor(info.labelsets, dtype=torch.float32) if info.labelsets is not None else None
    return head.eval(), Probabilities(info.output, labelsets).eval()


def _load_part(module: nn.Module, state: dict[str, torch.Tensor], prefix: str, source) -> None:
    part = {key.removeprefix(prefix): value for key, value in state.items() if key.startswith(prefix)}
    try:
        module.load_state_dict(part, strict=True)
    except RuntimeError as exc:
        raise LabelFileError(
            source,
            f"the {prefix.rstrip('.')} tensors do not fit the model in model.json ({str(exc)[:300]})",
            fix="model.json and model.safetensors must come from the same run",
        ) from exc


def _digest(state: dict[str, torch.Tensor]) -> str:
    from tailtag.models.weights import tensors_sha256

    return tensors_sha256({k: v for k, v in state.items() if k.startswith("backbone.")})[:16]

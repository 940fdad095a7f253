"""The model side of `finetune` mode: partial freezing, frozen BatchNorm, and the GPU options.

Freezing (`finetune_blocks` = N): the stem and all but the last N blocks keep their (pretrained) weights
and their BatchNorm layers stay in eval mode, so their running statistics keep describing the pretraining
data rather than drifting with small, augmented batches; the layers after the last block and the head
always train. This is the "gradual unfreezing" family of transfer learning (Howard & Ruder, "Universal
Language Model Fine-tuning for Text Classification", ACL 2018, arXiv:1801.06146; Yosinski et al., "How
transferable are features in deep neural networks?", NeurIPS 2014, arXiv:1411.1792: early layers are
general, late ones task specific). What a block is:
  - timm models with a `blocks` sequence (EfficientNet, MobileNet, ViT): its entries (EfficientNet stages);
  - other timm models: the coarse parameter groups of timm's own `group_matcher` (ResNet layers, ConvNeXt
    stages), i.e. the grouping timm uses for layer-wise learning-rate decay;
  - anything else: the top-level child modules, in registration order.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from tailtag.models import TagModel


@dataclass(frozen=True)
class FreezePlan:
    """Which backbone parameters `finetune_blocks` freezes.

    Attributes:
        frozen: names (as in `backbone.named_parameters()`) of the parameters that do not train.
        n_blocks: number of blocks the backbone has under `grouping`.
        n_trainable_blocks: how many of them train (the last ones).
        grouping: "blocks", "timm groups" or "top-level modules" (see the module docstring).
    """

    frozen: tuple[str, ...]
    n_blocks: int
    n_trainable_blocks: int
    grouping: str

    def describe(self, n_total: int) -> str:
        """One log line, e.g. 'training the last 2 of 7 blocks; 9 of 77 backbone tensors frozen'."""
        if not self.frozen:
            return "training the whole backbone"
        if self.n_trainable_blocks == 0:
            return "backbone frozen (its BatchNorm in eval mode); training the head only"
        return (
            f"training the last {self.n_trainable_blocks} of {self.n_blocks} {self.grouping} and what follows them; "
            f"the stem and {self.n_blocks - self.n_trainable_blocks} earlier {self.grouping} are frozen "
            f"({len(self.frozen)} of {n_total} parameter tensors), their BatchNorm in eval mode"
        )


def _units(backbone: nn.Module) -> tuple[list[str], list[list[str]], str]:
    """(stem parameter names, one name list per block in forward order, grouping) of a backbone."""
    names = [name for name, _ in backbone.named_parameters()]
    blocks = getattr(backbone, "blocks", None)
    if isinstance(blocks, nn.Sequential | nn.ModuleList) and len(blocks) > 0:
        units = [[n for n in names if n.startswith(f"blocks.{i}.")] for i in range(len(blocks))]
        in_blocks = {n for unit in units for n in unit}
        first = next((names.index(unit[0]) for unit in units if unit), len(names))
        stem = [n for n in names[:first] if n not in in_blocks]
        return stem, units, "blocks"
    matcher = getattr(backbone, "group_matcher", None)
    if callable(matcher):
        from timm.models import group_parameters

        try:
            groups = group_parameters(backbone, matcher(coarse=True))
        except (NotImplementedError, TypeError, AttributeError):
            groups = {}
        ordered = [groups[key] for key in sorted(groups)]
        if len(ordered) >= 2:
            return list(ordered[0]), [list(group) for group in ordered[1:]], "timm groups"
    own = [name for name, _ in backbone.named_parameters(recurse=False)]
    units = [[f"{child}.{n}" for n, _ in module.named_parameters()] for child, module in backbone.named_children()]
    return own, [unit for unit in units if unit], "top-level modules"


def freeze_plan(backbone: nn.Module, n_blocks: int) -> FreezePlan:
    """Which parameters to freeze so that only the last `n_blocks` blocks (and what follows) train.

    Args:
        backbone: the timm feature extractor.
        n_blocks: -1 trains everything, 0 freezes the whole backbone, N > 0 freezes the stem and all
            but the last N blocks. More blocks than the backbone has trains every block (warned).
    """
    names = [name for name, _ in backbone.named_parameters()]
    if n_blocks < 0:
        return FreezePlan((), 0, 0, "blocks")
    if n_blocks == 0:
        return FreezePlan(tuple(names), 0, 0, "blocks")
    stem, units, grouping = _units(backbone)
    if n_blocks > len(units):
        warnings.warn(
            f"finetune_blocks={n_blocks} but {type(backbone).__name__} has {len(units)} {grouping}: all of them "
            f"train and only the stem stays frozen; use finetune_blocks=-1 to train the stem as well",
            stacklevel=2,
        )
    frozen = set(stem).union(*units[: max(0, len(units) - n_blocks)])
    return FreezePlan(tuple(n for n in names if n in frozen), len(units), min(n_blocks, len(units)), grouping)


class FinetuneModel(TagModel):
    """`TagModel` (images (B, 3, H, W) -> logits (B, K)) that keeps frozen BatchNorm layers in eval mode.

    `train()` would otherwise switch them back to batch statistics every epoch. Its state dict is
    TagModel's ("backbone.*", "head.*"). With `compiled`, the forward runs through one shared
    `torch.compile`d function of (model, images). `nn.Module.compile()` would not do: it stores a compiled
    bound method of this instance, which a deep copy (the EMA model) would keep calling, validating the
    live weights instead of the averaged ones; `torch.compile(model)` would prefix every state-dict key.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__(backbone, head)
        self.frozen_norms: tuple[str, ...] = ()
        self.compiled: bool | str | Callable = False  # True / a torch.compile backend: run the compiled forward

    def freeze(self, plan: FreezePlan) -> None:
        """Stop gradients of `plan.frozen` and pin the BatchNorm layers whose parameters are all frozen."""
        frozen = set(plan.frozen)
        for name, parameter in self.backbone.named_parameters():
            parameter.requires_grad_(name not in frozen)
        self.frozen_norms = tuple(
            f"backbone.{name}"
            for name, module in self.backbone.named_modules()
            if isinstance(module, _BatchNorm)
            and any(True for _ in module.parameters())
            and all(f"{name}.{p}" in frozen for p, _ in module.named_parameters())
        )
        self.train(self.training)

    def train(self, mode: bool = True) -> FinetuneModel:
        super().train(mode)
        for name in self.frozen_norms:
            self.get_submodule(name).train(False)
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.compiled:
            return _compiled_forward("inductor" if self.compiled is True else self.compiled)(self, images)
        return super().forward(images)


def _tag_forward(model: TagModel, images: torch.Tensor) -> torch.Tensor:
    return model.head(model.backbone(images))


@functools.cache
def _compiled_forward(backend: str | Callable = "inductor") -> Callable[[TagModel, torch.Tensor], torch.Tensor]:
    # dynamic=False: a new batch size compiles a new static graph instead of a slower dynamic one; the
    # feed keeps shapes static (`tailtag.train.compile_static`), so there is one graph per train/eval mode.
    return torch.compile(_tag_forward, backend=backend, dynamic=False)


@dataclass(frozen=True)
class Precision:
    """How the forward pass runs: `autocast()` context factory, optional float16 `scaler`, a name for logs."""

    autocast: Callable[[], AbstractContextManager]
    scaler: torch.amp.GradScaler | None
    name: str


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bfloat16 natively here (AVX512-BF16 or AMX), the case where CPU autocast pays."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def mixed_precision(amp: bool, device: torch.device, *, cpu_amp: bool = False) -> Precision:
    """bfloat16 autocast where the GPU supports it, else float16 with a GradScaler; float32 without `amp`.

    On CPU, bfloat16 autocast only with `cpu_amp` and a CPU with native bf16 (`cpu_has_native_bf16`): there
    oneDNN's bf16 convolutions train EfficientNet-Lite0 faster than float32 (benchmarks/bench_finetune.py
    --cpu-amp). bfloat16 has float32's exponent range, so its gradients need no loss scaling (Micikevicius et
    al., "Mixed Precision Training", ICLR 2018, arXiv:1710.03740, for the float16 case).
    """
    if device.type == "cpu" and cpu_amp and cpu_has_native_bf16():
        return Precision(functools.partial(torch.autocast, "cpu", dtype=torch.bfloat16), None, "bfloat16 autocast")
    if not amp or device.type != "cuda":
        return Precision(nullcontext, None, "float32")
    if torch.cuda.is_bf16_supported():
        return Precision(functools.partial(torch.autocast, "cuda", dtype=torch.bfloat16), None, "bfloat16 autocast")
    autocast = functools.partial(torch.autocast, "cuda", dtype=torch.float16)
    return Precision(autocast, torch.amp.GradScaler("cuda"), "float16 autocast + loss scaling")


def prepare_for_device(
    model: FinetuneModel, device: torch.device, *, channels_last: bool, compile_: bool, sync_bn: bool
) -> None:
    """Move `model` to `device` and apply the GPU options, each only on CUDA (see `gpu_notes`)."""
    cuda = device.type == "cuda"
    if sync_bn and cuda:
        from timm.layers import convert_sync_batchnorm

        convert_sync_batchnorm(model)  # timm's version keeps BatchNormAct's activation; replaces children in place
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    model.compiled = bool(compile_ and cuda)


def gpu_notes(
    *, amp: bool, compile_: bool, sync_bn: bool, device: torch.device, world_size: int, cpu_amp: bool = False
) -> list[str]:
    """One line per group of device options that this run ignores, and why (empty when all apply)."""
    notes = []
    if cpu_amp and device.type == "cpu" and not cpu_has_native_bf16():
        notes.append("cpu_amp needs a CPU with native bfloat16 (AVX512-BF16 or AMX); running in float32")
    # with cpu_amp the CPU run has its own mixed precision: saying that `amp` is ignored would only confuse
    asked = [key for key, value in (("amp", amp and not cpu_amp), ("compile", compile_)) if value]
    if asked and device.type != "cuda":
        verb = "acts" if len(asked) == 1 else "act"
        notes.append(f"{', '.join(asked)} only {verb} on CUDA; ignored on this {device.type} run")
    if sync_bn and (device.type != "cuda" or world_size < 2):
        notes.append("sync_bn only acts under torchrun with several CUDA processes; ignored")
    return notes

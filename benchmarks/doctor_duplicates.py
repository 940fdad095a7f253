"""Cosine similarity of tailtag doctor's near-duplicate features for real copies vs different images (MIML).

For MIML 1.jpg .. N.jpg: the image vs its JPEG re-encode (quality 50), vs a copy resized to half its side,
vs its horizontal mirror, and every pair of the N different originals. Features: `tailtag train`'s default
backbone (tf_efficientnet_lite0, ImageNet, centre view), pooled, through the feature cache. Prints min / median /
max per kind: the numbers behind `tailtag.doctor.duplicates.DEFAULT_THRESHOLD`.

Usage: python benchmarks/doctor_duplicates.py [--n 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
MIML = Path("/work/shared/data/miml/images")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--images", type=Path, default=MIML)
    args = parser.parse_args()
    if not (args.images / "1.jpg").is_file():
        print(f"skipped: no MIML images in {args.images}")
        return 0
    from tailtag.config import make_config
    from tailtag.doctor.run import pooled_features
    from tailtag.labels.table import from_label_lists

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(1, args.n + 1):
            image = Image.open(args.images / f"{i}.jpg").convert("RGB")
            original = Path(tmp, f"{i}.png")
            image.save(original)
            image.save(Path(tmp, f"{i}_q50.jpg"), quality=50)
            image.resize((image.width // 2, image.height // 2)).save(Path(tmp, f"{i}_half.png"))
            ImageOps.mirror(image).save(Path(tmp, f"{i}_flip.png"))
            paths += [f"{i}.png", f"{i}_q50.jpg", f"{i}_half.png", f"{i}_flip.png"]
        table = from_label_lists(paths, [[] for _ in paths], names=["x"], image_root=Path(tmp))
        features = pooled_features(table, make_config({"num_workers": 0}), progress=False)[0]
    x = features / np.linalg.norm(features, axis=1, keepdims=True)
    x = x.reshape(args.n, 4, -1)
    kinds = {"jpeg q50": 1, "half size": 2, "mirror": 3}
    for name, k in kinds.items():
        sims = np.einsum("nd,nd->n", x[:, 0], x[:, k])
        print(f"{name:>10}: min {sims.min():.3f}  median {np.median(sims):.3f}  max {sims.max():.3f}")
    originals = x[:, 0] @ x[:, 0].T
    others = originals[np.triu_indices(args.n, 1)]
    print(f"{'different':>10}: min {others.min():.3f}  median {np.median(others):.3f}  max {others.max():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

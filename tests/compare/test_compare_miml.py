"""`tailtag compare` on real MIML images (a small split of them, 64 px): skipped when the data is absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tailtag.compare import compare, parse_compare_config

MIML = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "miml"

pytestmark = pytest.mark.dataset


@pytest.fixture
def miml_split(tmp_path) -> Path:
    """A split folder of 150 / 60 / 60 MIML images, drawn across the class-ordered file blocks."""
    if not (MIML / "labels.csv").is_file():
        pytest.skip(f"MIML not found at {MIML} (see ../shared/data/README.md)")
    names = [f"{k}.jpg" for k in np.random.default_rng(0).permutation(np.arange(1, 2001))[:270]]
    folder = tmp_path / "split"
    folder.mkdir()
    for subset, part in (("train", names[:150]), ("val", names[150:210]), ("test", names[210:])):
        (folder / f"{subset}.txt").write_text("\n".join(part) + "\n", encoding="utf-8")
    return folder


def test_small_grid_on_miml(miml_split, tmp_path):
    raw = {
        "data": {"labels": str(MIML / "labels.csv"), "images": str(MIML / "images"), "split": str(miml_split)},
        "train": {"image_size": 64, "num_workers": 0, "epochs": 4, "warmup_epochs": 0, "cache_dir": str(tmp_path)},
        "losses": ["bce", "asl"],
        "thresholds": ["fixed", {"strategy": "per_class_f1", "calibration": "temperature"}],
        "seeds": [0, 1],
    }
    with pytest.warns(
        UserWarning, match="1730 of 2000 images .* are in none of the split files"
    ):  # 1,730 MIML images are left out of this split
        result = compare(parse_compare_config(raw), tmp_path / "out", jobs=1, quiet=True)
    assert result["trained"] == 4 and len(result["rows"]) == 4
    best = result["rows"][0]
    # real ImageNet features separate MIML's scenes well above chance even at 64 px and 150 training images
    assert best.mean["mAP"] > 0.6 and best.mean["macro_f1"] > 0.4
    assert best.mean["tail_mAP"] is None  # >= 20 training positives per label: no tail bucket

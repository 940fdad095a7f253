"""Every format built from MIML reads back to the same images and label sets (needs ../shared/data)."""

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from tailtag.labels.options import ReadOptions
from tailtag.labels.readers import detect_format, read_labels

MIML = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "miml"
NAMES = ["desert", "mountains", "sea", "sunset", "trees"]
COUNTS = {"desert": 409, "mountains": 458, "sea": 580, "sunset": 465, "trees": 560}

pytestmark = [
    pytest.mark.dataset,
    pytest.mark.skipif(not (MIML / "labels.csv").is_file(), reason="MIML data set not found under ../shared/data"),
]


def label_sets(table) -> dict[str, frozenset[str]]:
    return {path: frozenset(table.labels_of(i)) for i, path in enumerate(table.paths)}


@pytest.fixture(scope="module")
def reference():
    table = read_labels(MIML / "labels.csv")
    assert table.names == NAMES
    return table


def test_onehot_csv_has_the_published_counts(reference):
    assert reference.n_images == 2000
    assert dict(zip(reference.names, reference.label_counts().tolist(), strict=True)) == COUNTS
    assert detect_format(MIML / "labels.csv") == "onehot"
    assert reference.image_root == MIML
    assert reference.notes == []


def test_tags_csv_matches(reference):
    assert detect_format(MIML / "labels_tags.csv") == "tags"
    table = read_labels(MIML / "labels_tags.csv")
    assert table.names == NAMES
    assert label_sets(table) == label_sets(reference)


def test_paddle_list_matches(reference, tmp_path):
    dense = reference.dense()
    lines = [f"{p}\t{','.join(map(str, row))}" for p, row in zip(reference.paths, dense, strict=True)]
    (tmp_path / "train_list.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "classes.txt").write_text("\n".join(NAMES) + "\n")
    assert detect_format(tmp_path / "train_list.txt") == "paddle"
    table = read_labels(tmp_path / "train_list.txt", ReadOptions(classes=tmp_path / "classes.txt"))
    assert table.names == NAMES
    assert label_sets(table) == label_sets(reference)


def test_mat_in_the_miml_layout_matches(reference, tmp_path):
    order = np.argsort([int(p.split(".")[0]) for p in reference.paths])
    assert reference.paths[order].tolist() == [f"{i}.jpg" for i in range(1, 2001)]
    targets = np.where(reference.dense()[order].T == 1, 1.0, -1.0)  # (5, 2000) of 1/-1, as in "miml data.mat"
    class_name = np.empty((5, 1), dtype=object)
    for j, name in enumerate(NAMES):
        class_name[j, 0] = name
    scipy.io.savemat(tmp_path / "miml data.mat", {"targets": targets, "class_name": class_name})
    table = read_labels(tmp_path / "miml data.mat")
    assert table.names == NAMES
    assert label_sets(table) == label_sets(reference)


@pytest.mark.parametrize("sparse", [False, True])
def test_npz_with_tag_list_and_paths_csv_matches(reference, tmp_path, sparse):
    if sparse:
        sp.save_npz(tmp_path / "labels.npz", reference.matrix)
    else:
        np.savez_compressed(tmp_path / "labels.npz", y=reference.dense())
    (tmp_path / "tags.txt").write_text("\n".join(NAMES) + "\n")
    (tmp_path / "images.csv").write_text("image_name\n" + "\n".join(reference.paths) + "\n")
    table = read_labels(tmp_path / "labels.npz")  # both sidecars found by their sizes
    assert table.names == NAMES
    assert label_sets(table) == label_sets(reference)
    explicit = read_labels(
        tmp_path / "labels.npz", ReadOptions(classes=tmp_path / "tags.txt", paths_file=tmp_path / "images.csv")
    )
    assert label_sets(explicit) == label_sets(reference)

"""Golden tests for the non-CSV readers: PaddleClas lists, .mat, .npz, COCO, VOC and class folders."""

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from tailtag.labels.options import ReadOptions
from tailtag.labels.readers import detect_format, read_labels


def as_sets(table) -> list[tuple[str, list[str]]]:
    return [(p, sorted(table.labels_of(i))) for i, p in enumerate(table.paths)]


# ------------------------------------------------------------------------------------------ paddle
def test_paddle_list_with_and_without_classes(tmp_path):
    path = tmp_path / "train_list.txt"
    path.write_text("imgs/a b.jpg\t1,0,1\nimgs/c.jpg 0,0,0\n\nimgs/d.jpg  0,1,0\n")
    (tmp_path / "labels.txt").write_text("cat\ndog\n\nbird\n")
    assert detect_format(path) == "paddle"
    table = read_labels(path, ReadOptions(classes=tmp_path / "labels.txt"))
    assert as_sets(table) == [("imgs/a b.jpg", ["bird", "cat"]), ("imgs/c.jpg", []), ("imgs/d.jpg", ["dog"])]
    assert table.names == ["cat", "dog", "bird"]  # file order, not sorted
    unnamed = read_labels(path)
    assert unnamed.names == ["label_0", "label_1", "label_2"]
    assert "label_0 .. label_2" in unnamed.notes[0]


# ------------------------------------------------------------------------------------------ mat
def _cell(names: list[str]) -> np.ndarray:
    cell = np.empty((len(names), 1), dtype=object)
    for j, name in enumerate(names):
        cell[j, 0] = name
    return cell


def test_mat_miml_layout_with_zeros_and_image_ext(tmp_path):
    targets = np.array([[1, -1, 0], [-1, 1, 1]], dtype=float)  # (labels, images)
    scipy.io.savemat(tmp_path / "data.mat", {"targets": targets, "class_name": _cell(["sea", "sky"]), "bags": 1})
    table = read_labels(tmp_path / "data.mat", ReadOptions(image_ext="png"))
    assert table.names == ["sea", "sky"]
    assert as_sets(table) == [("1.png", ["sea"]), ("2.png", ["sky"]), ("3.png", ["sky"])]


def test_mat_transposed_targets_and_char_matrix_names(tmp_path):
    targets = np.array([[1, -1], [-1, -1], [1, 1]])  # (images, labels): read transposed, with a note
    scipy.io.savemat(tmp_path / "t.mat", {"targets": targets, "class_name": np.array(["ab", "c "])})
    table = read_labels(tmp_path / "t.mat")
    assert table.names == ["ab", "c"]
    assert as_sets(table) == [("1.jpg", ["ab"]), ("2.jpg", []), ("3.jpg", ["ab", "c"])]
    assert any("transposed" in note for note in table.notes)


# ------------------------------------------------------------------------------------------ npz
def test_npz_picks_key_and_siblings(tmp_path):
    y = np.array([[1, 0], [0, 0], [1, 1]], dtype=np.int64)
    np.savez(tmp_path / "y.npz", labels=y, extra=np.arange(3))
    (tmp_path / "vocab.txt").write_text("x\ny\n")
    (tmp_path / "images.txt").write_text("a.jpg\nb.jpg\nc.jpg\n")
    table = read_labels(tmp_path / "y.npz")
    assert as_sets(table) == [("a.jpg", ["x"]), ("b.jpg", []), ("c.jpg", ["x", "y"])]
    assert any("vocab.txt" in note for note in table.notes) and any("images.txt" in note for note in table.notes)


def test_npz_float_bool_and_sparse_matrices(tmp_path):
    (tmp_path / "names.txt").write_text("x\ny\n")
    (tmp_path / "paths.csv").write_text("id,fold\na.jpg,1\nb.jpg,2\n")
    options = ReadOptions(classes=tmp_path / "names.txt", paths_file=tmp_path / "paths.csv", group_column="fold")
    for y in (np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[True, False], [False, True]])):
        np.savez(tmp_path / "m.npz", y)
        table = read_labels(tmp_path / "m.npz", options)
        assert as_sets(table) == [("a.jpg", ["x"]), ("b.jpg", ["y"])]
        assert table.meta["fold"].tolist() == ["1", "2"]
    sp.save_npz(tmp_path / "s.npz", sp.csr_matrix(np.array([[0, 1], [1, 1]])))
    assert as_sets(read_labels(tmp_path / "s.npz", options)) == [("a.jpg", ["y"]), ("b.jpg", ["x", "y"])]


def test_npz_dense_is_converted_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr("tailtag.labels.npz._CHUNK_CELLS", 10)  # 5 rows of 2 per chunk
    rng = np.random.default_rng(1)
    y = (rng.random((23, 2)) < 0.5).astype(np.uint8)
    np.savez(tmp_path / "m.npz", y=y)
    (tmp_path / "p.txt").write_text("".join(f"{i}.jpg\n" for i in range(23)))
    table = read_labels(tmp_path / "m.npz", ReadOptions(paths_file=tmp_path / "p.txt"))
    np.testing.assert_array_equal(table.dense(), y)
    assert table.names == ["label_0", "label_1"]


# ------------------------------------------------------------------------------------------ coco
def _coco(path: Path, annotations: list[dict], images=None) -> Path:
    document = {
        "images": images
        or [{"id": 10, "file_name": "a.jpg"}, {"id": 11, "file_name": "b.jpg"}, {"id": 12, "file_name": "c.jpg"}],
        "categories": [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
        "annotations": annotations,
    }
    path.write_text(json.dumps(document))
    return path


def test_coco_image_level_labels_and_image_without_annotations(tmp_path):
    annotations = [
        {"id": 1, "image_id": 10, "category_id": 18},
        {"id": 2, "image_id": 10, "category_id": 18},  # a second dog box: still one label
        {"id": 3, "image_id": 12, "category_id": 1, "iscrowd": 1},
        {"id": 4, "image_id": 12, "category_id": 3},
    ]
    path = _coco(tmp_path / "instances_val.json", annotations)
    assert detect_format(path) == "coco"
    table = read_labels(path)
    assert table.names == ["person", "car", "dog"]  # by category id
    assert as_sets(table) == [("a.jpg", ["dog"]), ("b.jpg", []), ("c.jpg", ["car", "person"])]


# ------------------------------------------------------------------------------------------ voc
def _voc(root: Path) -> Path:
    main = root / "ImageSets" / "Main"
    main.mkdir(parents=True)
    (main / "cat_trainval.txt").write_text("000005 -1\n000007  1\n000009  0\n")
    (main / "dog_trainval.txt").write_text("000005  0\r\n000007 -1\r\n000009  1\r\n")
    (main / "cat_test.txt").write_text("000001  1\n")
    (main / "dog_test.txt").write_text("000001 -1\n")
    (main / "trainval.txt").write_text("000005\n000007\n000009\n")  # id list without labels: not a class
    return main


@pytest.mark.parametrize(
    "policy, expected",
    [
        (
            "negative",
            [("JPEGImages/000005.jpg", []), ("JPEGImages/000007.jpg", ["cat"]), ("JPEGImages/000009.jpg", ["dog"])],
        ),
        (
            "positive",
            [
                ("JPEGImages/000005.jpg", ["dog"]),
                ("JPEGImages/000007.jpg", ["cat"]),
                ("JPEGImages/000009.jpg", ["cat", "dog"]),
            ],
        ),
    ],
)
def test_voc_difficult_policy(tmp_path, policy, expected):
    main = _voc(tmp_path / "VOC2007")
    for given in (tmp_path / "VOC2007", main, main / "cat_trainval.txt"):
        table = read_labels(given, ReadOptions(voc_difficult=policy))
        assert table.names == ["cat", "dog"]
        assert as_sets(table) == expected
        assert table.image_root == tmp_path / "VOC2007"
        assert f"2 difficult (0) entries in 2 classes mapped to {policy}" in table.notes[0]


def test_voc_split_from_option_or_file_name(tmp_path):
    main = _voc(tmp_path / "VOC2007")
    assert detect_format(tmp_path / "VOC2007") == "voc" and detect_format(main) == "voc"
    assert detect_format(main / "dog_test.txt") == "voc"
    for table in (read_labels(main, ReadOptions(voc_split="test")), read_labels(main / "dog_test.txt")):
        assert as_sets(table) == [("JPEGImages/000001.jpg", ["cat"])]


# ------------------------------------------------------------------------------------------ folders
def test_class_folders_recursive_with_notes(tmp_path):
    for rel in ("cat/1.jpg", "cat/sub/2.PNG", "dog/3.jpeg", "dog/readme.md", "dog/.hidden.jpg", "stray.jpg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    assert detect_format(tmp_path) == "folders"
    table = read_labels(tmp_path)
    assert table.task == "multiclass"
    assert table.names == ["cat", "dog", "empty"]
    assert as_sets(table) == [("cat/1.jpg", ["cat"]), ("cat/sub/2.PNG", ["cat"]), ("dog/3.jpeg", ["dog"])]
    assert table.image_root == tmp_path
    notes = " | ".join(table.notes)
    assert "1 non-image file(s) skipped: dog/readme.md" in notes
    assert "stray.jpg" in notes and table.label_counts().tolist() == [2, 1, 0]


# ------------------------------------------------------------------ a label repeated on one image
def test_coco_boxes_of_one_category_count_once(tmp_path):
    annotations = [{"id": k, "image_id": 10, "category_id": 18} for k in range(3)]  # three dogs on a.jpg
    annotations.append({"id": 9, "image_id": 11, "category_id": 18})
    table = read_labels(_coco(tmp_path / "c.json", annotations))
    assert table.label_counts().tolist() == [0, 0, 2]  # person, car, dog: images, not boxes
    assert table.labels_per_image().tolist() == [1, 1, 0] and set(table.matrix.data.tolist()) == {1}


def test_voc_image_listed_twice_in_a_class_file_is_an_error(tmp_path):
    from tailtag.errors import LabelFileError

    main = _voc(tmp_path / "VOC2007")
    (main / "cat_trainval.txt").write_text("000005 -1\n000007  1\n000009  0\n000007  1\n")
    with pytest.raises(LabelFileError, match=r"cat_trainval\.txt:4: image '000007' is listed again \(first at line 2"):
        read_labels(tmp_path / "VOC2007")

"""Image paths in label files: NUL bytes refused, paths confined to the image folder unless allowed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tailtag.cli import main
from tailtag.errors import LabelFileError
from tailtag.labels.image_paths import path_problem
from tailtag.labels.options import ReadOptions
from tailtag.labels.readers import read_labels


@pytest.mark.parametrize(
    "path, inside",
    [
        ("a.jpg", True),
        ("./sea/a.jpg", True),
        ("sea/../b.jpg", True),
        ("a..b.jpg", True),  # two dots in a name are not a parent folder
        ("..", False),
        ("../a.jpg", False),
        ("sea/../../a.jpg", False),
        ("/etc/passwd", False),
    ],
)
def test_relative_and_absolute_paths(path, inside, tmp_path):
    problem = path_problem(path, tmp_path)
    assert (problem is None) == inside, problem
    assert path_problem(path, tmp_path, allow_outside=True) is None


def test_absolute_paths_inside_the_root_as_given_or_through_its_links(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    assert path_problem(str(real / "a.jpg"), link) is None  # written with the resolved folder
    assert path_problem(str(link / "sub" / "a.jpg"), link) is None  # written with the folder as given
    assert path_problem(str(tmp_path / "realx" / "a.jpg"), real) is not None  # a prefix is not a parent
    assert path_problem(str(real / ".." / "a.jpg"), real) is not None


def test_a_nul_byte_is_refused_even_when_outside_paths_are_allowed(tmp_path):
    assert "NUL byte" in path_problem("x\0.jpg", tmp_path, allow_outside=True)


def _csv(tmp_path: Path, rows: str, name: str = "labels.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(b"path,a,b\n" + rows.encode("utf-8", "surrogateescape"))
    return path


def test_nul_byte_names_the_line(tmp_path):
    with pytest.raises(LabelFileError, match=r"labels\.csv:2: the image path 'x\\x00\.jpg' contains a NUL byte"):
        read_labels(_csv(tmp_path, "x\0.jpg,1,0\ny.jpg,0,1\n"))


def test_outside_paths_are_listed_with_their_lines_and_the_flag(tmp_path):
    path = _csv(tmp_path, "ok.jpg,1,0\n../../etc/passwd,1,0\n/etc/hostname,0,1\n")
    with pytest.raises(LabelFileError) as caught:
        read_labels(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: 2 problems:")
    assert "line 3: the image path '../../etc/passwd' climbs (with '..') out of the image folder" in message
    assert "line 4: the image path '/etc/hostname' is absolute and outside the image folder" in message
    assert "--allow-outside-images" in message and "--images DIR" in message
    table = read_labels(path, ReadOptions(allow_outside_images=True))
    assert table.paths.tolist() == ["ok.jpg", "../../etc/passwd", "/etc/hostname"]


def test_the_root_is_images_when_given(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    path = _csv(tmp_path, f"{images / 'a.jpg'},1,0\nb.jpg,0,1\n")
    table = read_labels(path, ReadOptions(images=images))  # absolute, but inside --images
    assert table.image_root == images and table.resolve("b.jpg") == images / "b.jpg"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(LabelFileError, match="is absolute and outside the image folder"):
        read_labels(path, ReadOptions(images=elsewhere))


def _coco(folder: Path, file_name: str) -> Path:
    document = {
        "images": [{"id": 1, "file_name": file_name}],
        "categories": [{"id": 1, "name": "dog"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1}],
    }
    (folder / "c.json").write_text(json.dumps(document))
    return folder / "c.json"


def _npz(folder: Path, path_line: str) -> Path:
    np.savez(folder / "m.npz", y=np.ones((1, 1)))
    (folder / "paths.txt").write_text(path_line + "\n")
    return folder / "m.npz"


@pytest.mark.parametrize(
    "make, where",
    [
        (lambda d: _coco(d, "../secret.jpg"), r"c\.json: images\[0\] \(id 1\): the image path '\.\./secret\.jpg'"),
        (lambda d: _npz(d, "../secret.jpg"), r"m\.npz: row 1 \(paths\.txt line 1\): the image path '\.\./secret"),
        (
            lambda d: (d / "list.txt").write_text("../secret.jpg 1,0\nb.jpg 0,1\n") and d / "list.txt",
            r"list\.txt:1: the image path '\.\./secret\.jpg'",
        ),
    ],
    ids=["coco", "npz", "paddle"],
)
def test_every_reader_confines_its_paths(tmp_path, make, where):
    with pytest.raises(LabelFileError, match=where):
        read_labels(make(tmp_path))


def test_cli_exit_2_naming_the_line(tmp_path, capsys):
    path = _csv(tmp_path, "x\0.jpg,1,0\ny.jpg,0,1\n", "nul.csv")
    assert main(["inspect", str(path), "--images", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "nul.csv:2: the image path 'x\\x00.jpg' contains a NUL byte" in err and "Traceback" not in err
    outside = _csv(tmp_path, f"{os.sep}etc{os.sep}hostname,1,0\ny.jpg,0,1\n", "out.csv")
    assert main(["inspect", str(outside)]) == 2
    assert "out.csv:2: the image path '/etc/hostname' is absolute" in capsys.readouterr().err
    assert main(["inspect", str(outside), "--allow-outside-images"]) == 0

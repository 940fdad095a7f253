"""Error-message table: every bad label file gets one `LabelFileError` naming where, what, and the fix."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from tailtag.errors import LabelFileError, OptionError
from tailtag.labels.options import ReadOptions
from tailtag.labels.readers import read_labels


def _savemat(**variables):
    return lambda path: scipy.io.savemat(path, variables)


def _savez(**arrays):
    return lambda path: np.savez(path, **arrays)


def _coco(images=None, annotations=(), categories=None):
    document = {
        "images": images if images is not None else [{"id": 1, "file_name": "a.jpg"}],
        "categories": categories if categories is not None else [{"id": 1, "name": "cat"}],
        "annotations": list(annotations),
    }
    return json.dumps(document)


MANY = "path,a,b\n" + "".join(f"x{i}.jpg,1,7\n" for i in range(25))
V73 = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ." + bytes(400)

# (id, files {name: text | bytes | writer(path)}, target, ReadOptions kwargs, pattern)
CASES = [
    (
        "ragged",
        {"l.csv": "path,a,b\nx.jpg,1,0\ny.jpg,1\nz.jpg,1,0,1\n"},
        "l.csv",
        {},
        r"l\.csv:3: 2 problems:\n    line 3: row has 2 cells but the header has 3\n    line 4: row has 4 cells",
    ),
    (
        "ragged-quoted",
        {"l.csv": 'path,a,b\n"x.jpg",1,0\ny.jpg,1\n'},
        "l.csv",
        {},
        r"l\.csv:3: row has 2 cells but the header has 3\n  fix: give every row one cell per header column",
    ),
    (
        "value-2",
        {"l.csv": "path,a,b\nx.jpg,0,2\n"},
        "l.csv",
        {},
        r"l\.csv:2: column 'b' has the value '2'; one-hot cells must be 0 or 1\n  fix: write every label cell",
    ),
    (
        "value-yes-quoted",
        {"l.csv": 'path,a,b\n"x.jpg",yes,0\n'},
        "l.csv",
        {},
        r"l\.csv:2: column 'a' has the value 'yes'",
    ),
    ("value-minus-1", {"l.csv": "path,a,b\nx.jpg,-1,1\n"}, "l.csv", {}, r"value '-1'.*\n  fix: map -1 \(absent\) to 0"),
    ("empty-cell", {"l.csv": "path,a,b\nx.jpg,,0\n"}, "l.csv", {}, r"l\.csv:2: column 'a' is empty\n  fix: fill"),
    (
        "nan-cell",
        {"l.tsv": "path\ta\tb\nx.jpg\t1\tNaN\n"},
        "l.tsv",
        {},
        r":2: column 'b' holds the missing value 'NaN'",
    ),
    (
        "conflicting-duplicates",
        {"l.csv": "path,a,b\nx.jpg,1,0\ny.jpg,0,1\nx.jpg,0,1\n"},
        "l.csv",
        {},
        r"image 'x\.jpg' appears at line 2 with labels \{a\} and again at line 4 with \{b\}",
    ),
    (
        "path-column-missing",
        {"l.csv": "path,a\nx.jpg,1\n"},
        "l.csv",
        {"path_column": "file"},
        r"no column 'file' \(given by --path-column\); the columns are: path, a",
    ),
    (
        "group-column-missing",
        {"l.csv": "path,a\nx.jpg,1\n"},
        "l.csv",
        {"group_column": "site"},
        r"no column 'site' \(given by --group-column\); the columns are: path, a\n  fix: pass one of",
    ),
    (
        "wrong-delimiter",
        {"l.csv": "path;a;b\nx.jpg;1;0\n"},
        "l.csv",
        {"delimiter": ","},
        r"l\.csv:1: with delimiter ',' the header is one column, but it looks ';'-separated \(3 columns\)\n"
        r"  fix: pass --delimiter ';'",
    ),
    ("single-column", {"l.csv": "path\nx.jpg\n"}, "l.csv", {}, r"the header 'path' is a single column"),
    ("empty-file", {"l.csv": ""}, "l.csv", {}, r"l\.csv: the file is empty"),
    ("blank-file", {"l.csv": " \n\n"}, "l.csv", {}, r"l\.csv: the file is empty"),
    ("header-only", {"l.csv": "path,a,b\n"}, "l.csv", {}, r"the file has a header \(3 columns\) but no data rows"),
    (
        "latin-1",
        {"l.csv": "path,a\ncaf\xe9.jpg,1\n".encode("latin-1")},
        "l.csv",
        {},
        r"l\.csv:2: the file is not UTF-8 text: byte 0xe9 at column 4 cannot be decoded\n  fix: re-save it as UTF-8",
    ),
    (
        "latin-1-in-header",
        {"l.csv": "path,caf\xe9\nx.jpg,1\n".encode("latin-1")},
        "l.csv",
        {},
        r"l\.csv:1: the file is not UTF-8 text",
    ),
    ("utf-16", {"l.csv": "path,a\nx.jpg,1\n".encode("utf-16")}, "l.csv", {}, r"the file is UTF-16 text"),
    (
        "all-problems-at-once",
        {"l.csv": MANY},
        "l.csv",
        {},
        r"l\.csv:2: 25 problems \(the first 10 are listed\):\n    line 2: .*\n(    line \d+: .*\n){9}  fix:",
    ),
    ("empty-path", {"l.csv": "path,a\n,1\n"}, "l.csv", {}, r"l\.csv:2: the image path \(column 'path'\) is empty"),
    (
        "duplicate-column",
        {"l.csv": "path,a,a\nx.jpg,1,0\n"},
        "l.csv",
        {},
        r"column name 'a' appears twice \(columns 2 and 3\)",
    ),
    ("trailing-delimiter", {"l.csv": "path,a,\nx.jpg,1,\n"}, "l.csv", {}, r"column 3 of the header has no name"),
    (
        "tags-unquoted",
        {"t.csv": "img_path,tags\nx.jpg,a,b\n"},
        "t.csv",
        {},
        r"t\.csv:2: row has 3 cells but the header has 2 \(quote a tags cell that contains the delimiter ','\)",
    ),
    (
        "tags-bad-list",
        {"t.csv": "img_path,tags\nx.jpg,\"['a']\"\ny.jpg,\"['a', 'b'\"\n"},
        "t.csv",
        {},
        r"t\.csv:3: \"\['a', 'b'\" is not a Python list of strings",
    ),
    (
        "tags-ambiguous",
        {"t.csv": "path,caption,notes\nx.jpg,a b,c\n"},
        "t.csv",
        {"format": "tags"},
        r"cannot tell which column holds the tags among 'caption', 'notes'\n  fix: pass --tags-column",
    ),
    (
        "paddle-width",
        {"p.txt": "a.jpg 0,1,0\nb.jpg 0,1\nc.jpg 0,2,1\n"},
        "p.txt",
        {},
        r"p\.txt:2: 2 problems:\n    line 2: 2 label values, but line 1 has 3\n    line 3: value 2 is '2'",
    ),
    (
        "paddle-classes-count",
        {"p.txt": "a.jpg 0,1,0\n", "c.txt": "x\ny\n"},
        "p.txt",
        {"classes": "c.txt"},
        r"c\.txt: lists 2 label names but the rows of .*p\.txt have 3 values",
    ),
    (
        "classes-repeated",
        {"p.txt": "a.jpg 0,1\n", "c.txt": "x\n\nx\n"},
        "p.txt",
        {"classes": "c.txt"},
        r"c\.txt:3: label name 'x' is listed twice \(lines 1 and 3\)",
    ),
    ("mat-v7.3", {"m.mat": V73}, "m.mat", {}, r"MATLAB v7\.3 \(HDF5\).*\n  fix: re-save it in MATLAB with .*'-v7'"),
    ("mat-not-mat", {"m.mat": b"hello world, not a mat file at all" * 4}, "m.mat", {}, r"scipy cannot read this \.mat"),
    (
        "mat-no-targets",
        {"m.mat": _savemat(labels=np.ones((2, 2)))},
        "m.mat",
        {},
        r"no 'targets' variable; the file holds: labels",
    ),
    (
        "mat-bad-value",
        {"m.mat": _savemat(targets=np.array([[1, 2]]), class_name=np.array(["a"]))},
        "m.mat",
        {},
        r"'targets' holds 1 value\(s\) other than 1, -1 and 0, the first 2 at \(1, 2\)",
    ),
    (
        "mat-shape",
        {"m.mat": _savemat(targets=np.ones((3, 4)), class_name=np.array(["a", "b"]))},
        "m.mat",
        {},
        r"'targets' is 3 x 4 but there are 2 class names",
    ),
    (
        "npz-several-arrays",
        {"m.npz": _savez(a=np.ones((2, 2)), b=np.ones((2, 3)))},
        "m.npz",
        {},
        r"several 2-D arrays to use as the label matrix; it holds a \(2, 2\), b \(2, 3\)\n  fix: pass --npz-key",
    ),
    (
        "npz-key-missing",
        {"m.npz": _savez(a=np.ones((2, 2)))},
        "m.npz",
        {"npz_key": "y"},
        r"no array 'y' \(given by --npz-key\)",
    ),
    (
        "npz-values",
        {"m.npz": _savez(y=np.array([[1, -1], [-1, -1]])), "p.txt": "a\nb\n"},
        "m.npz",
        {},
        r"array 'y' holds 3 value\(s\) other than 0 and 1, the first -1 at row 1, column 2",
    ),
    ("npz-nan", {"m.npz": _savez(y=np.array([[1.0, np.nan]])), "p.txt": "a\n"}, "m.npz", {}, r"the first nan at row 1"),
    (
        "npz-sparse-values",
        {"m.npz": lambda p: sp.save_npz(p, sp.csr_matrix(np.array([[0, 3]])))},
        "m.npz",
        {},
        r"holds 3 at row 1, column 2; labels must be 0/1",
    ),
    (
        "npz-no-paths",
        {"m.npz": _savez(y=np.ones((2, 2)))},
        "m.npz",
        {},
        r"no image list for the 2 matrix rows.*\n  fix: pass --paths",
    ),
    (
        "npz-paths-count",
        {"m.npz": _savez(y=np.ones((2, 2))), "p.txt": "a\nb\nc\nd\n"},
        "m.npz",
        {"paths_file": "p.txt"},
        r"p\.txt: lists 4 images but the matrix in m\.npz has 2 rows",
    ),
    (
        "npz-ambiguous",
        {"m.npz": _savez(y=np.ones((2, 2))), "tags.txt": "a\nb\n", "class_names.txt": "c\nd\n"},
        "m.npz",
        {},
        r"several sibling files could be the tag list: class_names\.txt, tags\.txt\n  fix: pass --classes",
    ),
    (
        "npz-unnamed-siblings",  # files of the right size are not picked unless their names say what they are
        {"m.npz": _savez(y=np.ones((2, 2))), "p.txt": "a\nb\n", "q.txt": "c\nd\n"},
        "m.npz",
        {},
        r"m\.npz: no image list for the 2 matrix rows: .*; p\.txt, q\.txt have the right size, but the name does "
        r"not say it is an image list: pass --paths to use one\n  fix: pass --paths",
    ),
    (
        "npz-unrelated-label-file",  # another label file of N + 1 lines beside it is not an image list
        {"m.npz": _savez(y=np.ones((2, 2))), "train.csv": "path,a,b\nx.jpg,1,zero\ny.jpg,0,1\n"},
        "m.npz",
        {},
        r"m\.npz: no image list .*train\.csv has the right size.*\n  fix: pass --paths",
    ),
    ("npz-not-zip", {"m.npz": b"PK\x03\x04 broken"}, "m.npz", {}, r"numpy cannot read this \.npz file"),
    (
        "coco-unknown-image",
        {"c.json": _coco(annotations=[{"id": 7, "image_id": 99, "category_id": 1}])},
        "c.json",
        {},
        r"annotations\[0\] points at image_id 99, which is not in 'images'",
    ),
    (
        "coco-unknown-category",
        {"c.json": _coco(annotations=[{"image_id": 1, "category_id": 5}])},
        "c.json",
        {},
        r"annotations\[0\] has category_id 5, which is not in 'categories'",
    ),
    (
        "coco-repeated-image-id",
        {"c.json": _coco(images=[{"id": 1, "file_name": "a"}, {"id": 1, "file_name": "b"}])},
        "c.json",
        {},
        r"images\[1\] repeats id 1 of images\[0\]",
    ),
    ("coco-bad-json", {"c.json": '{"images": [\n  {"id": 1,}\n]}'}, "c.json", {}, r"c\.json:2: not valid JSON"),
    (
        "coco-not-coco",
        {"c.json": '{"foo": 1}'},
        "c.json",
        {},
        r"not a COCO instances file: expected keys 'images' and ",
    ),
    (
        "voc-different-ids",
        {"Main/a_trainval.txt": "1 1\n2 -1\n", "Main/b_trainval.txt": "1 1\n3 -1\n"},
        "Main",
        {},
        r"b_trainval\.txt: lists other images than a_trainval\.txt: it lacks 1 id\(s\) listed there \(e\.g\. '2'\)",
    ),
    (
        "voc-bad-line",
        {"Main/a_trainval.txt": "1 1\n2 5\n"},
        "Main",
        {"format": "voc"},
        r"a_trainval\.txt:2: '2 5' is not `<image id> <1\|0\|-1>`",
    ),
    (
        "voc-no-split",
        {"Main/a_train.txt": "1 1\n"},
        "Main",
        {"voc_split": "trainval"},
        r"no '<class>_trainval\.txt' files; the splits found are train\n  fix: pass --voc-split",
    ),
    ("folders-no-classes", {"imgs/a.jpg": b"x"}, "imgs", {}, r"the folder has no sub-folders"),
    ("folders-no-images", {"imgs/cat/a.txt": b"x"}, "imgs", {}, r"no images in its 1 class folders"),
    ("folders-on-a-file", {"l.csv": "path,a\nx,1\n"}, "l.csv", {"format": "folders"}, r"needs a folder"),
    ("csv-format-on-a-folder", {"imgs/cat/a.jpg": b"x"}, "imgs", {"format": "onehot"}, r"needs a label file, but this"),
    ("missing-file", {}, "nope.csv", {}, r"nope\.csv: no such file or folder"),
]


def _build(folder: Path, files: dict) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        else:
            path.write_bytes(content.encode() if isinstance(content, str) else content)


@pytest.mark.parametrize("files, target, kwargs, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_message(tmp_path, files, target, kwargs, pattern):
    _build(tmp_path, files)
    kwargs = {k: tmp_path / v if k in ("classes", "paths_file") else v for k, v in kwargs.items()}
    with pytest.raises(LabelFileError, match=pattern) as caught:
        read_labels(tmp_path / target, ReadOptions(**kwargs))
    assert str(tmp_path) in str(caught.value)  # every message names the file
    assert "Traceback" not in str(caught.value)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"format": "xml"}, r"--format must be one of onehot, tags, .*; got 'xml'"),
        ({"delimiter": ",,"}, r"--delimiter must be one character"),
        ({"classes": Path("no/such/classes.txt")}, r"--classes no/such/classes\.txt: no such file"),
        ({"voc_difficult": "ignore"}, r"--voc-difficult must be 'negative' or 'positive'; got 'ignore'"),
        ({"group_column": "site"}, r"--group-column applies to CSV label files and NPZ image lists, not to voc"),
    ],
)
def test_option_errors_name_the_flag(tmp_path, kwargs, pattern):
    (tmp_path / "Main").mkdir()
    (tmp_path / "Main" / "a_trainval.txt").write_text("1 1\n")
    with pytest.raises(OptionError, match=pattern):
        read_labels(tmp_path / "Main", ReadOptions(**kwargs))


def test_fix_line_is_present_for_csv_errors(tmp_path):
    _build(tmp_path, {"l.csv": "path,a,b\nx.jpg,2,0\n"})
    with pytest.raises(LabelFileError) as caught:
        read_labels(tmp_path / "l.csv")
    assert caught.value.line == 2 and re.search(r"\n  fix: ", str(caught.value))

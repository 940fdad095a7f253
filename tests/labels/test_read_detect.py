"""Format detection, the registry, the parse-error boundary (fuzzed), and the no-torch import rule."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailtag.errors import LabelFileError, TailtagError
from tailtag.labels.options import LABEL_FORMATS, ReadOptions
from tailtag.labels.readers import READERS, detect_format, read_labels
from tailtag.labels.table import LabelTable


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_registry_covers_every_format():
    assert set(READERS) == set(LABEL_FORMATS)


@pytest.mark.parametrize(
    "name, content, options, expected",
    [
        ("a.csv", "path,a,b\nx,1,0\n", {}, "onehot"),
        ("a.txt", "path\ta\tb\nx\t1\t0\n", {}, "onehot"),
        ("a.csv", "path,a,b,fold\nx,1,0,f1\n", {"group_column": "fold"}, "onehot"),
        ("a.csv", "path,a,b,c\nx,1,yes,0\n", {}, "onehot"),  # mostly 0/1: a one-hot file with a bad cell
        ("a.csv", "path,a\nx,1\ny,0\n", {}, "onehot"),
        ("a.csv", "path,label\nx,3\ny,0\n", {}, "tags"),  # class indices in one column are tags
        ("a.csv", 'Filenames,labels\nx,"a,b"\n', {}, "tags"),
        ("a.csv", "path,w,h,tags\nx,3,4,a b\n", {}, "tags"),
        ("a.csv", "path,a,b\nx,1,0\n", {"tags_column": "b"}, "tags"),
        ("a.txt", "x.jpg\t0,1\ny.jpg 1,1\n", {}, "paddle"),
        ("a.lst", "dir with space/x.jpg 1\n", {}, "paddle"),
        ("dog_val.txt", "000005 -1\n000007  1\n", {}, "voc"),
        ("a.MAT", b"\0", {}, "mat"),
        ("a.npz", b"\0", {}, "npz"),
        ("a.json", b"{}", {}, "coco"),
    ],
)
def test_detects(tmp_path, name, content, options, expected):
    assert detect_format(write(tmp_path, name, content), ReadOptions(**options)) == expected


def test_explicit_format_overrides_detection(tmp_path):
    path = write(tmp_path, "l.txt", "path,a,b\nx.jpg,1,0\n")
    table = read_labels(path, ReadOptions(format="tags", tags_column="a"))
    assert table.names == ["1"] and table.labels_of(0) == ["1"]


def test_a_degenerate_but_legal_file_reads(tmp_path):
    table = read_labels(write(tmp_path, "l.csv", "path,a,b\nx.jpg,0,0\n"))
    assert table.n_images == 1 and table.matrix.nnz == 0 and table.label_counts().tolist() == [0, 0]


def test_parse_errors_from_libraries_become_label_file_errors(tmp_path, monkeypatch):
    def broken(path, options):
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    monkeypatch.setitem(READERS, "onehot", broken)
    with pytest.raises(LabelFileError, match=r"l\.csv: cannot be read as onehot: UnicodeDecodeError"):
        read_labels(write(tmp_path, "l.csv", "path,a\nx,1\n"), ReadOptions(format="onehot"))


def test_bugs_are_not_disguised_as_user_errors(tmp_path, monkeypatch):
    def buggy(path, options):
        raise KeyError("internal")

    monkeypatch.setitem(READERS, "onehot", buggy)
    with pytest.raises(KeyError):
        read_labels(write(tmp_path, "l.csv", "path,a\nx,1\n"), ReadOptions(format="onehot"))


# Starts of real formats, so that fuzzing gets past the first check of each reader.
PREFIXES = [
    b"",
    b"PK\x03\x04",
    b"\x93NUMPY\x01\x00",
    b"MATLAB 5.0 MAT-file, Platform: posix" + b" " * 80 + b"\x00\x01IM",
    b'{"images": [], "categories": [',
    b"path,a,b\n",
    b"x.jpg 0,1\n",
    b"\xef\xbb\xbf",
]
TEXTY = st.text(alphabet="path,;|\t\n\r \"'[]01.jpg-x\\{}:", max_size=120).map(str.encode)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".txt", ".mat", ".npz", ".json"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    prefix=st.sampled_from(PREFIXES),
    body=st.one_of(st.binary(max_size=200), TEXTY),
    fmt=st.sampled_from([None, *LABEL_FORMATS]),
)
def test_fuzz_any_bytes_give_a_table_or_a_tailtag_error(tmp_path, suffix, prefix, body, fmt):
    path = write(tmp_path, "labels" + suffix, prefix + body)
    try:
        table = read_labels(path, ReadOptions(format=fmt))
    except TailtagError:
        return
    assert isinstance(table, LabelTable)
    assert table.matrix.shape == (len(table.paths), len(table.names))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.sampled_from([0, 1, -1, 2, 0.5, np.nan]), min_size=1, max_size=12))
def test_fuzz_npz_values(tmp_path, values):
    np.savez(tmp_path / "m.npz", y=np.array(values, dtype=float).reshape(1, -1))
    (tmp_path / "p.txt").write_text("a.jpg\n")
    try:
        table = read_labels(tmp_path / "m.npz", ReadOptions(paths_file=tmp_path / "p.txt"))
    except LabelFileError as error:
        assert "other than 0 and 1" in str(error)
        assert not set(values) <= {0, 1}
    else:
        assert table.dense()[0].tolist() == values


def test_importing_the_readers_does_not_import_torch():
    code = "import sys, tailtag.labels.readers; assert 'torch' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)

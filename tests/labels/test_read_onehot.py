"""One-hot CSV/TSV reader: golden files, spellings, and the fast and general scanners agreeing."""

import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailtag.errors import LabelFileError
from tailtag.labels.options import ReadOptions
from tailtag.labels.readers import detect_format, read_labels


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def as_sets(table) -> list[tuple[str, list[str]]]:
    return [(p, table.labels_of(i)) for i, p in enumerate(table.paths)]


GOLDEN = "Filenames,desert,mountains,sea\n1.jpg,1,0,0\n2.jpg,0,1,1\n3.jpg,0,0,0\n"
EXPECTED = [("1.jpg", ["desert"]), ("2.jpg", ["mountains", "sea"]), ("3.jpg", [])]


def test_golden_keeps_the_negative_image(tmp_path):
    table = read_labels(write(tmp_path, "labels.csv", GOLDEN))
    assert table.names == ["desert", "mountains", "sea"]
    assert as_sets(table) == EXPECTED
    assert table.matrix.dtype == np.uint8 and table.matrix.format == "csr"
    assert table.task == "multilabel"
    assert table.source == str(tmp_path / "labels.csv")
    assert table.image_root == tmp_path
    assert table.notes == []  # unlabelled images are legal; `inspect` reports how many


@pytest.mark.parametrize(
    "content",
    [
        GOLDEN.replace(",", "\t"),
        GOLDEN.replace(",", ";"),
        GOLDEN.replace(",", "|"),
        GOLDEN.replace("\n", "\r\n"),
        "\ufeff" + GOLDEN,  # Excel's "CSV UTF-8" byte-order mark
        GOLDEN.replace("2.jpg,0,1,1", "2.jpg, 0 ,1.0, 1"),  # spaces and 1.0 go through the general scanner
        GOLDEN.replace("1.jpg", '"1.jpg"'),  # quotes go through Python's csv module
        "\n\n" + GOLDEN.replace("2.jpg", "\n2.jpg") + "\n\n",  # blank lines anywhere
        GOLDEN.rstrip("\n"),  # no final newline
    ],
    ids=["tab", "semicolon", "pipe", "crlf", "bom", "spaces-floats", "quoted", "blank-lines", "no-final-newline"],
)
def test_spellings_read_the_same(tmp_path, content):
    path = write(tmp_path, "labels.tsv" if "\t" in content else "labels.csv", content)
    assert detect_format(path) == "onehot"
    assert as_sets(read_labels(path)) == EXPECTED


def test_path_column_found_by_name_and_group_column_kept(tmp_path):
    content = "a,img_path,b,site\n1,x.jpg,0,s1\n0,y.jpg,1,s2\n1,z.jpg,1,s1\n"
    table = read_labels(write(tmp_path, "l.csv", content), ReadOptions(group_column="site"))
    assert table.names == ["a", "b"]
    assert as_sets(table) == [("x.jpg", ["a"]), ("y.jpg", ["b"]), ("z.jpg", ["a", "b"])]
    assert table.meta["site"].tolist() == ["s1", "s2", "s1"]


def test_group_column_first_and_path_column_option(tmp_path):
    content = "site,file,a\ns1,x.jpg,1\ns2,y.jpg,0\n"
    table = read_labels(write(tmp_path, "l.csv", content), ReadOptions(path_column="FILE", group_column="site"))
    assert as_sets(table) == [("x.jpg", ["a"]), ("y.jpg", [])]
    assert table.meta["site"].tolist() == ["s1", "s2"]


@pytest.mark.parametrize(
    "content, options",
    [
        ('a,b,path\n1,0,x.jpg\n0,1,"y,1.jpg"\n1,1,z.jpg\n', {}),
        ('grp,path,a,b\ng1,x.jpg,1,0\ng2,"y,1.jpg",0,1\ng1,z.jpg,1,1\n', {"group_column": "grp"}),
        ('a,path,b\n1,x.jpg,0\n0,"y,1.jpg",1\n1,z.jpg,1\n', {}),
    ],
    ids=["labels-first", "group-first", "path-in-the-middle"],
)
def test_column_layouts(tmp_path, content, options):
    table = read_labels(write(tmp_path, "l.csv", content), ReadOptions(**options))
    assert as_sets(table) == [("x.jpg", ["a"]), ("y,1.jpg", ["b"]), ("z.jpg", ["a", "b"])]


def test_first_column_is_the_path_when_no_name_matches(tmp_path):
    table = read_labels(write(tmp_path, "l.tsv", "IMAGE\\LABEL\tcat\tdog\nim1\t1\t0\n"))
    assert table.paths.tolist() == ["im1"] and table.names == ["cat", "dog"]


def test_identical_duplicate_rows_are_merged_with_a_note(tmp_path):
    content = GOLDEN + "1.jpg,1,0,0\n3.jpg,0,0,0\n"
    table = read_labels(write(tmp_path, "l.csv", content))
    assert as_sets(table) == EXPECTED
    assert len(table.notes) == 1
    assert "2 identical duplicate row(s)" in table.notes[0]
    assert "line 5 (same as line 2)" in table.notes[0] and "line 6 (same as line 4)" in table.notes[0]


def test_quoted_paths_with_delimiters_and_escaped_quotes(tmp_path):
    content = '"path","a","b"\n"x,1 ""new"".jpg",1,0\n"y.jpg",0,1\nz.jpg,"1",0\n'
    table = read_labels(write(tmp_path, "r.csv", content))  # R's write.csv quotes every string
    assert as_sets(table) == [('x,1 "new".jpg', ["a"]), ("y.jpg", ["b"]), ("z.jpg", ["a"])]


def test_quoted_cell_spanning_lines_keeps_line_numbers(tmp_path):
    content = 'path,a,b\n"two\nlines.jpg",1,0\ny.jpg,0,1\ny.jpg,1,1\n'
    with pytest.raises(LabelFileError, match=r"appears at line 4 with labels \{b\} and again at line 5"):
        read_labels(write(tmp_path, "l.csv", content))


def _spell(value: int, style: int) -> str:
    return [("0", "1"), ("0.0", "1.0"), (" 0", "1 ")][style][value]


@settings(max_examples=40, deadline=None)
@given(
    matrix=st.lists(st.lists(st.integers(0, 1), min_size=3, max_size=3), min_size=1, max_size=12),
    styles=st.lists(st.integers(0, 2), min_size=12, max_size=12),
    quoted=st.booleans(),
)
def test_fast_general_and_quoted_scanners_agree(tmp_path_factory, matrix, styles, quoted):
    folder = tmp_path_factory.mktemp("prop")
    rows = []
    for i, row in enumerate(matrix):
        name = f'"im {i}.jpg"' if quoted else f"im{i}.jpg"
        rows.append(",".join([name] + [_spell(v, styles[i]) for v in row]))
    table = read_labels(write(folder, "l.csv", "path,a,b,c\n" + "\n".join(rows) + "\n"))
    assert table.dense().tolist() == matrix
    assert table.paths.tolist() == [f"im {i}.jpg" if quoted else f"im{i}.jpg" for i in range(len(matrix))]


@pytest.mark.parametrize("chunk_bytes", [1 << 22, 3000])
def test_wide_file_row_order_across_chunks(tmp_path, monkeypatch, chunk_bytes):
    monkeypatch.setattr("tailtag.labels._onehot_scan.CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(0)
    dense = (rng.random((300, 700)) < 0.01).astype(np.uint8)
    lines = ["path," + ",".join(f"t{j}" for j in range(700))]
    for i, row in enumerate(dense):
        cells = [str(v) for v in row]
        if i % 37 == 0:
            cells[5] = "1.0" if row[5] else "0.0"  # some rows leave the fast scanner
        lines.append(f"img_{i}.jpg," + ",".join(cells))
    table = read_labels(write(tmp_path, "wide.csv", "\n".join(lines) + "\n"))
    assert table.paths.tolist() == [f"img_{i}.jpg" for i in range(300)]
    np.testing.assert_array_equal(table.dense(), dense)


def test_labels_without_positives_are_kept(tmp_path):
    table = read_labels(write(tmp_path, "l.csv", "path,a,b,c\nx.jpg,1,0,0\ny.jpg,1,0,0\n"))
    assert table.names == ["a", "b", "c"] and table.label_counts().tolist() == [2, 0, 0]


@pytest.mark.slow
def test_competition_size_file_reads_in_seconds(tmp_path):
    """35,000 images x 6,941 tags (486 MB): the size the fast scanner is built for."""
    n, width = 35_000, 6_941
    rng = np.random.default_rng(0)
    path = tmp_path / "train.csv"
    counts = np.zeros(width, dtype=np.int64)
    with open(path, "wb") as handle:
        handle.write(("path," + ",".join(f"tag{j}" for j in range(width)) + "\n").encode())
        for start in range(0, n, 1000):
            block = (rng.random((1000, width)) < 0.002).astype(np.uint8)
            counts += block.sum(axis=0, dtype=np.int64)
            cells = np.full((1000, 2 * width), ord(","), dtype=np.uint8)
            cells[:, 0::2] = block + ord("0")
            cells[:, -1] = ord("\n")
            handle.write(b"".join(f"{start + i}.jpg,".encode() + cells[i].tobytes() for i in range(1000)))
    began = time.perf_counter()
    table = read_labels(path)
    seconds = time.perf_counter() - began
    assert table.matrix.shape == (n, width)
    np.testing.assert_array_equal(table.label_counts(), counts)
    assert seconds < 10, f"reading took {seconds:.1f} s"

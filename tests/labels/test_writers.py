"""Label writers: every writable format reads back through `read_labels` into the same table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from tailtag.errors import OptionError
from tailtag.labels.options import ReadOptions
from tailtag.labels.readers import read_labels
from tailtag.labels.table import LabelTable
from tailtag.labels.writers import WRITABLE_FORMATS, output_format, write_labels

NAMES = ["desert", "mountains", "sea", "sunset", "trees"]


def _table(paths=None) -> LabelTable:
    rng = np.random.default_rng(0)
    matrix = (rng.random((7, 5)) < 0.35).astype(np.uint8)
    matrix[2] = 0  # an image without labels survives every format
    paths = paths or [f"{i}.jpg" for i in range(1, 8)]
    return LabelTable(paths=np.array(paths, dtype=object), names=NAMES, matrix=sp.csr_matrix(matrix))


def _options(fmt: str, written: list[Path]) -> ReadOptions:
    by_suffix = {p.name.split(".", 1)[1]: p for p in written}
    return ReadOptions(
        format=fmt,
        classes=by_suffix.get("classes.txt"),
        paths_file=by_suffix.get("paths.csv"),
    )


@pytest.mark.parametrize("fmt", WRITABLE_FORMATS)
def test_round_trip(tmp_path, fmt):
    table = _table()
    suffix = {"onehot": ".csv", "tags": ".csv", "paddle": ".txt", "npz": ".npz", "mat": ".mat"}[fmt]
    written = write_labels(table, tmp_path / f"fixed{suffix}", fmt)
    assert all(p.is_file() for p in written)
    back = read_labels(written[0], _options(fmt, written))
    assert list(back.paths) == list(table.paths)
    assert back.names == table.names or fmt == "tags"  # tags: names are the sorted union of the tags used
    dense = back.matrix.toarray()[:, [back.names.index(n) for n in table.names if n in back.names]]
    used = [n for n in table.names if n in back.names]
    assert (dense == table.matrix.toarray()[:, [table.names.index(n) for n in used]]).all()
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary left behind


def test_round_trip_is_detected_without_format(tmp_path):
    table = _table()
    for name, fmt in (("a.csv", "onehot"), ("b.csv", "tags"), ("c.mat", "mat")):
        written = write_labels(table, tmp_path / name, fmt)
        back = read_labels(written[0])
        assert (back.matrix.toarray()[:, [back.names.index(n) for n in NAMES if n in back.names]].sum()) == (
            table.matrix.sum()
        )


def test_keeps_the_source_csv_style(tmp_path):
    source = tmp_path / "src.tsv"
    source.write_text("Filenames\tdesert\tsea\n1.jpg\t1\t0\n2.jpg\t0\t1\n", encoding="utf-8")
    table = read_labels(source)
    written = write_labels(table, tmp_path / "out.tsv", "onehot", like=(source, ReadOptions()))
    assert written[0].read_text(encoding="utf-8").splitlines() == [
        "Filenames\tdesert\tsea",
        "1.jpg\t1\t0",
        "2.jpg\t0\t1",
    ]


def test_fallback_formats_write_tags():
    assert [output_format(f) for f in ("coco", "voc", "folders", "npz")] == ["tags", "tags", "tags", "npz"]


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(OptionError, match="1.jpg .. 7.jpg"):
        write_labels(_table([f"img{i}.png" for i in range(7)]), tmp_path / "x.mat", "mat")
    with pytest.raises(OptionError, match="writable formats"):
        write_labels(_table(), tmp_path / "x.xml", "xml")
    with pytest.raises(OptionError, match="is a folder"):
        write_labels(_table(), tmp_path, "onehot")

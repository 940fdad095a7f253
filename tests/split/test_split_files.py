"""Split folders: write, read back, refuse to overwrite, and catch leaks and unknown paths."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

from tailtag.errors import LabelFileError, OptionError
from tailtag.split import REPORT_NAME, file_sha256, read_split, split_files, split_table, write_split


@pytest.fixture
def table(make_matrix, make_table):
    return make_table(make_matrix(50, 6, seed=1))


def test_write_then_read_gives_the_same_rows(tmp_path, table):
    split = split_table(table, seed=4)
    written = write_split(tmp_path / "s", table, split.indices(), {"seed": 4})
    assert [p.name for p in written] == ["train.txt", "val.txt", "test.txt", REPORT_NAME]
    lines = (tmp_path / "s" / "val.txt").read_text().splitlines()
    assert lines == [table.paths[i] for i in split.indices()["val"]]  # paths exactly as in the table
    back = read_split(tmp_path / "s", table)
    assert list(back) == ["train", "val", "test"]
    for name, rows in split.indices().items():
        assert np.array_equal(back[name], rows)


def test_folds_are_read_in_numeric_order(tmp_path, make_matrix, make_table):
    table = make_table(make_matrix(60, 4))
    split = split_table(table, folds=11)
    write_split(tmp_path, table, split.indices())
    assert [p.name for p in split_files(tmp_path)][:3] == ["fold_1.txt", "fold_2.txt", "fold_3.txt"]
    assert list(read_split(tmp_path, table))[-2:] == ["fold_10", "fold_11"]


def test_refuses_to_overwrite_a_split_unless_forced(tmp_path, table):
    (tmp_path / "notes.md").write_text("mine")
    write_split(tmp_path, table, split_table(table, folds=5).indices())  # other files do not block
    with pytest.raises(OptionError, match=r"(?s)--out .*: the folder already holds a split \(fold_1.txt, .*--force"):
        write_split(tmp_path, table, split_table(table).indices())
    write_split(tmp_path, table, split_table(table).indices(), force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md", "test.txt", "train.txt", "val.txt"]


def test_unknown_path_names_the_file_and_line(tmp_path, table):
    (tmp_path / "train.txt").write_text(f"{table.paths[0]}\nimg/nope.jpg\n{table.paths[1]}\n")
    (tmp_path / "val.txt").write_text(f"{table.paths[2]}\n")
    with pytest.raises(LabelFileError, match=r"1 problems .*\n  train.txt:2: 'img/nope.jpg' is not in"):
        read_split(tmp_path, table)


def test_an_image_in_two_subsets_is_a_leak(tmp_path, table):
    (tmp_path / "train.txt").write_text(f"{table.paths[0]}\n{table.paths[1]}\n")
    (tmp_path / "test.txt").write_text(f"{table.paths[3]}\n{table.paths[1]}\n{table.paths[1]}\n")
    with pytest.raises(LabelFileError) as error:
        read_split(tmp_path, table)
    message = str(error.value)
    assert f"test.txt:2: '{table.paths[1]}' is also in train.txt:2" in message
    assert f"test.txt:3: '{table.paths[1]}' is also in train.txt:2" in message
    assert "fix:" in message


def test_a_path_twice_in_one_file_is_reported(tmp_path, table):
    (tmp_path / "val.txt").write_text(f"{table.paths[5]}\n{table.paths[5]}\n")
    with pytest.raises(LabelFileError, match=r"val.txt:2: .* is listed twice val.txt:1"):
        read_split(tmp_path, table)


def test_no_split_files_is_an_option_error(tmp_path, table):
    with pytest.raises(OptionError, match="(?s)no split files .* fix: make a split first"):
        read_split(tmp_path, table)


def test_images_in_no_subset_and_changed_labels_warn(tmp_path, make_table):
    labels = tmp_path / "labels.csv"
    labels.write_text("original")
    table = make_table(sp.csr_matrix(np.eye(4, dtype=np.uint8)), source=str(labels))
    write_split(
        tmp_path / "s",
        table,
        {"train": np.array([0, 1]), "val": np.array([2])},
        {"labels": {"sha256": file_sha256(labels)}},
    )
    labels.write_text("edited")
    with pytest.warns(UserWarning) as record:
        read_split(tmp_path / "s", table)
    messages = "\n".join(str(w.message) for w in record)
    assert "changed since the split" in messages
    assert "1 of 4 images" in messages


def test_report_is_written_as_json(tmp_path, table):
    write_split(tmp_path, table, split_table(table).indices(), {"seed": 0, "fractions_asked": [0.7, 0.15, 0.15]})
    assert json.loads((tmp_path / REPORT_NAME).read_text())["seed"] == 0

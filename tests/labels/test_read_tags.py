"""Tags CSV reader: in-cell separators, Python-style lists, negatives, and choosing the tags column."""

from pathlib import Path

import pytest

from tailtag.labels.csv_tags import choose_tag_separator, split_tags
from tailtag.labels.options import ReadOptions
from tailtag.labels.readers import detect_format, read_labels


def write(folder: Path, name: str, content: str) -> Path:
    path = folder / name
    path.write_text(content, encoding="utf-8")
    return path


def as_sets(table) -> list[tuple[str, list[str]]]:
    return [(p, table.labels_of(i)) for i, p in enumerate(table.paths)]


EXPECTED = [("a.jpg", ["sea", "sunset"]), ("b.jpg", []), ("c.jpg", ["trees"])]


@pytest.mark.parametrize(
    "content",
    [
        'Filenames,labels\na.jpg,"sunset,sea"\nb.jpg,\nc.jpg,trees\n',
        "img_path,tags\na.jpg,sunset|sea\nb.jpg,\nc.jpg,trees\n",
        "image_name,tags\na.jpg,sunset;sea\nb.jpg,\nc.jpg,trees\n",
        "img_path,tags\na.jpg,sunset sea\nb.jpg,\nc.jpg,trees\n",
        "image_name,tags\na.jpg,\"['sunset', 'sea']\"\nb.jpg,[]\nc.jpg,\"['trees']\"\n",
        "img\ttags\na.jpg\t sunset , sea \nb.jpg\t\nc.jpg\ttrees\n",
    ],
    ids=["comma-quoted", "pipe", "semicolon", "space", "python-list", "tsv-with-spaces"],
)
def test_separators_read_the_same(tmp_path, content):
    path = write(tmp_path, "tags.csv", content)
    assert detect_format(path) == "tags"
    table = read_labels(path)
    assert table.names == ["sea", "sunset", "trees"]  # sorted
    assert as_sets(table) == EXPECTED  # b.jpg has no tags and is kept as a negative


def test_separator_is_chosen_once_per_file():
    assert choose_tag_separator(["a,b", "c", "d,e f"]) == (",", None)
    assert choose_tag_separator(["a b", "c d", "e"]) == (" ", None)
    assert choose_tag_separator(["['a']", "[]", ""]) == ("list", None)
    separator, note = choose_tag_separator(["a|b", "c|d", "e,f"])
    assert separator == "|" and "',' in 1 cells" in note and "--tag-sep" in note


def test_tag_sep_option_overrides(tmp_path):
    path = write(tmp_path, "t.csv", 'path,tags\na.jpg,"sea water,trees"\nb.jpg,sea water\n')
    assert as_sets(read_labels(path)) == [("a.jpg", ["sea water", "trees"]), ("b.jpg", ["sea water"])]
    table = read_labels(path, ReadOptions(tag_sep=" "))
    assert table.names == ["sea", "water", "water,trees"]


def test_list_cells_are_evaluated_as_literals_only():
    assert split_tags("['Comedy', 'Drama']", "list") == ["Comedy", "Drama"]
    assert split_tags("(1, 2)", "list") == ["1", "2"]
    with pytest.raises(ValueError, match="not a Python list"):
        split_tags("[__import__('os').getcwd()]", "list")
    with pytest.raises(ValueError, match="tags must be strings"):
        split_tags("[['nested']]", "list")


def test_tags_column_chosen_among_text_columns_and_extra_columns_noted(tmp_path):
    path = write(tmp_path, "t.csv", "image,width,tags\na.jpg,640,x|y\nb.jpg,480,y\n")
    table = read_labels(path)
    assert as_sets(table) == [("a.jpg", ["x", "y"]), ("b.jpg", ["y"])]
    assert any("ignored column(s) 'width'" in note for note in table.notes)


def test_tags_column_option_and_group_column(tmp_path):
    path = write(tmp_path, "t.csv", "file,caption,genres,user\na.jpg,hello world,x,u1\nb.jpg,bye now,y,u2\n")
    table = read_labels(path, ReadOptions(tags_column="genres", group_column="user"))
    assert as_sets(table) == [("a.jpg", ["x"]), ("b.jpg", ["y"])]
    assert table.meta["user"].tolist() == ["u1", "u2"]


def test_duplicate_rows_with_the_same_tags_in_another_order_are_identical(tmp_path):
    table = read_labels(write(tmp_path, "t.csv", "path,tags\na.jpg,x|y\nb.jpg,x\na.jpg,y|x\n"))
    assert as_sets(table) == [("a.jpg", ["x", "y"]), ("b.jpg", ["x"])]
    assert "line 4 (same as line 2)" in table.notes[0]


@pytest.mark.parametrize(
    "content, line",
    [
        ("path,tags\nx.jpg,\"['sea', 'sun'\"\ny.jpg,sea\nz.jpg,sun\n", 2),  # a list cut short among plain cells
        ("path,tags\nx.jpg,\"'sea', 'sun']\"\ny.jpg,sea\nz.jpg,sun\n", 2),
        ("path,tags\nx.jpg,sea\ny.jpg,\"['sea', 'sun'\"\n", 3),  # half the cells look like lists: list mode
        ("path,tags\nx.jpg,\"['sea', 'sun'\"\n", 2),
    ],
    ids=["open-minority", "close-minority", "open-half", "only-cell"],
)
def test_a_broken_list_cell_is_an_error_naming_its_line(tmp_path, content, line):
    from tailtag.errors import LabelFileError

    with pytest.raises(LabelFileError, match=r"t\.csv:\d+: ") as caught:
        read_labels(write(tmp_path, "t.csv", content))
    message = str(caught.value)
    assert f"t.csv:{line}: " in message or f"line {line}: " in message, message
    assert "list" in message and "--tag-sep" in message


def test_a_bare_bracketed_tag_is_still_a_tag(tmp_path):
    table = read_labels(write(tmp_path, "t.csv", "path,tags\nx.jpg,[unk]|sea\ny.jpg,sea\n"))
    assert as_sets(table) == [("x.jpg", ["[unk]", "sea"]), ("y.jpg", ["sea"])]


@pytest.mark.parametrize(
    "content",
    [
        "path,tags\na.jpg,x|x|y\nb.jpg,y|y\nc.jpg,x\n",
        'path,tags\na.jpg,"x,y,x"\nb.jpg,"y,y"\nc.jpg,x\n',
        "path,tags\na.jpg,x x y\nb.jpg,y y\nc.jpg,x\n",
        "path,tags\na.jpg,\"['x', 'x', 'y']\"\nb.jpg,\"['y', 'y']\"\nc.jpg,\"['x']\"\n",
        "path,tags\na.jpg, x | x |y\nb.jpg,y|y \nc.jpg,x\n",
    ],
    ids=["pipe", "comma", "space", "list", "pipe-spaces"],
)
def test_a_tag_repeated_in_a_cell_counts_once(tmp_path, content):
    """Counting a repeat twice would store 2 in the matrix (or a row pointer past its indices)."""
    table = read_labels(write(tmp_path, "t.csv", content))
    assert as_sets(table) == [("a.jpg", ["x", "y"]), ("b.jpg", ["y"]), ("c.jpg", ["x"])]
    assert table.matrix.nnz == 4 and set(table.matrix.data.tolist()) == {1}
    assert table.label_counts().tolist() == [2, 2] and table.labels_per_image().tolist() == [2, 1, 1]

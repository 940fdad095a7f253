"""INPUT of `tailtag predict`: folders, list files and globs become one deterministic list of images."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tailtag.errors import LabelFileError, TailtagError
from tailtag.predict import find_inputs


def _touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def test_folder_is_recursive_sorted_case_insensitive_and_skips_hidden(tmp_path):
    _touch(tmp_path, "b.JPG", "a/z.png", "a/c.jpeg", "notes.txt", ".hidden.jpg", ".cache/x.jpg", "sub/d.WebP")
    inputs = find_inputs(tmp_path)
    assert inputs.kind == "folder"
    assert inputs.names == ("a/c.jpeg", "a/z.png", "b.JPG", "sub/d.WebP")
    assert inputs.paths == tuple(str((tmp_path / name).resolve()) for name in inputs.names)


def test_order_does_not_depend_on_creation_order(tmp_path):
    _touch(tmp_path / "one", "c.jpg", "a.jpg", "b.jpg")
    _touch(tmp_path / "two", "b.jpg", "c.jpg", "a.jpg")
    one, two = find_inputs(tmp_path / "one"), find_inputs(tmp_path / "two")
    assert one.names == two.names == ("a.jpg", "b.jpg", "c.jpg")
    assert one.digest() != two.digest()  # the paths differ, so the jobs do too


def test_text_list_keeps_its_order_and_resolves_against_its_folder(tmp_path):
    _touch(tmp_path / "imgs", "b.jpg", "a.jpg")
    listing = tmp_path / "imgs" / "list.txt"
    listing.write_text("# test images\nb.jpg\n\n  a.jpg  \n/abs/c.jpg\n")
    inputs = find_inputs(listing, allow_outside=True)  # /abs/c.jpg is outside the list's folder
    assert inputs.kind == "list"
    assert inputs.names == ("b.jpg", "a.jpg", "/abs/c.jpg")
    assert inputs.paths == (str(tmp_path / "imgs" / "b.jpg"), str(tmp_path / "imgs" / "a.jpg"), "/abs/c.jpg")


def test_csv_list_reads_the_path_column(tmp_path):
    (tmp_path / "sub.csv").write_text("id,img_path,tags\n1,x/1.jpg,\n2,x/2.jpg,sea\n")
    inputs = find_inputs(tmp_path / "sub.csv")
    assert inputs.names == ("x/1.jpg", "x/2.jpg")
    assert inputs.paths[0] == str(tmp_path / "x" / "1.jpg")


def test_csv_with_one_column_is_a_plain_list_with_an_optional_header(tmp_path):
    (tmp_path / "l.csv").write_text("a.jpg\nb.jpg\n")
    assert find_inputs(tmp_path / "l.csv").names == ("a.jpg", "b.jpg")
    (tmp_path / "h.csv").write_text("file_name\na.jpg\nb.PNG\n")
    assert find_inputs(tmp_path / "h.csv").names == ("a.jpg", "b.PNG")


def test_glob_is_sorted_and_keeps_images_only(tmp_path):
    _touch(tmp_path, "d/2.jpg", "d/1.jpg", "d/sub/3.PNG", "d/readme.md")
    pattern = str(tmp_path / "d" / "**" / "*")
    inputs = find_inputs(pattern)
    assert inputs.kind == "glob"
    assert inputs.names == tuple(str(tmp_path / "d" / n) for n in ("1.jpg", "2.jpg", "sub/3.PNG"))


def test_line_breaks_in_names_are_left_out_with_a_warning(tmp_path):
    _touch(tmp_path, "ok.jpg", "bad\nname.jpg")
    with pytest.warns(UserWarning, match=r"left out 1 paths containing a line break"):
        inputs = find_inputs(tmp_path)
    assert inputs.names == ("ok.jpg",)


@pytest.mark.parametrize(
    ("make", "spec", "match"),
    [
        (lambda root: None, "missing", r"INPUT .*missing does not exist\n  fix: pass an image folder"),
        (lambda root: _touch(root, "e/readme.md"), "e", r"INPUT folder .*e holds no images"),
        (lambda root: _touch(root, "one.jpg"), "one.jpg", r"single file with suffix '.jpg'.*\n  fix: pass its folder"),
        (lambda root: _touch(root, "g/a.md"), "g/*", r"names no images \(1 files matched, none with an image ext"),
        (lambda root: None, "nothing/*.jpg", r"glob .* names no images \(nothing matched\)"),
        (lambda root: (root / "empty.txt").write_text("# only a comment\n"), "empty.txt", r"names no images"),
    ],
)
def test_unusable_input_names_the_input_and_the_fix(tmp_path, make, spec, match):
    make(tmp_path)
    with pytest.raises(TailtagError, match=match):
        find_inputs(tmp_path / spec if "*" not in spec else str(tmp_path / spec))


def test_csv_errors_name_the_line(tmp_path):
    (tmp_path / "two.csv").write_text("a,b\n1.jpg,x\n")
    with pytest.raises(LabelFileError, match=r"two.csv:1: no image path column among \['a', 'b'\]"):
        find_inputs(tmp_path / "two.csv")
    (tmp_path / "gap.csv").write_text("img_path,tags\n1.jpg,a\n,b\n")
    with pytest.raises(LabelFileError, match=r"gap.csv:3: row has no value in column 'img_path'"):
        find_inputs(tmp_path / "gap.csv")


def test_symlinked_folders_are_followed(tmp_path):
    _touch(tmp_path / "real", "a.jpg")
    (tmp_path / "top").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "top" / "link")
    assert find_inputs(tmp_path / "top").names == ("link/a.jpg",)


def test_a_symlink_cycle_is_walked_once(tmp_path):
    _touch(tmp_path, "a/x.jpg")
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    assert find_inputs(tmp_path).names == ("a/x.jpg",)


def test_list_paths_stay_in_the_lists_folder_unless_allowed(tmp_path):
    _touch(tmp_path / "imgs", "a.jpg")
    listing = tmp_path / "imgs" / "list.txt"
    listing.write_text(f"a.jpg\n../../etc/passwd\n{tmp_path / 'imgs' / 'a.jpg'}\n/etc/hostname\n")
    with pytest.raises(LabelFileError) as caught:
        find_inputs(listing)
    message = str(caught.value)
    assert message.startswith(f"{listing}:2: 2 problems:")
    assert "line 2: the image path '../../etc/passwd' climbs (with '..') out of the list's folder" in message
    assert "line 4: the image path '/etc/hostname' is absolute and outside the list's folder" in message
    assert "--allow-outside-images" in message and "line 3" not in message  # absolute but inside: fine
    assert find_inputs(listing, allow_outside=True).names[1] == "../../etc/passwd"


@pytest.mark.parametrize("suffix", [".txt", ".csv"])
def test_a_nul_byte_in_a_list_names_the_line(tmp_path, suffix):
    listing = tmp_path / f"list{suffix}"
    listing.write_text("path\na.jpg\nx\0.jpg\n" if suffix == ".csv" else "a.jpg\nx\0.jpg\n")
    line = 3 if suffix == ".csv" else 2
    for allow in (False, True):
        with pytest.raises(LabelFileError, match=rf"list\{suffix}:{line}: the image path 'x\\x00\.jpg' contains a NUL"):
            find_inputs(listing, allow_outside=allow)

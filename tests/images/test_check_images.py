"""`check_images` (problems, duplicates, modes) and `apply_policy` (fail / skip, CSV report)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tailtag.errors import OptionError, TailtagError
from tailtag.images import ImageCheck, ImageProblem, apply_policy, check_images


def _jpeg(path: Path, seed: int, size: int = 48) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    return path


@pytest.fixture
def folder(tmp_path) -> Path:
    """good: a, b, c (= a's bytes), d (= a's bytes), e; bad: cut (truncated), empty, text, missing."""
    _jpeg(tmp_path / "a.jpg", 0)
    _jpeg(tmp_path / "b.jpg", 1)
    shutil.copyfile(tmp_path / "a.jpg", tmp_path / "c.jpg")
    (tmp_path / "sub").mkdir()
    shutil.copyfile(tmp_path / "a.jpg", tmp_path / "sub" / "d.jpg")
    _jpeg(tmp_path / "e.jpg", 2, size=64)
    full = _jpeg(tmp_path / "full.jpg", 3, size=128).read_bytes()
    (tmp_path / "cut.jpg").write_bytes(full[: len(full) // 2])
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("nope")
    return tmp_path


NAMES = ["a.jpg", "b.jpg", "cut.jpg", "c.jpg", "empty.jpg", "sub/d.jpg", "text.jpg", "missing.jpg", "e.jpg"]


def test_header_mode_finds_file_level_problems_only(folder):
    check = check_images(NAMES, root=folder)
    assert check.n_checked == 9
    assert [(p.path, p.kind) for p in check.problems] == [
        ("empty.jpg", "empty"),
        ("text.jpg", "not an image"),
        ("missing.jpg", "missing"),
    ]
    assert check.ok_mask.tolist() == [True, True, True, True, False, True, False, False, True]


def test_decode_mode_also_finds_truncated_files(folder):
    check = check_images(NAMES, root=folder, mode="decode", workers=2)
    assert [p.path for p in check.problems] == ["cut.jpg", "empty.jpg", "text.jpg", "missing.jpg"]
    assert check.problems[0].kind == "truncated" and check.problems[0].reason.startswith("truncated JPEG:")
    assert check.counts_by_kind() == {"truncated": 1, "empty": 1, "not an image": 1, "missing": 1}
    assert check.n_bad == 4


def test_duplicates_are_byte_identical_groups_in_input_order(folder):
    (folder / "b2.jpg").write_bytes((folder / "b.jpg").read_bytes())
    names = ["sub/d.jpg", "b.jpg", "a.jpg", "e.jpg", "b2.jpg", "c.jpg", "a.jpg"]  # a.jpg listed twice
    check = check_images(names, root=folder)
    assert check.duplicates == [["sub/d.jpg", "a.jpg", "c.jpg"], ["b.jpg", "b2.jpg"]]
    assert check_images(names, root=folder, find_duplicates=False).duplicates == []


def test_same_size_different_bytes_are_not_duplicates(folder):
    data = bytearray((folder / "a.jpg").read_bytes())
    data[-3] ^= 0xFF  # same length, one byte differs
    (folder / "a_edit.jpg").write_bytes(bytes(data))
    assert check_images(["a.jpg", "a_edit.jpg"], root=folder).duplicates == []


def test_absolute_paths_and_pathlike_inputs(folder):
    check = check_images([folder / "a.jpg", str(folder / "empty.jpg")], root="/elsewhere")
    assert check.ok_mask.tolist() == [True, False]
    assert check.paths == (str(folder / "a.jpg"), str(folder / "empty.jpg"))


def test_pixel_limit_applies_in_both_modes(folder):
    for mode in ("header", "decode"):
        check = check_images(["a.jpg", "e.jpg"], root=folder, mode=mode, max_pixels=48 * 48)
        assert [(p.path, p.kind) for p in check.problems] == [("e.jpg", "too large")]


def test_no_paths():
    check = check_images([])
    assert check.n_checked == 0 and check.ok_mask.shape == (0,) and check.problems == []


def test_bad_mode():
    with pytest.raises(OptionError, match="'header' or 'decode'; got 'full'"):
        check_images([], mode="full")


def _check(n_good: int, problems: list[tuple[str, str]]) -> ImageCheck:
    paths = [f"ok{i}.jpg" for i in range(n_good)] + [path for path, _ in problems]
    return ImageCheck([ImageProblem(p, r) for p, r in problems], [], len(paths), tuple(paths))


PROBLEMS = [
    ("x/1.jpg", "truncated JPEG: OSError: image file is truncated"),
    ("x/2.jpg", "file not found"),
    ("x/3.jpg", "truncated JPEG: OSError: broken data stream"),
]


def test_fail_policy_lists_files_counts_and_fix():
    with pytest.raises(TailtagError) as caught:
        apply_policy(_check(1997, PROBLEMS), "fail")
    message = str(caught.value)
    assert message.startswith("3 of 2,000 images cannot be used (2 truncated, 1 missing):")
    assert "  x/2.jpg: file not found" in message
    assert "--on-bad-image skip" in message


def test_fail_message_shows_ten_files_then_counts_the_rest():
    many = [(f"m{i}.jpg", "file not found") for i in range(25)]
    message = str(pytest.raises(TailtagError, apply_policy, _check(5, many), "fail").value)
    assert "m9.jpg" in message and "m10.jpg" not in message
    assert "... and 15 more files" in message


def test_skip_policy_writes_report_and_summary(tmp_path):
    report = tmp_path / "out" / "skipped.csv"
    outcome = apply_policy(_check(1997, PROBLEMS), "skip", report)
    assert outcome.keep.sum() == 1997 and not outcome.keep[-3:].any()
    assert outcome.summary == f"skipped 3 of 2,000 images (2 truncated, 1 missing); list in {report}"
    with open(report, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["path", "reason"]] + [list(problem) for problem in PROBLEMS]


def test_skip_without_report_names_the_first_files():
    problems = [(f"m{i}.jpg", "file is empty (0 bytes)") for i in range(5)]
    outcome = apply_policy(_check(95, problems), "skip")
    assert outcome.summary.endswith("first: m0.jpg, m1.jpg, m2.jpg (+2 more; pass a report path to list them all)")


def test_clean_check_keeps_everything_under_both_policies(tmp_path):
    for policy in ("fail", "skip"):
        outcome = apply_policy(_check(4, []), policy, tmp_path / "r.csv")
        assert outcome.keep.tolist() == [True] * 4
        assert outcome.summary == "all 4 images are readable"
    assert (tmp_path / "r.csv").read_text().splitlines() == ["path,reason"]


def test_skipping_many_warns_with_numbers():
    with pytest.warns(UserWarning, match=r"skipping 3 of 10 images \(30%\): the rest") as caught:
        apply_policy(_check(7, PROBLEMS), "skip")
    assert "--images" not in str(caught[0].message)  # mostly truncated, not missing
    missing = [(f"m{i}.jpg", "file not found") for i in range(3)]
    with pytest.warns(UserWarning, match=r"wrong image folder: check that --images"):
        apply_policy(_check(7, missing), "skip")


def test_nothing_usable_is_an_error_even_when_skipping():
    missing = [(f"m{i}.jpg", "file not found") for i in range(3)]
    with pytest.raises(
        TailtagError, match=r"none of the 3 images can be used \(3 missing\)\n  fix: check that --images"
    ):
        apply_policy(_check(0, missing), "skip")
    with pytest.raises(TailtagError, match=r"note: check that --images is the folder"):
        apply_policy(_check(0, missing), "fail")


def test_unknown_policy():
    with pytest.raises(OptionError, match=r"--on-bad-image must be one of fail, skip; got 'ignore'"):
        apply_policy(_check(1, []), "ignore")


def test_end_to_end_check_then_skip(folder, tmp_path):
    check = check_images(NAMES, root=folder, mode="decode")
    with pytest.warns(UserWarning, match="skipping 4 of 9 images"):
        outcome = apply_policy(check, "skip", tmp_path / "bad.csv")
    kept = [name for name, keep in zip(NAMES, outcome.keep, strict=True) if keep]
    assert kept == ["a.jpg", "b.jpg", "c.jpg", "sub/d.jpg", "e.jpg"]
    assert "skipped 4 of 9 images (1 truncated, 1 empty, 1 not an image, 1 missing)" in outcome.summary


MIML = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "miml"


@pytest.mark.dataset
@pytest.mark.skipif(not (MIML / "images").is_dir(), reason="MIML images not present under ../shared/data")
def test_miml_images_are_all_readable():
    names = [f"{k}.jpg" for k in range(1, 2001)]
    check = check_images(names, root=MIML / "images", mode="decode")
    assert (check.n_checked, check.problems, check.duplicates) == (2000, [], [])
    assert apply_policy(check, "fail").summary == "all 2,000 images are readable"


def test_a_nul_byte_in_a_path_is_reported_not_raised(tmp_path):
    check = check_images(["x\0.jpg", "y\0.jpg"], root=tmp_path, find_duplicates=True)
    assert [p.reason for p in check.problems] == ["the path contains a NUL byte, which no file name can hold"] * 2

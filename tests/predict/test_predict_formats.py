"""Rows of the prediction outputs and the --min-tags / --max-tags clipping: golden and property tests."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tailtag.errors import OptionError
from tailtag.predict import clip_tags, format_of
from tailtag.predict.formats import format_rows, format_skipped, row_name

LABELS = ["sea", "sky", "tree", "sun"]
P = np.array([[0.9, 0.2, 0.6, 0.1], [0.1, 0.3, 0.2, 0.05], [0.5, 0.5, 0.4, 0.45]], dtype=np.float32)
D = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [0, 1, 1, 1]], dtype=np.uint8)


def test_csv_rows_are_the_submission_format_with_tags_by_descending_probability():
    text = format_rows("csv", ["a.jpg", "b,1.jpg", "c.jpg"], LABELS, P, D)
    assert text == 'a.jpg,"sea,tree"\n"b,1.jpg",\nc.jpg,"sky,sun,tree"\n'


def test_jsonl_rows_carry_every_probability_rounded_to_6_digits():
    lines = format_rows("jsonl", ["a.jpg", "b.jpg", "c.jpg"], LABELS, P, D).splitlines()
    first = json.loads(lines[0])
    assert first == {
        "img_path": "a.jpg",
        "tags": ["sea", "tree"],
        "probabilities": {"sea": 0.9, "sky": 0.2, "tree": 0.6, "sun": 0.1},
    }
    assert json.loads(lines[1])["tags"] == []
    assert all(len(str(v).split(".")[-1]) <= 6 for v in json.loads(lines[2])["probabilities"].values())


def test_min_tags_adds_the_best_unchosen_labels_up_to_exactly_n():
    got = clip_tags(P, D, min_tags=2)
    np.testing.assert_array_equal(got, [[1, 0, 1, 0], [0, 1, 1, 0], [0, 1, 1, 1]])


def test_max_tags_keeps_the_best_chosen_labels():
    # row 3 chose sky (0.5), tree (0.4), sun (0.45) but not sea (0.5): the cap keeps sky and sun
    got = clip_tags(P, D, max_tags=2)
    np.testing.assert_array_equal(got, [[1, 0, 1, 0], [0, 0, 0, 0], [0, 1, 0, 1]])


def test_min_and_max_together_and_no_bounds_is_the_identity():
    np.testing.assert_array_equal(clip_tags(P, D), D)
    np.testing.assert_array_equal(clip_tags(P, D, min_tags=1, max_tags=1), [[1, 0, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0]])


def test_clipping_properties_on_random_scores():
    rng = np.random.default_rng(0)
    scores = rng.random((200, 7)).astype(np.float32)
    decisions = (rng.random((200, 7)) < 0.3).astype(np.uint8)
    for low, high in ((0, None), (2, None), (0, 3), (2, 4), (3, 3)):
        got = clip_tags(scores, decisions, low, high)
        counts = got.sum(axis=1)
        assert counts.min() >= low and (high is None or counts.max() <= high)
        chosen = decisions.sum(axis=1)
        inside = (chosen >= low) & ((chosen <= high) if high is not None else True)
        np.testing.assert_array_equal(got[inside], decisions[inside])  # rows within bounds are untouched
        added = got.astype(bool) & ~decisions.astype(bool)
        for row in np.flatnonzero(added.any(axis=1)):  # an added label beats every label left out
            left_out = ~got[row].astype(bool)
            assert not left_out.any() or scores[row][added[row]].min() >= scores[row][left_out].max()


def test_skipped_rows_keep_one_image_per_line():
    text = format_skipped([("a.jpg", "truncated JPEG:\nimage file is truncated"), ("b,c.jpg", "file is empty")])
    assert text == 'a.jpg,truncated JPEG: image file is truncated\n"b,c.jpg",file is empty\n'


@pytest.mark.parametrize(
    ("kind", "line", "name"),
    [
        ("csv", '"b,1.jpg",', "b,1.jpg"),
        ("csv", 'a.jpg,"sea,tree"', "a.jpg"),
        ("csv", 'a.jpg,"sea,tr', None),  # torn inside the quoted tags
        ("csv", "a.jpg", None),
        ("jsonl", '{"img_path": "a.jpg", "tags": []}', "a.jpg"),
        ("jsonl", '{"img_path": "a.jpg", "tags": [', None),
        ("skipped", "x.jpg,file is empty", "x.jpg"),
    ],
)
def test_row_name_recognises_complete_rows_only(kind, line, name):
    assert row_name(kind, line) == name


def test_unknown_output_extension_names_the_flag_and_the_choices():
    assert format_of("p.CSV") == "csv" and format_of("p.jsonl") == "jsonl"
    with pytest.raises(OptionError, match=r"--out p.txt: unknown output extension '.txt'; expected .csv"):
        format_of("p.txt")

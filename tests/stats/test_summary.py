"""`describe`: warnings with their numbers and the JSON form."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tailtag.errors import OptionError
from tailtag.images import ImageCheck, ImageProblem
from tailtag.labels import from_label_lists
from tailtag.stats import describe

ROWS = [["a"], ["a", "b"], ["a"], ["a", "c"], ["b"], ["a", "b", "c"]]


def table_with(**kwargs):
    rows = kwargs.pop("rows", ROWS)
    paths = kwargs.pop("paths", [f"{i}.jpg" for i in range(len(rows))])
    return from_label_lists(paths, rows, **kwargs)


def test_json_has_the_documented_keys_and_golden_values():
    result = json.loads(json.dumps(describe(table_with()).to_dict(), allow_nan=False))
    for key in (
        "n_images",
        "n_labels",
        "label_counts",
        "cardinality",
        "density",
        "n_labelsets",
        "labelsets",
        "mean_ir",
        "max_ir",
        "cvir",
        "scumble",
        "buckets",
        "cooccurrence",
        "warnings",
    ):
        assert key in result, key
    assert result["label_counts"] == {"a": 5, "b": 3, "c": 2}
    assert result["n_labelsets"] == 5 and result["n_single_labelsets"] == 4
    assert result["labelsets"][0] == {"labels": ["a"], "count": 2, "powerlabel": 4}
    assert result["buckets"] == {"a": "tail", "b": "tail", "c": "tail"}
    assert result["cooccurrence"]["matrix"] == [[5, 2, 2], [2, 3, 1], [2, 1, 2]]
    first_pair = result["cooccurrence"]["top_pairs"][0]
    assert first_pair == {
        "labels": ["a", "b"],
        "count": 2,
        "p_second_given_first": 2 / 5,
        "p_first_given_second": 2 / 3,
    }


def test_top_limits_labelsets_and_nan_becomes_null():
    result = describe(table_with(names=["a", "b", "c", "d"])).to_dict(top=2)
    assert [s["labels"] for s in result["labelsets"]] == [["a"], ["b"]]
    assert result["n_labelsets"] == 5
    assert result["labels"][3] == {
        "name": "d",
        "count": 0,
        "frequency": 0.0,
        "irlbl": None,
        "scumble": None,
        "bucket": "tail",
    }
    assert result["zero_positive_labels"] == ["d"]


def test_large_label_space_lists_top_pairs_only():
    names = [f"l{j}" for j in range(80)]
    rows = [[names[i % 80], names[(i + 1) % 80]] for i in range(200)]
    result = describe(table_with(rows=rows, names=names)).to_dict()
    assert result["cooccurrence"]["matrix"] is None
    assert len(result["cooccurrence"]["top_pairs"]) == 50
    assert result["labelsets"][0]["powerlabel"] is None


def test_warnings_carry_the_numbers():
    rows = [["a"]] * 30 + [["a", "b"]] * 2 + [[]] * 3
    paths = [f"{i}.jpg" for i in range(34)] + ["0.jpg"]
    table = table_with(rows=rows, paths=paths, names=["a", "b", "z"], notes=["merged 2 identical rows"])
    warnings = describe(table, min_positives=5).warnings
    text = "\n".join(warnings)
    assert "1 of 3 labels have no positive image ('z')" in text
    assert "1 labels have fewer than 5 positives: b (2)" in text
    assert "3 of 35 images (8.6%) have no label" in text
    assert "1 image paths occur more than once (1 extra rows; e.g. '0.jpg')" in text
    assert "reader: merged 2 identical rows" in text
    assert not any("single image" in w for w in warnings)


def test_single_image_label_sets_are_counted():
    warnings = describe(table_with()).warnings
    assert any(w.startswith("4 of 5 label sets are carried by a single image (66.7% of images)") for w in warnings)


def test_image_problems_and_duplicates_become_warnings():
    check = ImageCheck(
        problems=[ImageProblem("1.jpg", "file not found"), ImageProblem("2.jpg", "truncated JPEG: 10 bytes")],
        duplicates=[["3.jpg", "4.jpg"]],
        n_checked=6,
        paths=tuple(f"{i}.jpg" for i in range(6)),
    )
    text = "\n".join(describe(table_with(), image_check=check).warnings)
    assert "2 of 6 images cannot be used (1 missing, 1 truncated): 1.jpg (file not found)" in text
    assert "1 groups of byte-identical image files (2 files; e.g. 3.jpg, 4.jpg)" in text


def test_bad_thresholds_fail_before_any_work():
    with pytest.raises(OptionError, match="--head-min"):
        describe(table_with(), head_min=5, tail_max=5)


def test_empty_table_warns_instead_of_crashing():
    table = from_label_lists(np.array([], dtype=object), [], names=["a"])
    stats = describe(table)
    assert stats.warnings[0].startswith("the table has no images")
    assert json.dumps(stats.to_dict(), allow_nan=False)


def test_stats_do_not_import_torch_or_matplotlib():
    code = (
        "import sys, tailtag.stats, tailtag.commands.inspect; "
        "bad = [m for m in ('torch', 'matplotlib') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

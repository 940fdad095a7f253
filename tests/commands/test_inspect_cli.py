"""`tailtag inspect` end to end on a small one-hot CSV written in tmp_path."""

import json

import pytest
from PIL import Image

from tailtag.cli import main

ROWS = [
    ("0.png", 1, 0, 0),
    ("1.png", 1, 1, 0),
    ("2.png", 1, 0, 0),
    ("3.png", 1, 0, 1),
    ("4.png", 0, 1, 0),
    ("5.png", 1, 1, 1),
]


def write_csv(folder, rows=ROWS):
    path = folder / "labels.csv"
    path.write_text("path,a,b,c\n" + "".join(",".join(map(str, row)) + "\n" for row in rows))
    return path


def run_json(capsys, *argv):
    status = main(["inspect", *map(str, argv), "--json"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return json.loads(captured.out)


def test_json_is_one_object_with_the_keys(tmp_path, capsys):
    result = run_json(capsys, write_csv(tmp_path))
    assert result["n_images"] == 6 and result["n_labels"] == 3
    assert result["label_counts"] == {"a": 5, "b": 3, "c": 2}
    assert result["cardinality"] == pytest.approx(10 / 6)
    assert result["density"] == pytest.approx(10 / 18)
    assert result["n_labelsets"] == 5
    assert result["labelsets"][0] == {"labels": ["a"], "count": 2, "powerlabel": 4}
    assert result["mean_ir"] == pytest.approx(31 / 18) and result["max_ir"] == pytest.approx(2.5)
    for key in ("cvir", "scumble", "buckets", "cooccurrence", "warnings", "plots", "image_check"):
        assert key in result
    assert result["image_check"] is None and result["plots"] == []


def test_terminal_report_has_the_table_summary_and_sets(tmp_path, capsys):
    assert main(["inspect", str(write_csv(tmp_path)), "--head-min", "4", "--tail-max", "2", "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "6 images, 3 labels" in out
    assert "label  count  frequency  IRLbl  bucket" in out
    assert "a          5     0.8333  1.000  head" in out
    assert "c          2     0.3333  2.500  tail" in out
    assert "MeanIR 1.7222  MaxIR 2.5000  CVIR 0.4364  SCUMBLE 0.0323" in out
    assert "5 distinct label sets, 4 carried by a single image; top 2:" in out


def test_plots_are_written_and_listed(tmp_path, capsys):
    plots = tmp_path / "plots"
    assert main(["inspect", str(write_csv(tmp_path)), "--plots", str(plots)]) == 0
    out = capsys.readouterr().out
    names = sorted(p.name for p in plots.iterdir())
    assert names == ["cooccurrence.png", "label_frequency.png", "labelsets.png"]
    for name in names:
        assert f"wrote {plots / name}" in out


def test_images_are_checked_and_problems_reported(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    for i in (0, 1, 2, 3, 4):
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(images / f"{i}.png")
    (images / "4.png").write_bytes((images / "1.png").read_bytes())  # a byte-identical copy; 5.png is missing
    result = run_json(capsys, write_csv(tmp_path), "--images", images)
    assert result["image_check"]["mode"] == "header" and result["image_check"]["n_bad"] == 1
    assert result["image_check"]["duplicates"] == [["1.png", "4.png"]]
    text = "\n".join(result["warnings"])
    assert "1 of 6 images cannot be used (1 missing): 5.png" in text
    assert "byte-identical" in text
    assert run_json(capsys, write_csv(tmp_path), "--images", images, "--check-images", "none")["image_check"] is None


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--head-min", "10", "--tail-max", "19"], "--head-min (head_min) must be greater than --tail-max"),
        (["--top", "-1"], "--top must be >= 0"),
    ],
)
def test_bad_options_exit_2_with_the_flag_named(tmp_path, capsys, flags, message):
    assert main(["inspect", str(write_csv(tmp_path)), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_check_images_without_images_flag_resolves_against_the_label_folder(tmp_path, capsys):
    labels = write_csv(tmp_path)
    assert main(["inspect", str(labels), "--check-images", "header", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["image_check"]["n_bad"] == result["n_images"]
    assert any("missing" in w or "not found" in w for w in result["warnings"])


def test_every_decoding_command_defaults_to_the_same_pixel_limit():
    """train, predict, inspect and serve refuse the same images unless told otherwise."""
    import argparse
    import importlib

    from tailtag.cli import COMMANDS
    from tailtag.images import DEFAULT_MAX_PIXELS
    from tailtag.serve.limits import SERVE_MAX_PIXELS, Limits

    for name, argv in (("train", ["l.csv", "--out", "r"]), ("predict", ["r", "i"]), ("inspect", ["l.csv"])):
        parser = argparse.ArgumentParser()
        importlib.import_module(COMMANDS[name][0]).add_arguments(parser)
        assert parser.parse_args(argv).max_pixels == DEFAULT_MAX_PIXELS, name
    assert SERVE_MAX_PIXELS == DEFAULT_MAX_PIXELS
    assert Limits(max_pixels=150_000_000).max_pixels == 150_000_000  # up to Pillow's own limit, not 2 x ours


def test_inspect_max_pixels_flag_reaches_the_image_check(tmp_path, capsys):
    from PIL import Image

    Image.new("RGB", (100, 50)).save(tmp_path / "a.png")
    (tmp_path / "l.csv").write_text("path,x\na.png,1\n")
    assert main(["inspect", str(tmp_path / "l.csv"), "--images", str(tmp_path), "--max-pixels", "4999", "--json"]) == 0
    assert "over the limit of 4,999" in capsys.readouterr().out

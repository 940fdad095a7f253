"""Safe loading only, and metadata that is checked key by key (no trained run needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tailtag.errors import LabelFileError
from tailtag.export import ExportMetadata, read_metadata

SOURCES = [
    *sorted((Path(__file__).resolve().parents[2] / "src" / "tailtag" / "export").glob("*.py")),
    Path(__file__).resolve().parents[2] / "src" / "tailtag" / "commands" / "export.py",
]


def _metadata() -> ExportMetadata:
    return ExportMetadata(
        labels=["sea", "sun"],
        task="multilabel",
        output="sigmoid",
        views=["center"],
        preprocess={
            "input_size": [64, 64],
            "interpolation": "bicubic",
            "crop_pct": 0.875,
            "mean": [0.5, 0.5, 0.5],
            "std": [0.25, 0.25, 0.25],
        },
        jpeg_draft=[73, 73],
        calibration={"version": 1, "method": "none", "params": {}, "n_labels": 2, "names": ["sea", "sun"]},
        thresholds={"version": 1, "strategy": "global", "params": {}, "thresholds": [0.4, 0.6], "names": None},
        run="/runs/demo",
        model_sha256="ab" * 32,
    )


def test_no_pickle_anywhere_in_the_export_code():
    assert len(SOURCES) >= 7
    for source in SOURCES:
        text = source.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import|from)\s+(pickle|dill|cloudpickle)\b", text, re.M), source
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, f"{source}: {call}"


def test_metadata_round_trips_through_strings():
    meta = _metadata()
    strings = meta.to_strings()
    assert all(isinstance(value, str) for value in strings.values())
    assert json.loads(strings["tailtag_format"]) == 1 and json.loads(strings["labels"]) == ["sea", "sun"]
    back = ExportMetadata.from_strings(strings, "model.onnx")
    assert back == meta
    assert back.preprocess_config().input_size == (64, 64)
    assert back.decision().predict([[0.5, 0.5]]).tolist() == [[1, 0]]


def test_bad_metadata_names_every_bad_key_and_the_fix():
    strings = _metadata().to_strings()
    del strings["labels"]
    strings["views"] = "[center"
    strings["task"] = "3"
    with pytest.raises(LabelFileError) as caught:
        ExportMetadata.from_strings(strings, "deploy/model.onnx")
    message = str(caught.value)
    assert message.startswith("deploy/model.onnx: tailtag metadata: key 'labels' is missing")
    assert "key 'views' is not valid JSON" in message and "key 'task' must be a JSON str, got int" in message
    assert "fix: re-export it with this tailtag version: tailtag export RUN" in message


def test_a_newer_metadata_format_is_refused():
    strings = _metadata().to_strings() | {"tailtag_format": "2"}
    with pytest.raises(LabelFileError, match="key 'tailtag_format' is 2, this tailtag reads 1"):
        ExportMetadata.from_strings(strings, "model.onnx")


def test_files_that_are_not_exports_are_refused(tmp_path):
    with pytest.raises(LabelFileError, match="exported model not found"):
        read_metadata(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\xff not protobuf \xff" * 20)
    with pytest.raises(LabelFileError, match=r"junk.onnx: (is not a readable ONNX model|tailtag metadata)"):
        read_metadata(junk)

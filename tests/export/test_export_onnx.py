"""ONNX export of a trained run: a valid graph with a dynamic batch, metadata that reproduces the tags without
tailtag, and an onnxruntime scorer that tags exactly like PyTorch."""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image, ImageOps

import tailtag
from tailtag.cli import main
from tailtag.errors import TailtagError
from tailtag.export import export_run, onnx_scorer, onnx_session, read_metadata
from tailtag.inference import Tagger, load_model, read_run
from tailtag.split import read_split
from tailtag.thresholds.decision import load_decision


@pytest.fixture(scope="module")
def onnx_file(small_run):
    """The run exported to its default place, RUN/model.onnx."""
    result = export_run(small_run, "onnx", sample=8)
    assert result.parity.ok and result.path == small_run / "model.onnx"
    return result.path


def _val_paths(run, n: int = 12) -> list[str]:
    files = read_run(run)
    table = files.training_table()
    rows = read_split(run / "split", table)["val"][:n]
    return [str(table.resolve(p)) for p in table.paths[rows]]


def test_the_graph_is_valid_with_a_dynamic_batch(onnx_file, small_run):
    proto = onnx.load(str(onnx_file))
    onnx.checker.check_model(proto, full_check=True)
    assert max(op.version for op in proto.opset_import if op.domain in ("", "ai.onnx")) == 17
    (image_input,), (output,) = proto.graph.input, proto.graph.output
    dims = [d.dim_param or d.dim_value for d in image_input.type.tensor_type.shape.dim]
    assert (image_input.name, dims) == ("images", ["batch", 3, 64, 64])
    assert output.name == "probabilities"
    assert output.type.tensor_type.shape.dim[1].dim_value == len(load_model(small_run).names)


def test_metadata_round_trips(onnx_file, small_run):
    meta, model, decision = read_metadata(onnx_file), load_model(small_run), load_decision(small_run)
    assert meta.labels == model.names and meta.task == "multilabel" and meta.output == "sigmoid"
    assert meta.views == ["center", "full"] and meta.preprocess_config() == model.preprocess
    assert meta.thresholds == decision.thresholds.to_dict()
    assert meta.calibration == decision.calibrator.to_dict()
    assert meta.model_sha256 == hashlib.sha256((small_run / "model.safetensors").read_bytes()).hexdigest()
    assert meta.run == str(small_run.resolve()) and meta.tailtag_version == tailtag.__version__
    raw = np.random.default_rng(0).uniform(0, 1, (50, len(meta.labels))).astype(np.float32)
    np.testing.assert_array_equal(meta.decision().predict(raw), decision.predict(raw))
    np.testing.assert_array_equal(meta.decision().probabilities(raw), decision.probabilities(raw))
    # onnxruntime sees the same strings, for consumers without the onnx package
    custom = onnx_session(onnx_file).get_modelmeta().custom_metadata_map
    assert json.loads(custom["labels"]) == model.names and json.loads(custom["jpeg_draft"]) == meta.jpeg_draft


def test_the_onnx_scorer_agrees_with_torch_on_real_images(onnx_file, small_run):
    model, decision = load_model(small_run), load_decision(small_run)
    with_torch = Tagger(model, decision)
    with_onnx = Tagger(model, decision, scorer=onnx_scorer(model))
    paths = _val_paths(small_run)
    views = torch.stack([with_torch.decode(p) for p in paths])
    for rows in (slice(0, 1), slice(1, 6), slice(0, 12)):  # batch sizes other than the traced 2
        np.testing.assert_allclose(
            with_onnx.raw_probabilities(views[rows]), with_torch.raw_probabilities(views[rows]), atol=1e-4, rtol=0
        )
    assert [t.tags for t in with_onnx.predict(paths)] == [t.tags for t in with_torch.predict(paths)]
    assert onnx_session(onnx_file).get_session_options().intra_op_num_threads == torch.get_num_threads()


def _recipe_views(path: str, meta: dict) -> np.ndarray:
    """(V, 3, H, W) float32 made with Pillow and numpy only, following the documented recipe."""
    prep = meta["preprocess"]
    (height, width), resample = prep["input_size"], getattr(Image.Resampling, prep["interpolation"].upper())
    image = Image.open(path)
    if image.format == "JPEG":
        image.draft("RGB", tuple(meta["jpeg_draft"]))
    image = ImageOps.exif_transpose(image).convert("RGB")
    out = []
    for view in meta["views"]:
        if view == "full":
            made = image.resize((width, height), resample)
        else:
            short, (w, h) = math.floor(height / prep["crop_pct"]), image.size
            size = (short, int(short * h / w)) if w <= h else (int(short * w / h), short)
            made = image.resize(size, resample)
            top, left = round((made.height - height) / 2), round((made.width - width) / 2)
            made = made.crop((left, top, left + width, top + height))
            made = ImageOps.mirror(made) if view == "flip" else made
        pixels = (np.asarray(made, dtype=np.float32) / 255.0 - prep["mean"]) / prep["std"]
        out.append(pixels.transpose(2, 0, 1))
    return np.stack(out).astype(np.float32)


def _recipe_calibrate(p: np.ndarray, calibration: dict) -> np.ndarray:
    c = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    logit = np.log(c / (1 - c))
    if calibration["method"] == "none":
        return p
    if calibration["method"] == "temperature":
        temperature = np.asarray(calibration["temperature"])
        return np.where(temperature == 1.0, p, 1 / (1 + np.exp(-logit / temperature)))
    slope, intercept = np.asarray(calibration["slope"]), np.asarray(calibration["intercept"])
    return np.where((slope == 1) & (intercept == 0), p, 1 / (1 + np.exp(-(slope * logit + intercept))))


def test_the_documented_recipe_reproduces_the_tags_without_tailtag(onnx_file, small_run):
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    meta = {key: json.loads(value) for key, value in session.get_modelmeta().custom_metadata_map.items()}
    paths = _val_paths(small_run)
    views = np.stack([_recipe_views(p, meta) for p in paths])  # (N, V, 3, H, W)
    raw = np.mean([session.run(["probabilities"], {"images": views[:, v]})[0] for v in range(views.shape[1])], 0)
    calibrated = _recipe_calibrate(raw, meta["calibration"])
    tagged = calibrated >= np.asarray(meta["thresholds"]["thresholds"])
    mine = [sorted(np.asarray(meta["labels"])[row].tolist()) for row in tagged]
    tagger = Tagger.load(small_run)
    results = tagger.predict(paths)
    assert mine == [sorted(r.tags) for r in results]
    expected = np.array([[r.probabilities[name] for name in meta["labels"]] for r in results])
    np.testing.assert_allclose(calibrated, expected, atol=1e-4)


def _edited_copy(source, target, **changes):
    proto = onnx.load(str(source))
    for prop in proto.metadata_props:
        if prop.key in changes:
            prop.value = json.dumps(changes[prop.key])
    onnx.save(proto, str(target))
    return target


def test_the_onnx_scorer_refuses_missing_and_mismatched_files(onnx_file, small_run, tmp_path):
    model = load_model(small_run)
    with pytest.raises(
        TailtagError, match=r"(?s)nothing.onnx does not exist.*fix: tailtag export .* --format onnx --out"
    ):
        onnx_scorer(model, tmp_path / "nothing.onnx")
    swapped = _edited_copy(onnx_file, tmp_path / "swapped.onnx", labels=model.names[::-1])
    with pytest.raises(TailtagError, match="exported for other labels .*same names, other order"):
        onnx_scorer(model, swapped)
    renamed = _edited_copy(onnx_file, tmp_path / "renamed.onnx", labels=["x", *model.names[1:]])
    with pytest.raises(TailtagError, match=r"only in the file: \['x'\]"):
        onnx_scorer(model, renamed)
    stale = _edited_copy(onnx_file, tmp_path / "stale.onnx", model_sha256="0" * 64)
    with pytest.raises(TailtagError, match=r"(?s)exported from other weights .*fix: re-export"):
        onnx_scorer(model, stale)


def test_the_cli_reports_size_parity_and_path(small_run, tmp_path, capsys):
    out = tmp_path / "deploy" / "tagger.onnx"
    assert main(["export", str(small_run), "--out", str(out), "--sample", "5"]) == 0
    printed = capsys.readouterr().out
    assert f"to {out} (ONNX opset 17, " in printed and " MB) in " in printed
    assert "parity on 5 validation images x 2 views (center, full): max |p_onnx - p_torch| = " in printed
    assert "tags identical on 5/5 images" in printed
    assert sorted(p.name for p in out.parent.iterdir()) == ["tagger.onnx"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sample", "0"], "--sample must be a positive number of validation images, got 0"),
        (["--opset", "13"], r"--opset must be an integer in \[17, 20\] for the tracer exporter .*got 13"),
        (["--opset", "17", "--exporter", "dynamo"], r"--opset must be an integer in \[18, 23\] for the dynamo"),
        (["--format", "torchscript", "--opset", "18"], "--opset apply to --format onnx only"),
        (["--format", "torchscript", "--exporter", "dynamo"], "--exporter apply to --format onnx only"),
    ],
)
def test_bad_options_exit_2_naming_the_flag(small_run, capsys, argv, message):
    assert main(["export", str(small_run), *argv]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_a_run_without_thresholds_is_refused(small_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(small_run, run, ignore=shutil.ignore_patterns("thresholds.json", "model.onnx"))
    assert main(["export", str(run)]) == 2
    assert "has no thresholds.json" in capsys.readouterr().err and not (run / "model.onnx").exists()

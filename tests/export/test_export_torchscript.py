"""TorchScript export, and both formats on a label-powerset run without a trained top (top_blocks=0)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tailtag.cli import main
from tailtag.export import export_run, load_torchscript, onnx_scorer, read_metadata, torchscript_scorer
from tailtag.inference import Tagger, load_model
from tailtag.thresholds.decision import load_decision


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_torchscript_export_loads_back_and_matches(small_run, tmp_path, capsys):
    out = tmp_path / "model.torchscript.pt"
    assert main(["export", str(small_run), "--format", "torchscript", "--out", str(out), "--sample", "5"]) == 0
    printed = capsys.readouterr().out
    assert f"to {out} (TorchScript, " in printed and "max |p_torchscript - p_torch| = " in printed
    model = load_model(small_run)
    module, reference = load_torchscript(out), model.view_scorer()
    images = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        np.testing.assert_allclose(module(images).numpy(), reference(images).numpy(), atol=1e-6, rtol=0)
    extra = {"labels": "", "thresholds": ""}
    torch.jit.load(str(out), _extra_files=extra)  # what a libtorch consumer sees
    meta = read_metadata(out)
    assert meta.labels == model.names == json.loads(extra["labels"])
    assert meta.thresholds == load_decision(small_run).thresholds.to_dict()
    assert meta.views == ["center", "full"] and meta.preprocess_config() == model.preprocess


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_a_powerset_run_without_a_top_exports(powerset_run, tmp_path, fmt):
    result = export_run(powerset_run, fmt, out=tmp_path / f"model.{fmt}", sample=6)
    assert result.parity.ok and result.parity.max_diff <= 1e-4 and result.parity.source == "validation"
    assert result.metadata.output == "powerset_marginals" and result.metadata.views == ["center"]
    model, decision = load_model(powerset_run), load_decision(powerset_run)
    exported = onnx_scorer(model, result.path) if fmt == "onnx" else torchscript_scorer(load_torchscript(result.path))
    tagger = Tagger(model, decision, scorer=exported)
    views = torch.randn(4, 1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    probabilities = tagger.raw_probabilities(views)
    assert probabilities.shape == (4, len(model.names))
    # marginals of a softmax over label sets: each in [0, 1], and the expected tag count is at most K
    assert (probabilities >= 0).all() and (probabilities <= 1 + 1e-6).all()
    np.testing.assert_allclose(probabilities, Tagger(model, decision).raw_probabilities(views), atol=1e-4, rtol=0)


@pytest.mark.slow
def test_the_dynamo_exporter_gives_parity_too(small_run, tmp_path):
    result = export_run(small_run, "onnx", out=tmp_path / "dynamo.onnx", sample=4, opset=18, exporter="dynamo")
    assert result.parity.ok and result.opset == 18

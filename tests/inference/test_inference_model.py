"""Rebuilding a run's model: same weights, same probabilities as the cached scoring path, clear errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tailtag.data import ImageDataset, collate_images
from tailtag.errors import LabelFileError, TailtagError
from tailtag.inference import load_model, read_run, score_images, scoring_views
from tailtag.models import MultiView, draft_size


def _paths(run) -> list[str]:
    files = read_run(run)
    table = files.training_table()
    return [str(table.resolve(p)) for p in table.paths[:12]]


def test_loaded_weights_are_the_saved_ones(small_run):
    model = load_model(small_run)
    saved = load_file(str(small_run / "model.safetensors"))
    for key, value in model.backbone.model.state_dict().items():
        assert torch.equal(value, saved[f"backbone.{key}"]), key
    for key, value in model.head.state_dict().items():
        assert torch.equal(value, saved[f"head.{key}"]), key
    assert model.names == json.loads((small_run / "labels.json").read_text())["names"]
    assert model.backbone.weights_id == json.loads((small_run / "model.json").read_text())["backbone"]["weights_id"]


def test_view_scorer_reproduces_both_scoring_paths(small_run):
    model = load_model(small_run)
    paths = _paths(small_run)
    direct_path = score_images(model, paths, progress=False, batch_size=5)
    cached = score_images(model, paths, progress=False, cache=True)
    assert cached.ok.all() and cached.probabilities.shape == (12, len(model.names))
    views = scoring_views(model)
    cfg = model.preprocess
    dataset = ImageDataset(paths, MultiView(cfg, views), draft_size=draft_size(cfg, views))
    batch = collate_images([dataset[i] for i in range(len(paths))])
    scorer = model.view_scorer()
    with torch.inference_mode():
        direct = torch.stack([scorer(batch.images[:, v]) for v in range(len(views))]).mean(0).numpy()
    np.testing.assert_allclose(direct, direct_path.probabilities, atol=1e-6)
    np.testing.assert_allclose(direct, cached.probabilities, atol=5e-4)  # the cache stores float16 activations
    assert ((direct > 0) & (direct < 1)).all()


def test_unreadable_images_are_reported_not_raised(small_run, tmp_path):
    model = load_model(small_run)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    for cache in (False, True):
        result = score_images(
            model, [str(bad), *_paths(small_run)[:2]], progress=False, cache=cache, cache_dir=tmp_path
        )
        assert result.ok.tolist() == [False, True, True]
        assert np.isnan(result.probabilities[0]).all() and not np.isnan(result.probabilities[1:]).any()
        assert [problem.path for problem in result.problems] == [str(bad)]


def test_damaged_runs_get_a_clear_error(small_run, tmp_path):
    with pytest.raises(TailtagError, match="does not exist"):
        read_run(tmp_path / "nope")
    copy = tmp_path / "run"
    shutil.copytree(small_run, copy)
    (copy / "model.json").write_text("{broken")
    with pytest.raises(LabelFileError, match="model.json.*not valid JSON"):
        read_run(copy)
    (copy / "model.json").unlink()
    with pytest.raises(TailtagError, match="lacks model.json"):
        read_run(copy)
    shutil.copy(small_run / "model.json", copy / "model.json")
    (copy / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(LabelFileError, match="model.safetensors"):
        load_model(copy)

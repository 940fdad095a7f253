"""extract_features / compute_features: content-keyed hits and misses, exact values, bad images, speed."""

from __future__ import annotations

import csv
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tailtag.errors import OptionError, TailtagError
from tailtag.features import cache as cache_module
from tailtag.features import compute_features, extract_features, open_store, runtime
from tailtag.features import hashing as hashing_module
from tailtag.images import load_image
from tailtag.models import create_backbone, view_transform

MIML = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "miml"


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return create_backbone("test_efficientnet", None, input_size=32)


def _make_images(folder: Path, n: int, seed: int = 0, age_s: float = 3600) -> list[Path]:
    """n distinct random JPEGs of 48 x 40, last modified `age_s` seconds ago (older than the racy window)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = folder / f"img{i}.jpg"
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(path, quality=90)
        os.utime(path, (time.time() - age_s, time.time() - age_s))
        paths.append(path)
    return paths


def _run(backbone, paths, cache, **kwargs):
    kwargs = {"num_workers": 0, "batch_size": 4, "progress": False, **kwargs}
    return compute_features(backbone, paths, cache_dir=cache, **kwargs)


def test_features_equal_the_backbone_on_each_view(backbone, tmp_path):
    paths = _make_images(tmp_path / "img", 3)
    result = _run(backbone, paths, tmp_path / "cache", views=("center", "flip", "full"))
    assert result.features.shape == (3, 3, backbone.num_features) and result.features.dtype == np.float32
    assert result.ok.all() and result.problems == [] and result.n_computed == 9 and result.n_cached == 0
    for v, view in enumerate(result.views):
        images = torch.stack([view_transform(backbone.preprocess, view)(load_image(p)) for p in paths])
        with torch.inference_mode():
            expected = backbone.model(images).numpy()
        np.testing.assert_allclose(result.features[v], expected, rtol=2e-3, atol=2e-3)  # float16 storage
    assert not np.allclose(result.features[0], result.features[1])  # views differ


def test_second_call_is_served_from_the_cache_without_decoding_or_forward(backbone, tmp_path, monkeypatch):
    # What makes a warm cache fast is work not done: no image decoded, no forward pass. The speed itself is
    # measured by benchmarks/bench_features.py (a wall-clock bound here would flake on a loaded machine).
    paths = _make_images(tmp_path / "img", 6)
    cold = _run(backbone, paths, tmp_path / "cache", views=("center", "flip"))
    forwards = []
    hook = backbone.model.register_forward_hook(lambda module, args, out: forwards.append(args[0].shape[0]))

    class NoDecoding(cache_module.ImageDataset):
        def __getitem__(self, index):
            raise AssertionError(f"the warm call decoded image {index}")

    monkeypatch.setattr(cache_module, "ImageDataset", NoDecoding)
    try:
        warm = _run(backbone, paths, tmp_path / "cache", views=("center", "flip"))
    finally:
        hook.remove()
    assert warm.n_computed == 0 and warm.n_cached == 12 and forwards == []
    np.testing.assert_array_equal(warm.features, cold.features)


def test_renamed_images_hit_and_edited_images_miss(backbone, tmp_path):
    paths = _make_images(tmp_path / "img", 4)
    first = _run(backbone, paths, tmp_path / "cache")
    moved = tmp_path / "elsewhere" / "renamed.jpg"
    moved.parent.mkdir()
    shutil.move(paths[0], moved)
    Image.fromarray(np.zeros((40, 48, 3), np.uint8)).save(paths[1])  # edited in place, same name
    again = _run(backbone, [moved, *paths[1:]], tmp_path / "cache")
    assert again.n_computed == 1 and again.n_cached == 3
    np.testing.assert_array_equal(again.features[0, 0], first.features[0, 0])
    assert not np.allclose(again.features[0, 1], first.features[0, 1])
    np.testing.assert_array_equal(again.features[0, 2:], first.features[0, 2:])


def test_new_view_and_other_weights_miss(backbone, tmp_path):
    paths = _make_images(tmp_path / "img", 3)
    _run(backbone, paths, tmp_path / "cache", views=("center",))
    more = _run(backbone, paths, tmp_path / "cache", views=("center", "full"))
    assert more.n_cached == 3 and more.n_computed == 3
    torch.manual_seed(1)
    other = create_backbone("test_efficientnet", None, input_size=32)
    assert _run(other, paths, tmp_path / "cache", views=("center",)).n_computed == 3
    bigger = create_backbone("test_efficientnet", None, input_size=40)  # other preprocessing: other key
    bigger.weights_id = backbone.weights_id
    assert _run(bigger, paths, tmp_path / "cache", views=("center",)).n_computed == 3
    names = sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "cache").iterdir() if p.is_dir())
    assert names == ["test_efficientnet-center"] * 3 + ["test_efficientnet-full"]


def test_identical_files_are_computed_once(backbone, tmp_path):
    paths = _make_images(tmp_path / "img", 2)
    copy = tmp_path / "img" / "copy.jpg"
    shutil.copy(paths[0], copy)
    result = _run(backbone, [paths[0], paths[1], copy], tmp_path / "cache")
    assert result.n_computed == 2
    np.testing.assert_array_equal(result.features[0, 0], result.features[0, 2])


def test_leftover_temp_files_are_ignored(backbone, tmp_path):
    paths = _make_images(tmp_path / "img", 3)
    first = _run(backbone, paths, tmp_path / "cache")
    store_dir = open_store(tmp_path / "cache", backbone, "center").directory
    (store_dir / ".000002-dead.npy.x.tmp").write_bytes(b"half a shard")
    (tmp_path / "cache" / ".content-hashes.npz.y.tmp").write_bytes(b"half an index")
    again = _run(backbone, paths, tmp_path / "cache")
    assert again.n_computed == 0
    np.testing.assert_array_equal(again.features, first.features)


def test_bad_images_fail_or_skip_and_good_ones_are_still_cached(backbone, tmp_path):
    paths = _make_images(tmp_path / "img", 3)
    broken = tmp_path / "img" / "broken.jpg"
    data = paths[0].read_bytes()
    broken.write_bytes(data[: len(data) * 6 // 10])  # a truncated download
    given = [paths[0], broken, tmp_path / "img" / "gone.jpg", paths[1]]
    with pytest.raises(TailtagError, match=r"2 of 4 images cannot be used"):
        extract_features(backbone, given, cache_dir=tmp_path / "cache", num_workers=0, progress=False)
    report = tmp_path / "skipped.csv"
    with pytest.warns(UserWarning) as caught:
        features = extract_features(
            backbone,
            given,
            cache_dir=tmp_path / "cache",
            num_workers=0,
            progress=False,
            on_bad="skip",
            report_path=report,
        )
    messages = [str(warning.message) for warning in caught]
    assert any("skipped 2 of 4 images (1 truncated, 1 missing)" in message for message in messages), messages
    assert np.isnan(features[0, :, 0]).tolist() == [False, True, True, False]
    assert "broken.jpg" in report.read_text() and "gone.jpg" in report.read_text()
    result = _run(backbone, given, tmp_path / "cache")
    assert result.n_cached == 2 and [p.kind for p in result.problems] == ["truncated", "missing"]


def test_worker_processes_give_the_same_features(backbone, tmp_path, monkeypatch):
    monkeypatch.setattr(cache_module, "decode_workers", lambda requested, device_type: requested)  # even on 2 cores
    paths = _make_images(tmp_path / "img", 5)
    (tmp_path / "img" / "bad.jpg").write_text("not an image")
    with_workers = _run(backbone, [*paths, tmp_path / "img" / "bad.jpg"], tmp_path / "a", num_workers=2, batch_size=2)
    in_process = _run(backbone, paths, tmp_path / "b", num_workers=0)
    np.testing.assert_array_equal(with_workers.features[:, :5], in_process.features)
    assert [p.kind for p in with_workers.problems] == ["not an image"]


def test_content_hashes_are_reused_until_the_file_changes(backbone, tmp_path, monkeypatch):
    paths = _make_images(tmp_path / "img", 3)
    fresh = _make_images(tmp_path / "new", 1, seed=5, age_s=0)  # modified just now: racy, never remembered
    calls = []
    real = hashing_module.file_digest
    monkeypatch.setattr(hashing_module, "file_digest", lambda path: calls.append(Path(path).name) or real(path))
    _run(backbone, [*paths, *fresh], tmp_path / "cache")
    assert len(calls) == 4
    calls.clear()
    _run(backbone, [*paths, *fresh], tmp_path / "cache")
    assert calls == ["img0.jpg"]  # only the racy file (tmp_path/new/img0.jpg) is read again
    os.utime(paths[2])  # touched: mtime changed, so the digest is recomputed
    calls.clear()
    _run(backbone, paths, tmp_path / "cache")
    assert calls == ["img2.jpg"]


def test_empty_input_and_bad_arguments(backbone, tmp_path):
    result = _run(backbone, [], tmp_path / "cache", views=("flip", "center"))
    assert result.features.shape == (2, 0, backbone.num_features)
    with pytest.raises(OptionError, match=r"unknown view 'middle'.*\(valid views: center, flip, full\)"):
        _run(backbone, [], tmp_path / "cache", views=("middle",))
    with pytest.raises(OptionError, match="batch_size must be a positive int, got 0"):
        _run(backbone, [], tmp_path / "cache", batch_size=0)


@pytest.mark.parametrize(
    ("cores", "threads", "device_type", "expected"),
    [(2, 2, "cpu", 0), (4, 4, "cpu", 0), (16, 16, "cpu", 2), (32, 16, "cpu", 2), (2, 2, "cuda", 2), (8, 6, "cpu", 2)],
)
def test_decode_workers_leave_the_forward_its_cores(monkeypatch, cores, threads, device_type, expected):
    monkeypatch.setattr(runtime.os, "sched_getaffinity", lambda pid: set(range(cores)))
    monkeypatch.setattr(runtime.torch, "get_num_threads", lambda: threads)
    assert runtime.decode_workers(2, device_type) == expected
    assert runtime.decode_workers(0, device_type) == 0


@pytest.mark.dataset
@pytest.mark.skipif(not MIML.is_dir(), reason="MIML data set not found under ../shared/data")
def test_lite0_features_separate_miml_scenes(tmp_path):
    """Cached ImageNet features of 12 desert, 12 sea and 12 sunset images: leave-one-out nearest centroid."""
    with open(MIML / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    names = ["desert", "mountains", "sea", "sunset", "trees"]
    files, classes = [], []
    for c, label in enumerate(["desert", "sea", "sunset"]):
        chosen = [r["Filenames"] for r in rows if r[label] == "1" and sum(int(r[n]) for n in names) == 1][:12]
        files += [MIML / "images" / name for name in chosen]
        classes += [c] * len(chosen)
    classes = np.array(classes)
    features = extract_features(create_backbone(), files, cache_dir=tmp_path, num_workers=0, progress=False)[0]
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    correct = 0
    for i in range(len(files)):
        others = np.arange(len(files)) != i
        centroids = np.stack([features[others & (classes == c)].mean(axis=0) for c in range(3)])
        correct += int(np.argmax(centroids @ features[i]) == classes[i])
    assert correct / len(files) >= 0.8  # measured 0.92; chance is 0.33

"""`predict_views`: the probabilities of cached features averaged over views (and mirrored maps), written
into one array instead of a list of batches (memory at thousands of labels)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tailtag.models.trunk import predict_views


def _model(in_features: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(in_features, 5)).eval()


def _one_pass(model, features: np.ndarray, flip_shape=None) -> np.ndarray:
    x = torch.from_numpy(features)
    if flip_shape is not None:
        x = x.reshape(-1, *flip_shape).flip(-1)
    with torch.no_grad():
        return torch.sigmoid(model(x)).numpy()


@pytest.mark.parametrize("views", [1, 3])
def test_views_are_averaged_over_batches_of_any_size(views):
    features = np.random.default_rng(0).standard_normal((views, 70, 8)).astype(np.float32)
    model = _model(8)
    with torch.no_grad():
        got = predict_views(model, torch.sigmoid, features, torch.device("cpu"), batch_size=16)
    expected = np.mean([_one_pass(model, view) for view in features], axis=0)
    assert got.shape == (70, 5) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    if views == 1:  # one view: exactly the model's probabilities of the same batches, nothing averaged
        batches = [_one_pass(model, features[0, i : i + 16]) for i in range(0, 70, 16)]
        np.testing.assert_array_equal(got, np.concatenate(batches))


def test_maps_are_averaged_with_their_mirror_image():
    shape = (2, 3, 4)
    features = np.random.default_rng(1).standard_normal((1, 33, 24)).astype(np.float32)
    model = _model(24)
    with torch.no_grad():
        got = predict_views(model, torch.sigmoid, features, torch.device("cpu"), shape, batch_size=10)
    expected = (_one_pass(model, features[0]) + _one_pass(model, features[0], shape)) / 2
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_no_rows_is_an_error():
    with pytest.raises(ValueError, match="no rows"):
        predict_views(_model(4), torch.sigmoid, np.zeros((1, 0, 4), np.float32), torch.device("cpu"))

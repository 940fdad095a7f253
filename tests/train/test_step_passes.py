"""Large steps in slices of rows (`tailtag.train.loop.pass_rows_limit`): the same training, less memory."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import load_file

from tailtag.cli import main
from tailtag.losses import create_loss
from tailtag.train import loop

from .test_train_features import _data


@pytest.mark.parametrize("loss", ["bce", "asl", "powerset"])
def test_a_step_in_slices_trains_the_model_of_the_whole_batch(tmp_path, monkeypatch, loss):
    paths, x, _ = _data(tmp_path, n=200)
    np.savez(tmp_path / "feats.npz", paths=np.array(paths), features=x)
    common = ["--set", "epochs=3", "--set", "head=linear", "--set", f"loss={loss}", "--set", "batch_size=50"]
    argv = ["train", str(tmp_path / "labels.csv"), "--features", str(tmp_path / "feats.npz")]
    assert main([*argv, "--out", str(tmp_path / "whole"), *common]) == 0
    seen = []
    real = loop._forward_backward

    def counted(model, loss_fn, inputs, targets, passes, *args):
        seen.append(passes)
        return real(model, loss_fn, inputs, targets, passes, *args)

    whole = load_file(str(tmp_path / "whole" / "model.safetensors"))
    n_outputs = len(whole["head.fc.bias"])  # 6 labels, or the powerset's label combinations
    monkeypatch.setattr(loop, "_forward_backward", counted)
    monkeypatch.setattr(loop, "PASS_ELEMENTS", 16 * n_outputs)  # 16 rows a pass: a batch of 50 in 4 slices
    assert main([*argv, "--out", str(tmp_path / "sliced"), *common]) == 0
    assert set(seen) == {4}
    sliced = load_file(str(tmp_path / "sliced" / "model.safetensors"))
    assert whole.keys() == sliced.keys()
    for key in whole:  # the same gradients up to float32 summation order
        np.testing.assert_allclose(sliced[key], whole[key], rtol=1e-4, atol=1e-5, err_msg=key)
        assert not np.array_equal(sliced[key], whole[key]) or whole[key].size < 10


def test_only_row_independent_losses_on_models_without_batch_statistics_are_sliced():
    counts, n = np.array([30, 20, 5]), 40
    bce, two_way = (
        create_loss("bce", class_counts=counts, n_samples=n),
        create_loss("two_way", class_counts=counts, n_samples=n),
    )
    assert loop.pass_rows_limit(10_000, bce, model_has_batch_statistics=False) == loop.PASS_ELEMENTS // 10_000
    assert loop.pass_rows_limit(10_000, two_way, model_has_batch_statistics=False) is None
    assert loop.pass_rows_limit(10_000, bce, model_has_batch_statistics=True) is None
    assert loop.step_passes(256, loop.pass_rows_limit(10_000, bce, False)) == 2  # 209 rows a pass
    assert loop.step_passes(256, loop.pass_rows_limit(6_941, bce, False)) == 1  # the seed's tag set: one pass
    assert loop.step_passes(256, None) == 1

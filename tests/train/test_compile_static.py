"""`compile` with static shapes: Dynamo compiles one graph per mode, before epoch 1, never per step or epoch.

The backend is Dynamo's `CompileCounter` (traces, counts frames, runs eagerly), so the test takes seconds on
a CPU; the shapes and guards that decide recompilation are the same as with inductor on a GPU.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch._dynamo.testing import CompileCounter

from tailtag.config import make_config
from tailtag.models import create_backbone, create_head
from tailtag.sampling import create_sampler
from tailtag.train.compile_static import PadToBatch, warm_up
from tailtag.train.distributed import DistInfo
from tailtag.train.finetune_data import EpochBatches
from tailtag.train.finetune_model import FinetuneModel
from tailtag.train.logs import RunLog
from tailtag.train.loop import fit


class _Counter(CompileCounter):
    """A CompileCounter that deep copies (the warm-up copy, the EMA copy) share, as they share a backend name."""

    def __deepcopy__(self, memo):
        return self


N_TRAIN, N_VAL, BATCH, SIDE, K = 21, 11, 4, 32, 3  # neither set is a multiple of the batch


def _model(backend) -> FinetuneModel:
    torch.manual_seed(0)
    backbone = create_backbone("test_efficientnet", "none", input_size=SIDE)
    model = FinetuneModel(backbone.model, create_head("linear", backbone.num_features, K))
    model.compiled = backend
    return model


def _data():
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(N_TRAIN + N_VAL, 3, SIDE, SIDE, generator=generator)
    targets = (torch.rand(N_TRAIN + N_VAL, K, generator=generator) < 0.4).float()
    return images, targets


def _run(tmp_path, backend, *, static: bool) -> None:
    images, targets = _data()
    config = make_config({"mode": "finetune", "epochs": 2, "batch_size": BATCH, "warmup_epochs": 1, "seed": 0})
    sampler = create_sampler("none", np.asarray(targets[:N_TRAIN]), seed=0)
    order = EpochBatches(sampler, BATCH, 0, drop_last=static)
    model = _model(backend)

    def batches(epoch):
        order.set_epoch(epoch)
        for keys in order:
            rows = torch.tensor([row for row, _ in keys])
            yield images[rows], targets[rows]

    def validate(net):
        net = PadToBatch(net, 2 * BATCH) if static else net
        outs = []
        for start in range(N_TRAIN, N_TRAIN + N_VAL, BATCH):
            chunk = images[start : start + BATCH]
            outs.append(torch.sigmoid(net(torch.cat([chunk, chunk.flip(-1)]))).view(2, len(chunk), K).mean(0))
        return targets[N_TRAIN:].numpy(), torch.cat(outs).numpy()

    if static:
        warm_up(model, batch_size=BATCH, eval_batch_size=2 * BATCH, input_size=(SIDE, SIDE), device=torch.device("cpu"))
    compiled_before_epochs = backend.frame_count
    fit(
        model, torch.nn.BCEWithLogitsLoss(), batches=batches, steps_per_epoch=len(order), validate=validate,
        config=config, run_dir=tmp_path, dist=DistInfo(), log=RunLog(tmp_path, progress=False),
        save_best=lambda module, metrics: None,
    )  # fmt: skip
    return compiled_before_epochs


def test_two_epochs_compile_once_per_mode_before_the_first_epoch(tmp_path):
    counter = _Counter()
    torch._dynamo.reset()
    before = _run(tmp_path, counter, static=True)
    assert before == 2  # the training graph and the evaluation graph, in the warm-up
    assert counter.frame_count == 2  # 2 epochs x (5 steps + validation with the EMA copy): no recompilation


def test_without_static_shapes_the_counter_sees_recompilations(tmp_path):
    # The control: partial batches (train 21 = 5 x 4 + 1 dropped as a single image, so 20; val 11 = 4 + 4 + 3)
    # do recompile, so the test above would catch a feed that lost its static shapes.
    counter = _Counter()
    torch._dynamo.reset()
    _run(tmp_path, counter, static=False)
    assert counter.frame_count > 2


@pytest.mark.parametrize("n", [1, 3, 8])
def test_pad_to_batch_returns_the_unpadded_outputs(n):
    model = _model(False).eval()
    images = torch.randn(n, 3, SIDE, SIDE)
    with torch.inference_mode():
        assert torch.allclose(PadToBatch(model, 8)(images), model(images), atol=1e-5)


def test_drop_last_keeps_only_full_batches():
    sampler = create_sampler("none", np.zeros((10, 2)), seed=0)
    order = EpochBatches(sampler, 4, 0, drop_last=True)
    assert [len(batch) for batch in order] == [4, 4] and len(order) == 2
    assert [len(batch) for batch in EpochBatches(sampler, 4, 0)] == [4, 4, 2]
    assert [len(b) for b in EpochBatches(create_sampler("none", np.zeros((3, 2)), seed=0), 4, 0, drop_last=True)] == [3]

"""finetune mode: end to end through the CLI on tiny generated images, freezing, the minority policy, resume."""

from __future__ import annotations

import json
import shutil
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from tailtag.cli import main
from tailtag.config import load_config, make_config
from tailtag.demo import make_demo_dataset
from tailtag.errors import OptionError
from tailtag.models import create_backbone, create_head, train_transform
from tailtag.models.preprocess import PreprocessConfig
from tailtag.sampling import create_sampler
from tailtag.train import finetune_model, loop
from tailtag.train.augment import AugmentedImages, minority_labels, minority_rows
from tailtag.train.finetune_data import EpochBatches
from tailtag.train.finetune_model import FinetuneModel, freeze_plan, gpu_notes, mixed_precision
from tailtag.train.logs import RunLog

MIML = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "miml"
TINY = [
    "mode=finetune",
    "backbone=test_efficientnet",
    "weights=none",
    "image_size=32",
    "epochs=2",
    "batch_size=8",
    "num_workers=0",
    "warmup_epochs=0",
    "lr=0.01",
]


# torch runs on one thread here: tests/train/conftest.py's autouse `one_thread` fixture.


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """40 generated 64 px scenes with 10 long-tailed labels; returns labels.csv."""
    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "data", n_images=40, size=64)


def _train(labels: Path, out: Path, *overrides: str, extra: tuple[str, ...] = ()) -> int:
    sets = [arg for key in (*TINY, *overrides) for arg in ("--set", key)]
    return main(["train", str(labels), "--out", str(out), *sets, *extra])


def _history(run: Path) -> list[dict]:
    return [
        {k: v for k, v in row.items() if k != "seconds"}
        for row in json.loads((run / "metrics.json").read_text())["history"]
    ]


def test_cli_writes_the_run_directory(demo, tmp_path, capsys, run_files):
    run = tmp_path / "run"
    assert _train(demo, run) == 0
    assert {path.name for path in run.iterdir()} == run_files  # the same files as head mode (conftest)
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("macro_f1", "micro_f1", "mAP", "label_accuracy", "subset_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0
    assert [row["epoch"] for row in metrics["history"]] == [1, 2]
    assert metrics["n_train"] + metrics["n_val"] == 40
    assert {p.name for p in (run / "split").iterdir()} >= {"train.txt", "val.txt"}
    weights = load_file(str(run / "model.safetensors"))
    assert {key.split(".")[0] for key in weights} == {"backbone", "head"}
    model_info = json.loads((run / "model.json").read_text())
    assert model_info["backbone"]["preprocess"]["input_size"] == [32, 32]
    err = capsys.readouterr().err
    assert "amp only acts on CUDA; ignored on this cpu run" in err
    assert "minority augmentation: " in err and "get the strong pipeline" in err


def test_resume_after_interruption_matches_an_uninterrupted_run(demo, tmp_path, monkeypatch, interrupt_second_epoch):
    # Reference: decoding in the main process. Interrupted run: one DataLoader worker. Equal results show that
    # an epoch depends on (seed, epoch) alone: not on the worker layout, not on the restart.
    assert _train(demo, tmp_path / "ref", "ema_decay=0.5") == 0
    interrupt_second_epoch()
    assert _train(demo, tmp_path / "run", "ema_decay=0.5", "num_workers=1") == 130
    assert not (tmp_path / "run" / "model.safetensors").exists()
    monkeypatch.undo()
    assert _train(demo, tmp_path / "run", "ema_decay=0.5", "num_workers=1") == 0
    assert _history(tmp_path / "run") == _history(tmp_path / "ref")
    ours, ref = (
        load_file(str(tmp_path / "run" / "model.safetensors")),
        load_file(str(tmp_path / "ref" / "model.safetensors")),
    )
    assert all(torch.equal(ours[key], ref[key]) for key in ref)


def test_finetune_blocks_leaves_the_frozen_layers_untouched(demo, tmp_path):
    torch.manual_seed(1)
    start = create_backbone("test_efficientnet", None).model.state_dict()
    save_file({k: v.contiguous() for k, v in start.items()}, str(tmp_path / "start.safetensors"))
    run = tmp_path / "run"
    assert _train(demo, run, f"weights={tmp_path / 'start.safetensors'}", "finetune_blocks=1", "epochs=1") == 0
    trained = {
        k.removeprefix("backbone."): v
        for k, v in load_file(str(run / "model.safetensors")).items()
        if k.startswith("backbone.")
    }
    assert trained.keys() == start.keys()
    frozen = [k for k in start if not k.startswith(("blocks.4.", "conv_head.", "bn2."))]
    assert any(k.startswith("blocks.3.") for k in frozen) and any(k.endswith("running_var") for k in frozen)
    assert all(torch.equal(trained[k], start[k]) for k in frozen)  # weights and BatchNorm statistics alike
    assert not torch.equal(trained["blocks.4.0.conv_pw.weight"], start["blocks.4.0.conv_pw.weight"])
    assert not torch.equal(trained["bn2.running_mean"], start["bn2.running_mean"])


@pytest.mark.parametrize(
    ("name", "n_blocks", "frozen_prefixes", "trainable_prefixes", "grouping"),
    [
        (
            "test_efficientnet",
            2,
            ("conv_stem.", "bn1.", "blocks.0.", "blocks.2."),
            ("blocks.3.", "conv_head."),
            "blocks",
        ),
        ("test_vit", 1, ("cls_token", "pos_embed", "patch_embed.", "blocks.4."), ("blocks.5.", "norm."), "blocks"),
        ("test_resnet", 1, ("conv1.", "bn1.", "layer1.", "layer3."), ("layer4.",), "timm groups"),
    ],
)
def test_freeze_plan_follows_the_model_structure(name, n_blocks, frozen_prefixes, trainable_prefixes, grouping):
    backbone = create_backbone(name, None).model
    plan = freeze_plan(backbone, n_blocks)
    names = [n for n, _ in backbone.named_parameters()]
    assert plan.grouping == grouping and plan.n_trainable_blocks == n_blocks
    for prefix in frozen_prefixes:
        assert any(n.startswith(prefix) for n in plan.frozen), prefix
    trainable = set(names) - set(plan.frozen)
    for prefix in trainable_prefixes:
        assert any(n.startswith(prefix) for n in trainable) and not any(n.startswith(prefix) for n in plan.frozen)
    assert freeze_plan(backbone, -1).frozen == () and set(freeze_plan(backbone, 0).frozen) == set(names)


def test_too_many_blocks_warns_and_freezes_only_the_stem():
    backbone = create_backbone("test_efficientnet", None).model
    with pytest.warns(UserWarning, match="finetune_blocks=9 but EfficientNet has 5 blocks"):
        plan = freeze_plan(backbone, 9)
    assert set(plan.frozen) == {"conv_stem.weight", "bn1.weight", "bn1.bias"}


def test_frozen_batchnorm_stays_in_eval_mode():
    backbone = create_backbone("test_efficientnet", None).model
    model = FinetuneModel(backbone, create_head("linear", backbone.num_features, 3))
    model.freeze(freeze_plan(backbone, 1))
    model.train()
    assert not model.backbone.bn1.training and not model.backbone.blocks[3][0].bn1.training
    assert model.backbone.blocks[4][0].bn1.training and model.backbone.bn2.training and model.head.training
    before = model.backbone.bn1.running_mean.clone()
    model(torch.randn(4, 3, 32, 32)).sum().backward()
    assert torch.equal(model.backbone.bn1.running_mean, before)
    assert model.backbone.conv_stem.weight.grad is None and model.backbone.conv_head.weight.grad is not None


@pytest.mark.parametrize(
    ("counts", "expected", "rule"),
    [
        ([150, 50, 5, 0], [False, True, True, True], "tail/medium"),  # tail exists: tail + medium
        ([200, 300, 150, 500], [True, False, True, False], "no tail label"),  # median 250
        ([3, 5, 1, 8], [True, False, True, False], "every label is tail or medium"),  # median 4
        ([30, 30, 30], [False, False, False], "below the median"),
    ],
)
def test_minority_labels(counts, expected, rule):
    mask, why = minority_labels(np.array(counts), head_min=101, tail_max=19)
    assert mask.tolist() == expected and rule in why


def test_minority_rows_are_those_with_any_minority_label():
    matrix = sp.csr_matrix(np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 0, 1]]))
    assert minority_rows(matrix, np.array([False, True, True])).tolist() == [False, True, False, True]


def test_rare_label_images_get_the_strong_pipeline(demo):
    paths = sorted(str(p) for p in (demo.parent / "images").glob("*.jpg"))[:6]
    marks = [lambda image, v=v: torch.full((1,), float(v)) for v in (0, 1)]  # identifies the pipeline used
    choice = minority_rows(sp.csr_matrix(np.eye(6, 3, dtype=np.uint8)), np.array([False, False, True])).astype(int)
    assert choice.tolist() == [0, 0, 1, 0, 0, 0]
    dataset = AugmentedImages(paths, marks, choice)
    assert [int(dataset[(row, 0)]["image"].item()) for row in range(6)] == [0, 0, 1, 0, 0, 0]


def test_augmentation_is_a_function_of_the_draw_seed(demo):
    cfg = PreprocessConfig(input_size=(32, 32))
    paths = [str(demo.parent / "images" / "0001.jpg")]
    dataset = AugmentedImages(paths, [train_transform(cfg, "light"), train_transform(cfg, "strong")], np.array([1]))
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first, again, other = dataset[(0, 7)]["image"], dataset[(0, 7)]["image"], dataset[(0, 8)]["image"]
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert torch.equal(torch.get_rng_state(), state)  # the training RNG (dropout) is left alone


def test_epoch_batches_shard_draws_with_their_seeds():
    sampler = create_sampler("none", sp.csr_matrix(np.eye(11, 2, dtype=np.uint8)), seed=3)
    whole = EpochBatches(sampler, 4, seed=5)
    keys = whole.keys(2)
    assert sorted(row for row, _ in keys) == list(range(11))
    shards = [EpochBatches(sampler, 4, seed=5, rank=r, world_size=2).keys(2) for r in range(2)]
    assert shards[0][:5] == keys[0:10:2] and shards[1][:5] == keys[1:10:2]  # same draw, same seed, any world size
    whole.set_epoch(2)
    batches = list(whole)
    assert [len(b) for b in batches] == [4, 4, 3] and len(whole) == 3
    eleventh = EpochBatches(sampler, 5, seed=5)
    assert [len(b) for b in eleventh] == [5, 5] and len(eleventh) == 2  # a last batch of one image is dropped


def test_images_that_break_after_the_header_check_are_reported(demo, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(demo.parent, data)
    broken = [f"images/{k:04d}.jpg" for k in range(1, 41, 4)]
    for name in broken:
        raw = (data / name).read_bytes()
        (data / name).write_bytes(raw[: len(raw) // 2])  # the header still reads; decoding fails
    (data / "images" / "0002.jpg").unlink()
    run = tmp_path / "run"
    assert _train(data / "labels.csv", run, "epochs=1", extra=("--on-bad-image", "skip")) == 0
    rows = (run / "skipped_images.csv").read_text().splitlines()
    assert rows[0] == "path,reason"
    assert sum("0002.jpg" in row and "file not found" in row for row in rows) == 1
    listed = [row for row in rows if "truncated JPEG" in row]
    assert len(listed) == len(broken) and all("(during training)" in r or "(during validation)" in r for r in listed)
    assert "left out of training" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("override", "match"),
    [("finetune_blocks=-2", "'finetune_blocks' must be -1"), ("image_size=4", "'image_size' must be 0")],
)
def test_bad_finetune_options_name_the_key(override, match):
    with pytest.raises(OptionError, match=match):
        load_config(None, [override])


def test_gpu_options_on_cpu_are_noted_not_applied():
    cpu = torch.device("cpu")
    notes = gpu_notes(amp=True, compile_=False, sync_bn=True, device=cpu, world_size=1)
    assert notes == [
        "amp only acts on CUDA; ignored on this cpu run",
        "sync_bn only acts under torchrun with several CUDA processes; ignored",
    ]
    precision = mixed_precision(True, cpu)
    assert precision.name == "float32" and precision.scaler is None


def test_cpu_amp_is_bf16_autocast_only_where_the_cpu_has_it(monkeypatch):
    cpu = torch.device("cpu")
    for native in (True, False):
        monkeypatch.setattr(finetune_model, "cpu_has_native_bf16", lambda native=native: native)
        precision = mixed_precision(False, cpu, cpu_amp=True)
        notes = gpu_notes(amp=False, compile_=False, sync_bn=False, device=cpu, world_size=1, cpu_amp=True)
        with precision.autocast():
            dtype = torch.nn.Linear(4, 2)(torch.ones(1, 4)).dtype
        if native:
            assert precision.name == "bfloat16 autocast" and dtype == torch.bfloat16 and notes == []
        else:
            assert precision.name == "float32" and dtype == torch.float32
            assert notes == ["cpu_amp needs a CPU with native bfloat16 (AVX512-BF16 or AMX); running in float32"]


def test_cpu_amp_and_channels_last_train_end_to_end(demo, tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(demo, run, "cpu_amp=true", "channels_last=true") == 0
    err = capsys.readouterr().err
    precision = "bfloat16 autocast" if finetune_model.cpu_has_native_bf16() else "float32"
    assert f"{precision} on cpu" in err and "channels_last only" not in err and "amp only acts" not in err
    metrics = json.loads((run / "metrics.json").read_text())
    assert all(np.isfinite(row["train_loss"]) for row in metrics["history"])


@pytest.mark.dataset
@pytest.mark.slow
@pytest.mark.skipif(not (MIML / "images").is_dir(), reason="MIML images not found under ../shared/data")
def test_finetune_learns_miml_scenes(tmp_path):
    # 400 images (every 5th: all five classes), ImageNet Lite0 at 96 px, last 2 blocks: well above chance (~0.3 mAP).
    lines = (MIML / "labels.csv").read_text().splitlines()
    (tmp_path / "labels.csv").write_text("\n".join([lines[0], *lines[1::5]]) + "\n")
    run = tmp_path / "run"
    args = ["train", str(tmp_path / "labels.csv"), "--images", str(MIML / "images"), "--out", str(run)]
    for key in (
        "mode=finetune",
        "image_size=96",
        "finetune_blocks=2",
        "epochs=2",
        "batch_size=32",
        "warmup_epochs=0",
        "num_workers=1",
        "head=linear",
        "lr=0.003",
    ):
        args += ["--set", key]
    assert main(args) == 0
    assert json.loads((run / "metrics.json").read_text())["mAP"] > 0.6


def test_autocast_and_loss_scaling_hooks_of_the_loop():
    # CPU stands in for CUDA: bfloat16 autocast and a GradScaler go through the same calls.
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    before = model.weight.detach().clone()
    config = make_config({"epochs": 1, "warmup_epochs": 0, "grad_clip": 1.0})
    entered = []

    @contextmanager
    def autocast():
        entered.append(True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            yield

    batch = (torch.randn(8, 4), torch.randint(0, 2, (8, 3)).float())
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    mean_loss, bad = loop.train_one_epoch(
        model,
        nn.BCEWithLogitsLoss(),
        loop.make_optimizer(model, config),
        lambda epoch: iter([batch] * 3),
        epoch=0,
        steps_per_epoch=3,
        config=config,
        ema=None,
        plateau_scale=1.0,
        log=RunLog(None, enabled=False),
        autocast=autocast,
        scaler=scaler,
    )
    assert len(entered) == 3 and bad == 0 and np.isfinite(mean_loss)
    assert not torch.equal(model.weight, before) and scaler.get_scale() == 1024.0

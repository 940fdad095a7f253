"""The embeddings commands (`train --features`, `evaluate`, `predict --features`) never import the image stack.

torchvision (with the torch._dynamo it imports) and timm cost ~120 MB of private memory and ~1.5 s of start-up,
and a head trained on vectors computed elsewhere uses neither. Each check runs in a fresh interpreter, since this
test process has long imported them.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

IMAGE_STACK = ("torchvision", "timm", "torch._dynamo")

# The modules the three commands import before they do any work (tailtag.cli imports the command module, its
# `run` then imports the library function).
COMMAND_MODULES = (
    "tailtag.commands.train",
    "tailtag.train.from_features",
    "tailtag.commands.evaluate",
    "tailtag.evaluation",
    "tailtag.evaluation.run_eval",
    "tailtag.commands.predict",
    "tailtag.predict.from_features",
)

# Runs one command as `python -m tailtag` would, then reports which of IMAGE_STACK it imported, on the last line.
_RUN_CLI = f"""
import json, sys
from tailtag.cli import main
code = main(sys.argv[1:])
print("\\nimported:", json.dumps([m for m in {IMAGE_STACK!r} if m in sys.modules]))
sys.exit(code)
"""


def _python(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}  # this process's tailtag, not another install
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, timeout=300)


def _imported_by(*command: str) -> list[str]:
    result = _python("-c", _RUN_CLI, *command)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads(result.stdout.rsplit("imported:", 1)[1])


def test_importing_the_embeddings_commands_leaves_out_the_image_stack():
    code = f"import sys, {', '.join(COMMAND_MODULES)}; print([m for m in {IMAGE_STACK!r} if m in sys.modules])"
    result = _python("-c", code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_train_evaluate_predict_on_embeddings_never_import_torchvision_or_timm(tmp_path):
    rng = np.random.default_rng(0)
    names, n = ("cat", "dog", "sun"), 60
    y = rng.random((n, len(names))) < 0.4
    x = (y @ rng.normal(size=(len(names), 8)) + rng.normal(size=(n, 8))).astype(np.float32)
    paths = [f"img/{i:03d}.jpg" for i in range(n)]
    with open(tmp_path / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["img_path", "tags"])
        writer.writerows([path, "|".join(np.array(names)[row])] for path, row in zip(paths, y, strict=True))
    features, run = tmp_path / "f.npz", tmp_path / "run"
    np.savez(features, paths=np.array(paths), features=x)

    trained = _imported_by("train", str(tmp_path / "labels.csv"), "--features", str(features), "--out", str(run),
                           "--set", "epochs=1")  # fmt: skip
    # torch's own optimizers import torch._dynamo (AdamW's add_param_group is wrapped in torch._disable_dynamo)
    assert [m for m in trained if m != "torch._dynamo"] == []
    assert _imported_by("evaluate", str(run), "--json") == []
    assert _imported_by("predict", str(run), "--features", str(features), "--out", str(tmp_path / "p.csv")) == []
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 1 + n

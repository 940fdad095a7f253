"""benchmarks/gpu_suite.py without a GPU and without tailtag's dependencies that GPU machines lack: it says so,
runs the CPU checks, prints the table and exits 0. The suite's modules are imported under the same blocker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "benchmarks" / "gpu_suite.py"


def _run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run(
        [sys.executable, str(SUITE), *args], env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path
    )


@pytest.mark.slow
def test_cpu_only_run_under_the_import_blocker(tmp_path):
    out = tmp_path / "table.json"
    result = _run("--block-extras", "--miml", str(tmp_path / "absent"), "--json", str(out), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "no CUDA device: CPU checks only" in result.stderr
    rows = {row["check"]: row["status"] for row in json.loads(out.read_text())}
    assert rows["pipeline parity (CPU)"] == "PASS" and rows["compile count (CPU)"] == "PASS"
    assert rows["lite0 finetune"] == "SKIP" and "| check" in result.stdout


def test_the_gpu_path_imports_without_the_blocked_packages(tmp_path):
    code = (
        "import sys; sys.path.insert(0, {bench!r}); import gpu_suite; gpu_suite.block_extras()\n"
        "import bench_finetune, pack_weights\n"
        "import tailtag.cli, tailtag.commands.train, tailtag.commands.evaluate, tailtag.commands.split\n"
        "import tailtag.train.finetune, tailtag.train.run, tailtag.features, tailtag.data.device_pipeline\n"
        "import tailtag.train.compile_static, tailtag.train.optim\n"
        "blocked = [n for n in gpu_suite.NOT_ON_GPU_MACHINES if sys.modules.get(n) is not None]\n"
        "assert not blocked, blocked\n"
        "try:\n    import jinja2\nexcept ModuleNotFoundError:\n    print('blocked ok')\n"
    ).format(bench=str(ROOT / "benchmarks"))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "blocked ok" in result.stdout

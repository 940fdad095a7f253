"""Damaged and malicious run directories through the CLI: predict, evaluate, export and serve each end with exit 2
and one message naming the file and the fix, never a traceback and never a network connection.

The cases are copies of the shared small run (tests/conftest.py) with one file changed, as a partial copy, a
hand edit or a hostile sender would leave it. The assertions are on exit codes and message substrings only.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tailtag.cli import main


@pytest.fixture
def no_network(monkeypatch) -> list[str]:
    """Every connection attempt, and every name lookup but the loopback one `serve` binds with, fails and is
    recorded (the returned list)."""
    attempts: list[str] = []
    lookup = socket.getaddrinfo

    def refuse(what: str) -> Callable:
        def refused(*args, **kwargs):
            attempts.append(f"{what}{args}")
            raise OSError(f"network access in a test: {what}")

        return refused

    def loopback_only(host, *args, **kwargs):
        if host in ("127.0.0.1", "::1", "localhost"):
            return lookup(host, *args, **kwargs)
        return refuse("getaddrinfo")(host)

    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    return attempts


def _edit_json(name: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        data = json.loads((run / name).read_text())
        change(data)
        (run / name).write_text(json.dumps(data))

    return edit


def _backbone(name) -> Callable[[Path], None]:
    return _edit_json("model.json", lambda model: model["backbone"].__setitem__("name", name))


def _write(name: str, content: bytes) -> Callable[[Path], None]:
    return lambda run: (run / name).write_bytes(content)


def _truncate(name: str) -> Callable[[Path], None]:
    return lambda run: (run / name).write_bytes((run / name).read_bytes()[: (run / name).stat().st_size // 2])


_HUB = "not a plain timm model name: source prefixes (hf-hub:, local-dir:) and paths are refused"
_TRUSTED = "fix: restore the run directory from a copy you trust, or retrain"

#: name -> (damage, file named in the message, what the message says, the fix it gives)
CASES = {
    "hub backbone": (_backbone("hf-hub:timm/resnet18.a1_in1k"), "model.json", _HUB, _TRUSTED),
    "local-dir backbone": (_backbone("local-dir:/tmp"), "model.json", _HUB, _TRUSTED),
    "path backbone": (_backbone("../../x"), "model.json", _HUB, _TRUSTED),
    "unknown backbone": (_backbone("no_such_net"), "model.json", "unknown backbone 'no_such_net'", _TRUSTED),
    "backbone not a string": (_backbone(7), "model.json", "must be a timm model name (a non-empty string)", _TRUSTED),
    "backbone not an object": (
        _edit_json("model.json", lambda model: model.__setitem__("backbone", "resnet18")),
        "model.json",
        "key 'backbone' must be an object",
        _TRUSTED,
    ),
    "missing weights": (lambda run: (run / "model.safetensors").unlink(), "", "lacks model.safetensors", "fix: "),
    "zero-byte weights": (_write("model.safetensors", b""), "model.safetensors", "cannot be read", "fix: retrain"),
    "truncated weights": (_truncate("model.safetensors"), "model.safetensors", "cannot be read", "fix: retrain"),
    "fewer labels than outputs": (
        _edit_json("labels.json", lambda labels: labels.__setitem__("names", labels["names"][:-2])),
        "labels.json",
        "labels, but the model's head has",
        "fix: labels.json must come from the same run as the model",
    ),
    "more labels than outputs": (
        _edit_json("labels.json", lambda labels: labels["names"].append("extra")),
        "labels.json",
        "labels, but the model's head has",
        "fix: labels.json must come from the same run as the model",
    ),
    "repeated label": (
        _edit_json("labels.json", lambda labels: labels["names"].__setitem__(1, labels["names"][0])),
        "labels.json",
        "key 'names' repeats",
        _TRUSTED,
    ),
    "head size not the weights'": (
        _edit_json("model.json", lambda model: model["head"].__setitem__("n_outputs", 3)),
        "labels.json",
        "labels, but the model's head has 3 outputs",
        "fix: labels.json must come from the same run as the model",
    ),
    "garbage labels.json": (_write("labels.json", b"{broken"), "labels.json", "not valid JSON", "fix: retrain"),
    "garbage model.json": (_write("model.json", b"\xff\xfe\x00"), "model.json", "not valid JSON", "fix: retrain"),
    "model.json a list": (_write("model.json", b"[1, 2]"), "model.json", "must hold a JSON object", "fix: retrain"),
}


@pytest.fixture
def damaged(small_run, tmp_path) -> Callable[[str], Path]:
    """`damaged(case)`: a copy of the small run with the damage of CASES[case] applied."""

    def make(case: str) -> Path:
        run = tmp_path / "run"
        shutil.copytree(small_run, run, ignore=shutil.ignore_patterns("tensorboard"))
        CASES[case][0](run)
        return run

    return make


def _argv(command: str, run: Path, tmp_path: Path, images: Path) -> list[str]:
    return {
        "predict": ["predict", str(run), str(images), "--out", str(tmp_path / "p.csv"), "--quiet"],
        "evaluate": ["evaluate", str(run), "--no-report", "--out", str(tmp_path / "eval")],
        "export": ["export", str(run), "--out", str(tmp_path / "m.onnx")],
        "serve": ["serve", str(run), "--port", "0"],
    }[command]


def _check(run: Path, case: str, command: str, images: Path, capsys, no_network: list[str]) -> None:
    _, file, problem, fix = CASES[case]
    capsys.readouterr()
    assert main(_argv(command, run, run.parent, images)) == 2, case
    err = capsys.readouterr().err
    assert err.startswith(f"tailtag {command}: error: ") and "Traceback" not in err, err
    assert str(run / file) in err and problem in err and fix in err, err
    assert no_network == [], no_network


@pytest.fixture
def never_serves(monkeypatch):
    """Should a damaged run load after all, `tailtag serve` fails instead of serving forever."""
    import uvicorn

    def refuse(*args, **kwargs):
        raise AssertionError("tailtag serve started serving a damaged run")

    monkeypatch.setattr(uvicorn.Server, "run", refuse)


@pytest.mark.parametrize("case", list(CASES))
def test_predict_refuses_a_damaged_run(case, damaged, small_run, tmp_path, capsys, no_network):
    _check(damaged(case), case, "predict", small_run.parent / "data" / "images", capsys, no_network)
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("case", ["hub backbone", "truncated weights", "fewer labels than outputs"])
@pytest.mark.parametrize("command", ["evaluate", "export", "serve"])
def test_evaluate_export_and_serve_refuse_a_damaged_run(
    command, case, damaged, small_run, capsys, no_network, never_serves
):
    _check(damaged(case), case, command, small_run.parent / "data" / "images", capsys, no_network)


def test_reading_an_intact_run_builds_the_backbone_offline(small_run, tmp_path, capsys, no_network, monkeypatch):
    """Nothing is downloaded when a run is read: timm builds an empty model (pretrained=False), no connection."""
    import timm

    calls = []
    real_create_model = timm.create_model

    def recording(name, *args, **kwargs):
        calls.append((name, kwargs.get("pretrained")))
        return real_create_model(name, *args, **kwargs)

    monkeypatch.setattr(timm, "create_model", recording)
    assert main(_argv("predict", small_run, tmp_path, small_run.parent / "data" / "images")) == 0, (
        capsys.readouterr().err
    )
    assert calls == [("tf_efficientnet_lite0", False)] and no_network == []

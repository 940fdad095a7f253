"""`tailtag serve` as a user runs it: a real process, its printed URL, Ctrl+C; flag and port errors."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tailtag.cli import main


@pytest.mark.slow
def test_serve_process_end_to_end(small_run, images, tagger):
    command = [sys.executable, "-m", "tailtag", "serve", str(small_run), "--port", "0", "--max-batch", "4",
               "--max-images", "2", "--threads", "1", "--log-level", "warning"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        url = _wait_for_url(lines, process)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        _wait_healthy(url)
        files = [("images", (p.name, p.read_bytes())) for p in images[:2]]
        answer = httpx.post(f"{url}/v1/tags", files=files, timeout=30).json()
        assert [r["tags"] for r in answer["results"]] == [t.tags for t in tagger.predict(images[:2])]
        refused = httpx.post(f"{url}/v1/tags", files=[("images", (p.name, p.read_bytes())) for p in images[:3]])
        assert refused.status_code == 413 and "limit of 2" in refused.json()["error"]["message"]
        assert httpx.get(f"{url}/docs").status_code == 404  # docs only with --docs
    finally:
        process.send_signal(signal.SIGINT)
        status = process.wait(timeout=30)
        reader.join(timeout=5)
    output = "".join(lines)
    assert status == 0, output
    assert "run run (10 labels, torch backend)" in output and "Traceback" not in output


def _wait_for_url(lines: list[str], process: subprocess.Popen) -> str:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for line in lines:
            match = re.search(r"at (http://\S+)", line)
            if match:
                return match.group(1)
        if process.poll() is not None:
            pytest.fail("tailtag serve exited early:\n" + "".join(lines))
        time.sleep(0.1)
    pytest.fail("tailtag serve printed no URL in 90 s:\n" + "".join(lines))


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz").json()["status"] == "ok":
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"{url}/healthz never answered")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max-batch", "0"], "--max-batch must be an integer >= 1, got 0"),
        (["--max-request-mb", "-2"], "--max-request-mb must be a number > 0"),
        (["--max-queue", "4", "--max-images", "8"], "--max-queue (4) must be >= --max-images (8)"),
        (["--port", "70000"], "--port must be in 0..65535"),
        (["--threads", "0"], "--threads must be >= 1"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(tmp_path, capsys, flags, message):
    assert main(["serve", str(tmp_path), *flags]) == 2
    assert message in capsys.readouterr().err


def test_busy_port_and_missing_run(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", str(tmp_path), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "pick another --port" in err
    assert main(["serve", str(tmp_path / "nope"), "--port", "0"]) == 2
    assert "does not exist" in capsys.readouterr().err

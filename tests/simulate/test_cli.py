"""`jetson-exporter simulate` as users run it."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import List

import pytest

from testkit.core import free_port
from testkit.e2e import poll


def simulate(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jetson_exporter", "simulate", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.mark.parametrize(("args", "message"), [
    (["--nodes", "0"], "--nodes must be at least 1"),
    (["--model", "tx2"], "invalid choice: 'tx2'"),
    (["--scenario", "meltdown"], "invalid choice: 'meltdown'"),
    (["--port", "65535", "--nodes", "2"], "not all valid TCP ports"),
    (["--tick", "0s"], "duration must be positive"),
])
def test_bad_flags_are_one_line_and_exit_2(args: List[str], message: str) -> None:
    result = simulate(*args)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_port_in_use_is_one_line_and_exit_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = simulate("--port", str(port))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1 (ports from {port})" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_small_fleet_runs_for_its_duration_and_writes_its_targets(tmp_path: Path) -> None:
    targets = tmp_path / "targets.json"
    result = simulate("--nodes", "3", "--port", "0", "--tick", "200ms", "--duration", "1s",
                      "--targets-file", str(targets), "--root", str(tmp_path / "trees"), "--log.level", "warn")
    assert result.returncode == 0, result.stderr
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert [line[:3] for line in lines] == [["sim-agx-orin-jp6-000", "agx-orin-jp6", "waves"],
                                            ["sim-orin-nano-jp6-001", "orin-nano-jp6", "waves"],
                                            ["sim-xavier-nx-jp5-002", "xavier-nx-jp5", "waves"]]
    groups = json.loads(targets.read_text())
    assert [g["targets"][0] for g in groups] == [line[3][len("http://"):-len("/metrics")] for line in lines]
    assert (tmp_path / "trees" / "sim-orin-nano-jp6-001" / "sys" / "class" / "thermal").is_dir()  # --root keeps them


def test_a_board_serves_metrics_and_truth_until_it_is_stopped() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "jetson_exporter", "simulate", "--model", "thor-jp7",
                             "--scenario", "inference", "--port", str(port), "--log.level", "warn"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def metrics() -> bytes:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                return bytes(response.read())

        body = poll(metrics, 60, "the board's metrics")
        assert b'jetson_info{cuda_arch="11.0"' in body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/truth", timeout=5) as response:
            truth = json.load(response)
        assert (truth["name"], truth["scenario"]) == ("sim-thor-jp7-000", "inference")
        assert truth["records"][0]["gpu_load"] is None  # Thor has no load file: no made-up GPU load either
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.startswith(f"sim-thor-jp7-000\tthor-jp7\tinference\thttp://127.0.0.1:{port}/metrics")

"""The command line: one-line errors, --once, paths, collectors, a clean SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from jetson_exporter.cli import build_parser, enabled_collectors, paths_from_args
from jetson_exporter.paths import Paths
from testkit.core import free_port

EXPORTER = [sys.executable, "-m", "jetson_exporter"]


def _run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXPORTER, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args", [
    ["--no-such-flag"],
    ["--sampler.interval", "fast"],
    ["--web.listen-address", "nowhere"],
    ["--source", "magic"],
])
def test_a_bad_flag_is_one_line_and_exit_code_2(args) -> None:  # type: ignore[no-untyped-def]
    result = _run(*args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("jetson-exporter: error:")


def test_an_unreadable_web_config_is_one_line_and_exit_code_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = _run("--web.config.file", str(tmp_path / "missing.yml"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "missing.yml" in result.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("tls_server_config:\n  cert_file: x.crt\n  kye_file: typo\n")
    result = _run("--web.config.file", str(bad))
    assert result.returncode == 2 and "unknown field 'kye_file'" in result.stderr


def test_once_on_a_machine_that_is_not_a_jetson_exports_what_it_can(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "meminfo").write_text("MemTotal:        8000000 kB\nMemFree:  1000 kB\n")
    result = _run("--once", "--root", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "jetson_exporter_device_detected 0.0" in result.stdout
    assert "jetson_memory_total_bytes 8.192e+09" in result.stdout
    assert "jetson_info" not in result.stdout


def test_root_sets_every_path_and_explicit_paths_win() -> None:
    args = build_parser().parse_args(["--root", "/host"])
    assert paths_from_args(args) == Paths("/host/sys", "/host/proc", "/host", "/host/sys/kernel/debug")
    args = build_parser().parse_args(["--root", "/host", "--path.procfs", "/p"])
    assert paths_from_args(args).procfs == "/p"
    args = build_parser().parse_args(["--path.sysfs", "/s"])
    assert paths_from_args(args) == Paths("/s", "/proc", "/", "/s/kernel/debug")


def test_collectors_can_be_switched_off_or_chosen() -> None:
    parser = build_parser()
    everything = enabled_collectors(parser.parse_args([]))
    assert "gpu" in everything and "power" in everything
    assert "fan" not in enabled_collectors(parser.parse_args(["--no-collector.fan"]))
    assert enabled_collectors(parser.parse_args(["--collector.gpu", "--collector.power"])) == ["gpu", "power"]


def test_help_lists_flags_and_subcommands() -> None:
    result = _run("--help")
    assert result.returncode == 0
    for text in ("--web.listen-address", "--path.sysfs", "--collector.gpu", "--sampler.interval", "manifests",
                 "doctor"):
        assert text in result.stdout


def test_serving_logs_one_line_when_no_jetson_is_found_and_stops_cleanly_on_sigterm(tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    proc = subprocess.Popen([*EXPORTER, "--root", str(tmp_path), "--web.listen-address", f"127.0.0.1:{port}"],
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        body = b""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as response:
                    body = response.read()
                    break
            except OSError:
                time.sleep(0.02)
        assert b"jetson_exporter_device_detected 0.0" in body
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        stderr = proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
    warnings = [line for line in stderr.splitlines() if "no Jetson detected" in line]
    assert len(warnings) == 1
    assert os.path.join(str(tmp_path), "etc", "nv_tegra_release") in warnings[0]

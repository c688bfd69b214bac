"""`--source=tegrastats`: runs tegrastats (here a fake one) or follows a file or FIFO, restarts it
with backoff, serves the latest line, and fails instead of serving stale data."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import pytest

from jetson_exporter.cli import build_parser
from jetson_exporter.snapshot import Snapshot
from jetson_exporter.sources.tegrastats import LineSplitter, TegrastatsCollector, make_collector
from testkit.core import FakeClock, parse_exposition

MIB = 1024.0 * 1024.0
Sample = Callable[..., str]
WaitFor = Callable[..., object]


def ram_line(used_mb: int) -> str:
    return f"RAM {used_mb}/7772MB (lfb 237x4MB) CPU [9%@1190,off] GR3D_FREQ 62%@306 VDD_IN 4067/4067"


def used_mb(snapshot: Snapshot) -> Optional[float]:
    return snapshot.memory.used_bytes / MIB if snapshot.memory and snapshot.memory.used_bytes else None


def try_read(collector: TegrastatsCollector) -> Optional[Snapshot]:
    try:
        return collector.read()
    except RuntimeError:
        return None


@pytest.fixture
def collectors() -> Iterator[List[TegrastatsCollector]]:
    started: List[TegrastatsCollector] = []
    yield started
    for collector in started:
        collector.close()


def start(collectors: List[TegrastatsCollector], **kwargs: object) -> TegrastatsCollector:
    kwargs.setdefault("interval_s", 1.0)
    kwargs.setdefault("first_wait_s", 0.0)
    kwargs.setdefault("backoff_s", 0.01)
    collector = TegrastatsCollector(**kwargs)  # type: ignore[arg-type]
    collectors.append(collector)
    collector.start()
    return collector


# -- running tegrastats ----------------------------------------------------------------------------

def test_runs_tegrastats_with_the_interval_and_serves_the_latest_line(
        fake_tegrastats: Callable[..., Path], starts: Callable[[], List[str]], wait_for: WaitFor,
        collectors: List[TegrastatsCollector]) -> None:
    binary = fake_tegrastats([ram_line(100), ram_line(200), ram_line(300)], hold=True)
    args = build_parser().parse_args(["--source", "tegrastats", "--tegrastats.path", str(binary),
                                      "--tegrastats.interval", "500ms"])
    collector = make_collector(args)
    collectors.append(collector)
    assert collector.name == "tegrastats"
    wait_for(lambda: (s := try_read(collector)) is not None and used_mb(s) == 300, what="the third line")
    assert starts() == ["--interval 500"]
    snapshot = collector.read()
    assert snapshot.gpu is not None and snapshot.gpu.utilization == pytest.approx(0.62)
    assert [c.online for c in snapshot.cpus] == [True, False]
    assert collector.errors == [] and collector.lines_total == 3 and collector.restarts_total == 0


def test_the_sampler_interval_is_the_default_tegrastats_interval(
        fake_tegrastats: Callable[..., Path], starts: Callable[[], List[str]], wait_for: WaitFor,
        collectors: List[TegrastatsCollector]) -> None:
    binary = fake_tegrastats([ram_line(1)], hold=True)
    args = build_parser().parse_args(["--source", "tegrastats", "--tegrastats.path", str(binary),
                                      "--sampler.interval", "2s"])
    collectors.append(make_collector(args))
    wait_for(starts, what="tegrastats to start")
    assert starts() == ["--interval 2000"]


def test_the_first_read_waits_for_the_first_line(
        fake_tegrastats: Callable[..., Path], collectors: List[TegrastatsCollector]) -> None:
    """A scrape right after start-up has data rather than a failed collector."""
    binary = fake_tegrastats([ram_line(42)], hold=True)
    collector = start(collectors, command=[str(binary)], first_wait_s=30.0)
    assert used_mb(collector.read()) == 42


def test_an_exiting_tegrastats_is_restarted(
        fake_tegrastats: Callable[..., Path], starts: Callable[[], List[str]], wait_for: WaitFor,
        collectors: List[TegrastatsCollector]) -> None:
    binary = fake_tegrastats([ram_line(7), "tegrastats: something went wrong"], exit_code=3)
    collector = start(collectors, command=[str(binary), "--interval", "1000"])
    wait_for(lambda: len(starts()) >= 3, what="two restarts")
    assert used_mb(collector.read()) == 7
    assert collector.restarts_total >= 2
    assert any(e.endswith("exited with code 3: tegrastats: something went wrong; restarting in 0.01s")
               for e in collector.errors), collector.errors


def test_restarts_back_off_exponentially_while_nothing_works(
        fake_tegrastats: Callable[..., Path], starts: Callable[[], List[str]], wait_for: WaitFor,
        collectors: List[TegrastatsCollector]) -> None:
    binary = fake_tegrastats(["error: cannot open /dev/nvhost-ctrl"], exit_code=1)
    collector = start(collectors, command=[str(binary)], backoff_s=0.01, max_backoff_s=0.04)
    wait_for(lambda: len(starts()) >= 5, what="four restarts")
    with pytest.raises(RuntimeError) as failure:
        collector.read()
    errors = collector.errors
    delays = [e.rsplit("restarting in ", 1)[1] for e in errors if "restarting in" in e]
    assert delays[:4] == ["0.01s", "0.02s", "0.04s", "0.04s"]
    assert "not a tegrastats line: 'error: cannot open /dev/nvhost-ctrl'" in errors
    assert str(failure.value).startswith(f"no tegrastats line yet from {binary} (")


def test_a_binary_that_cannot_run_is_retried_and_reported(
        tmp_path: Path, wait_for: WaitFor, collectors: List[TegrastatsCollector]) -> None:
    binary = tmp_path / "tegrastats"
    binary.write_text("not executable")
    collector = start(collectors, command=[str(binary)])
    wait_for(lambda: collector.restarts_total >= 2, what="retries")
    with pytest.raises(RuntimeError, match=r"cannot run .*tegrastats: Permission denied; restarting in"):
        collector.read()


def test_a_missing_tegrastats_is_a_start_up_error(tmp_path: Path) -> None:
    args = build_parser().parse_args(["--source", "tegrastats", "--tegrastats.path", str(tmp_path / "nope")])
    with pytest.raises(ValueError, match=r"tegrastats not found: .* is not an executable file or on PATH"):
        make_collector(args)
    result = subprocess.run([sys.executable, "-m", "jetson_exporter", "--source", "tegrastats",
                             "--tegrastats.path", str(tmp_path / "nope"), "--once"], capture_output=True, timeout=60)
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.decode().count("\n") == 1
    assert result.stderr.startswith(b"jetson-exporter: error: tegrastats not found")


def test_close_stops_tegrastats(fake_tegrastats: Callable[..., Path], wait_for: WaitFor,
                                collectors: List[TegrastatsCollector]) -> None:
    binary = fake_tegrastats([ram_line(1)], hold=True)
    collector = start(collectors, command=[str(binary)])
    wait_for(lambda: try_read(collector), what="a line")
    proc = collector._proc
    assert proc is not None and proc.poll() is None
    collector.close()
    assert proc.poll() is not None
    assert collector._thread is not None and not collector._thread.is_alive()


def test_bad_output_is_counted_and_good_lines_still_served(
        fake_tegrastats: Callable[..., Path], wait_for: WaitFor, collectors: List[TegrastatsCollector]) -> None:
    binary = fake_tegrastats(["\x00\x00garbage", ram_line(5) + " NEWTHING 1", "x" * 100_000, ram_line(6)],
                             raw=b"\xff\xfe RAM 9/9MB " + b"\n", hold=True)
    collector = start(collectors, command=[str(binary)])
    wait_for(lambda: collector.lines_total >= 4, what="every line")
    snapshot = collector.read()
    assert used_mb(snapshot) == 9  # the invalid bytes are an unknown token; the rest of the line counts
    assert collector.bad_lines_total == 2
    assert collector.unknown_tokens_total == 3  # NEWTHING, 1, and the undecodable bytes
    assert collector.errors == ["not a tegrastats line: '\\x00\\x00garbage'", "skipped a line longer than 64 KiB"]
    assert collector.read() is snapshot and collector.errors == []  # reported once


# -- following a file or FIFO ----------------------------------------------------------------------

def test_follows_a_log_file_from_its_end_and_fails_when_it_goes_quiet(
        tmp_path: Path, wait_for: WaitFor, collectors: List[TegrastatsCollector]) -> None:
    log = tmp_path / "tegrastats.log"
    log.write_text(ram_line(1) + "\n")  # history: not what the board does now
    clock = FakeClock()
    collector = start(collectors, file=str(log), interval_s=1.0, clock=clock)
    with pytest.raises(RuntimeError, match=f"no tegrastats line yet from {log}$"):
        collector.read()
    with open(log, "a") as fh:
        fh.write(ram_line(2) + "\n" + ram_line(3)[:20])  # the second line is still being written
    wait_for(lambda: try_read(collector), what="the appended line")
    assert used_mb(collector.read()) == 2
    clock.advance(3.5)  # three intervals without a line: absent rather than stale
    with pytest.raises(RuntimeError, match=f"no tegrastats line for 3.5s from {log}$"):
        collector.read()
    with open(log, "a") as fh:
        fh.write(ram_line(3)[20:] + "\n")
    wait_for(lambda: (s := try_read(collector)) is not None and used_mb(s) == 3, what="the completed line")


def test_follows_a_rotated_or_truncated_log(tmp_path: Path, wait_for: WaitFor,
                                           collectors: List[TegrastatsCollector]) -> None:
    log = tmp_path / "tegrastats.log"
    log.write_text("")
    collector = start(collectors, file=str(log), interval_s=0.2)
    with open(log, "a") as fh:
        fh.write(ram_line(1) * 3 + "\n")  # one long (unparsable-in-part) line, to have an offset to go back from
        fh.write(ram_line(2) + "\n")
    wait_for(lambda: (s := try_read(collector)) is not None and used_mb(s) == 2, what="line 2")
    log.write_text(ram_line(3) + "\n")  # truncated and rewritten in place
    wait_for(lambda: (s := try_read(collector)) is not None and used_mb(s) == 3, what="line 3 after truncation")
    rotated = tmp_path / "new.log"
    rotated.write_text(ram_line(4) + "\n")
    os.replace(rotated, log)  # logrotate: a new file at the path
    wait_for(lambda: (s := try_read(collector)) is not None and used_mb(s) == 4, what="line 4 after rotation")


def test_a_missing_file_is_retried_until_it_appears(tmp_path: Path, wait_for: WaitFor,
                                                    collectors: List[TegrastatsCollector]) -> None:
    log = tmp_path / "later.log"
    collector = start(collectors, file=str(log), backoff_s=0.01, max_backoff_s=0.02)
    reason = wait_for(lambda: "cannot open" in failure(collector) and failure(collector), what="an open failure")
    assert f"(cannot open {log}: No such file or directory; retrying in 0.0" in str(reason)
    log.write_text(ram_line(8) + "\n")  # a log that appears after start-up is read from its start
    wait_for(lambda: try_read(collector), what="the file to be followed")
    assert used_mb(collector.read()) == 8


def failure(collector: TegrastatsCollector) -> str:
    try:
        collector.read()
    except RuntimeError as exc:
        return str(exc)
    return ""


def test_reads_a_fifo_across_writers(tmp_path: Path, wait_for: WaitFor,
                                     collectors: List[TegrastatsCollector]) -> None:
    fifo = tmp_path / "tegrastats.fifo"
    os.mkfifo(fifo)
    collector = start(collectors, file=str(fifo), interval_s=0.2)
    for used in (10, 20):  # one writer after the other, as `tegrastats --logfile FIFO` restarts would
        fd = _open_writer(fifo, wait_for)
        os.write(fd, (ram_line(used) + "\n").encode())
        wait_for(lambda u=used: (s := try_read(collector)) is not None and used_mb(s) == u, what=f"line {used}")
        os.close(fd)


def _open_writer(fifo: Path, wait_for: WaitFor) -> int:
    """Open the FIFO for writing once the collector has it open for reading."""
    def attempt() -> Optional[int]:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return None  # ENXIO: no reader yet
    fd = wait_for(attempt, what="the collector to open the FIFO")
    assert isinstance(fd, int)
    return fd


# -- the whole exporter ----------------------------------------------------------------------------

def test_once_through_the_exporter(fake_tegrastats: Callable[..., Path], sample: Sample) -> None:
    binary = fake_tegrastats([sample("AGX Orin 64GB", "JetPack 6.2.1")], hold=True)
    result = subprocess.run([sys.executable, "-m", "jetson_exporter", "--source", "tegrastats",
                             "--tegrastats.path", str(binary), "--once"], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    values = parse_exposition(result.stdout.decode())
    assert values['jetson_exporter_collector_success{collector="tegrastats"}'] == 1.0
    assert values['jetson_power_watts{rail="VIN_SYS_5V0"}'] == 4.707
    assert values['jetson_engine_utilization_ratio{engine="NVENC"}'] == 0.79
    assert values["jetson_memory_used_bytes"] == 18207 * MIB
    assert any(key.startswith("jetson_exporter_build_info{") and 'source="tegrastats"' in key for key in values)


def test_line_splitter_drops_overlong_lines_and_keeps_partial_ones() -> None:
    splitter = LineSplitter(limit=10)
    assert splitter.feed(b"short\nalso") == [b"short"]
    assert splitter.feed(b" ok\n" + b"y" * 7) == [b"also ok"]
    assert splitter.feed(b"y" * 7) == []
    assert splitter.feed(b"yy\nfine\n") == [None, b"fine"]
    assert splitter.feed(b"z" * 25 + b"\n") == [None]
    assert splitter.feed(b"tail") == [] and splitter.rest() == b"tail" and splitter.rest() == b""


def test_collector_needs_exactly_one_input() -> None:
    with pytest.raises(ValueError):
        TegrastatsCollector(interval_s=1.0)
    with pytest.raises(ValueError):
        TegrastatsCollector(interval_s=1.0, command=["tegrastats"], file="x")


def test_reads_are_safe_while_lines_arrive(fake_tegrastats: Callable[..., Path], wait_for: WaitFor,
                                           collectors: List[TegrastatsCollector]) -> None:
    binary = fake_tegrastats([ram_line(n) for n in range(1, 2001)], hold=True)
    collector = start(collectors, command=[str(binary)])
    seen: List[float] = []
    done = threading.Event()

    def scrape() -> None:
        while not done.is_set():
            s = try_read(collector)
            if s is not None:
                value = used_mb(s)
                assert value is not None
                seen.append(value)

    reader = threading.Thread(target=scrape)
    reader.start()
    wait_for(lambda: collector.lines_total == 2000, what="all lines")
    done.set()
    reader.join()
    assert seen == sorted(seen) and used_mb(collector.read()) == 2000

"""The tegrastats source: runs `tegrastats --interval N`, or follows a file or FIFO that tegrastats
writes to, and hands the sampler the latest line as a Snapshot.

A background thread reads the stream; `read()` never waits for it (except for the very first
line after start-up, briefly). When the process exits it is restarted with exponential backoff;
when no line has arrived for a few intervals, `read()` fails, so the collector is reported down
and its metrics are absent instead of stale. Lines that are not tegrastats output are counted
and reported through `errors`; unknown tokens inside good lines are counted and logged once each.
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import shutil
import stat
import subprocess
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

from jetson_exporter.snapshot import Snapshot
from jetson_exporter.sources.tegrastats_parser import ParsedLine, parse_line

log = logging.getLogger(__name__)

# A tegrastats line is under 2 kB (Thor, 14 cores, every engine): anything far longer is not one.
MAX_LINE_BYTES = 64 * 1024
_CHUNK = 65536
_MAX_PENDING_ERRORS = 20
_MAX_LOGGED_TOKENS = 100


class LineSplitter:
    """Bytes in, complete lines out (without the line end). A line longer than `limit` is dropped
    and stands as None in the output, so that the caller can say so."""

    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self.limit = limit
        self._partial = bytearray()
        self._overlong = False  # dropping the rest of a line that is already too long

    def feed(self, data: bytes) -> List[Optional[bytes]]:
        lines: List[Optional[bytes]] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            if self._overlong or len(self._partial) + end - start > self.limit:
                lines.append(None)
            elif self._partial:
                self._partial += data[start:end]
                lines.append(bytes(self._partial))
            else:
                lines.append(data[start:end])
            self._partial.clear()
            self._overlong = False
            start = end + 1
        if not self._overlong:
            if len(self._partial) + len(data) - start > self.limit:
                self._partial.clear()
                self._overlong = True
            else:
                self._partial += data[start:]
        return lines

    def rest(self) -> Optional[bytes]:
        """What follows the last line end (a line being written, or cut off); None if too long."""
        rest = None if self._overlong else bytes(self._partial)
        self._partial.clear()
        self._overlong = False
        return rest


def decode_line(raw: bytes) -> str:
    """A line as text: any bytes decode (invalid UTF-8 becomes U+FFFD and fails to parse)."""
    return raw.decode("utf-8", "replace").rstrip("\r")


class TegrastatsCollector:
    """A collector over a running tegrastats (`command`) or a file/FIFO it writes to (`file`)."""

    name = "tegrastats"

    def __init__(
        self,
        *,
        interval_s: float,
        command: Optional[Sequence[str]] = None,
        file: Optional[str] = None,
        stale_after_s: Optional[float] = None,
        first_wait_s: Optional[float] = None,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (command is None) == (file is None):
            raise ValueError("give either a tegrastats command or a file to follow")
        self.command = list(command) if command is not None else None
        self.file = file
        self.interval_s = interval_s
        self.stale_after_s = stale_after_s if stale_after_s is not None else max(3 * interval_s, 1.0)
        # The first read may wait for tegrastats' first line (printed after one interval), below
        # the sampler's default timeout of two intervals.
        self.first_wait_s = first_wait_s if first_wait_s is not None else min(1.5 * interval_s, 1.9)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.poll_s = min(0.25, interval_s / 4)
        self.clock = clock
        # Counters since start, for logs, the status page and tests.
        self.lines_total = 0
        self.bad_lines_total = 0
        self.unknown_tokens_total = 0
        self.restarts_total = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._first_line = threading.Event()
        self._latest: Optional[ParsedLine] = None
        self._latest_at = 0.0
        self._problem: Optional[str] = None  # why lines may not be coming: shown when stale
        self._pending: List[str] = []
        self._errors: List[str] = []
        self._reads = 0
        self._logged_tokens: Set[str] = set()
        self._last_report = ""
        self._proc: Optional[subprocess.Popen[bytes]] = None
        self._thread: Optional[threading.Thread] = None
        self._history: Optional[Tuple[int, int, int]] = None  # (device, inode, size) of the log at start

    # -- the collector interface ----------------------------------------------------------------

    @property
    def errors(self) -> List[str]:
        """Problems met since the previous read: lines that were not tegrastats output, restarts."""
        return self._errors

    def read(self) -> Snapshot:
        """The latest line's Snapshot; raises when no line arrived within `stale_after_s`."""
        self._reads += 1
        if self._reads == 1 and self.first_wait_s > 0:
            self._first_line.wait(self.first_wait_s)
        with self._lock:
            latest, at, problem = self._latest, self._latest_at, self._problem
            self._errors, self._pending = self._pending, []
        why = f" ({problem})" if problem else ""
        if latest is None:
            raise RuntimeError(f"no tegrastats line yet from {self._what()}{why}")
        age = self.clock() - at
        if age > self.stale_after_s:
            raise RuntimeError(f"no tegrastats line for {age:.1f}s from {self._what()}{why}")
        return latest.snapshot

    def start(self) -> None:
        if self.file is not None:
            # Lines already in the log are history, not the board now: follow it from where it ends
            # at start-up, like `tail -f` (a file that appears later is read from its start).
            try:
                st = os.stat(self.file)
                if stat.S_ISREG(st.st_mode):
                    self._history = (st.st_dev, st.st_ino, st.st_size)
            except OSError:
                pass
        target = self._run_process if self.command is not None else self._run_file
        self._thread = threading.Thread(target=target, name="tegrastats", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 3.0) -> None:
        self._stop.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout_s)
        if self._thread is not None:
            self._thread.join(timeout_s)

    # -- lines ----------------------------------------------------------------------------------

    def _what(self) -> str:
        return " ".join(self.command) if self.command is not None else str(self.file)

    def _report(self, message: str, *, problem: bool = True) -> None:
        """A problem worth a log line and a failed tick (and, if `problem`, the stale reason)."""
        if message != self._last_report:  # the same garbage every second is logged once
            log.warning("tegrastats source: %s", message)
            self._last_report = message
        with self._lock:
            if len(self._pending) < _MAX_PENDING_ERRORS:
                self._pending.append(message)
            if problem:
                self._problem = message

    def _line(self, raw: Optional[bytes]) -> bool:
        """Take one line; True if it was a tegrastats line."""
        if raw is None:
            self.bad_lines_total += 1
            self._report(f"skipped a line longer than {MAX_LINE_BYTES // 1024} KiB", problem=False)
            return False
        text = decode_line(raw)
        if not text.strip():
            return False
        parsed = parse_line(text)
        self.lines_total += 1
        if parsed.fields == 0:
            self.bad_lines_total += 1
            self._report(f"not a tegrastats line: {text[:120]!r}", problem=False)
            return False
        if parsed.unknown_count:
            self.unknown_tokens_total += parsed.unknown_count
            new = [t for t in parsed.unknown if t not in self._logged_tokens]
            if new and len(self._logged_tokens) < _MAX_LOGGED_TOKENS:
                self._logged_tokens.update(new)
                log.info("tegrastats source: skipping tokens this version does not know: %s", " ".join(new))
        with self._lock:
            self._latest = parsed
            self._latest_at = self.clock()
            self._problem = None
        self._first_line.set()
        return True

    # -- running tegrastats ---------------------------------------------------------------------

    def _run_process(self) -> None:
        assert self.command is not None
        delay = self.backoff_s
        while not self._stop.is_set():
            good = False
            try:
                proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, close_fds=True)
            except OSError as exc:
                outcome = f"cannot run {self.command[0]}: {exc.strerror or exc}"
            else:
                self._proc = proc
                if self._stop.is_set():  # close() ran while this process was starting
                    proc.terminate()
                assert proc.stdout is not None
                splitter = LineSplitter()
                last = ""
                with proc.stdout:
                    while True:
                        data = os.read(proc.stdout.fileno(), _CHUNK)
                        if not data:
                            break
                        for raw in splitter.feed(data):
                            if self._line(raw):
                                good = True
                            elif raw:
                                last = decode_line(raw)[:200]
                code = proc.wait()
                if self._stop.is_set():
                    return
                outcome = f"{self.command[0]} exited with code {code}" + (f": {last}" if last else "")
            if good:
                delay = self.backoff_s  # it worked for a while: restart at once-ish, not after a long backoff
            self.restarts_total += 1
            self._report(f"{outcome}; restarting in {delay:g}s")
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, self.max_backoff_s)

    # -- following a file or FIFO ---------------------------------------------------------------

    def _run_file(self) -> None:
        assert self.file is not None
        path = self.file
        delay = self.backoff_s
        fd: Optional[int] = None
        fifo = False
        splitter = LineSplitter()
        try:
            while not self._stop.is_set():
                if fd is None:
                    try:
                        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                    except OSError as exc:
                        self._report(f"cannot open {path}: {exc.strerror or exc}; retrying in {delay:g}s")
                        if self._stop.wait(delay):
                            return
                        delay = min(delay * 2, self.max_backoff_s)
                        continue
                    st = os.fstat(fd)
                    fifo = stat.S_ISFIFO(st.st_mode)
                    if self._history is not None and self._history[:2] == (st.st_dev, st.st_ino):
                        os.lseek(fd, self._history[2], os.SEEK_SET)
                    self._history = None
                    splitter = LineSplitter()
                    delay = self.backoff_s
                try:
                    data: Optional[bytes] = os.read(fd, _CHUNK)
                except BlockingIOError:
                    data = None  # a FIFO with a writer but nothing written yet
                except OSError as exc:
                    self._report(f"cannot read {path}: {exc.strerror or exc}; reopening in {delay:g}s")
                    os.close(fd)
                    fd = None
                    if self._stop.wait(delay):
                        return
                    delay = min(delay * 2, self.max_backoff_s)
                    continue
                if data:
                    for raw in splitter.feed(data):
                        self._line(raw)
                elif fifo and data is None:
                    select.select([fd], [], [], self.poll_s)
                elif fifo:
                    self._stop.wait(self.poll_s)  # no writer at the moment: one may come
                else:
                    if self._replaced(path, fd):
                        os.close(fd)
                        fd = None
                        continue
                    self._stop.wait(self.poll_s)
        finally:
            if fd is not None:
                os.close(fd)

    @staticmethod
    def _replaced(path: str, fd: int) -> bool:
        """At the end of a regular file: True if it was rotated (a new file at the path); a
        truncated file is read again from its start."""
        try:
            now = os.stat(path)
        except OSError:
            return False  # gone for the moment: keep the old one until a new one appears
        mine = os.fstat(fd)
        if (now.st_ino, now.st_dev) != (mine.st_ino, mine.st_dev):
            return True
        if now.st_size < os.lseek(fd, 0, os.SEEK_CUR):
            os.lseek(fd, 0, os.SEEK_SET)
        return False

    def counters(self) -> Dict[str, float]:
        """Its own counters, exported by catalog name with the collector's health."""
        return {
            "jetson_exporter_tegrastats_lines_total": float(self.lines_total),
            "jetson_exporter_tegrastats_bad_lines_total": float(self.bad_lines_total),
            "jetson_exporter_tegrastats_unknown_tokens_total": float(self.unknown_tokens_total),
            "jetson_exporter_tegrastats_restarts_total": float(self.restarts_total),
        }


def make_collector(args: argparse.Namespace) -> TegrastatsCollector:
    """The collector for `--source=tegrastats`, already running."""
    interval_s = args.tegrastats_interval or args.interval
    if args.tegrastats_file:
        collector = TegrastatsCollector(interval_s=interval_s, file=args.tegrastats_file)
    else:
        binary = shutil.which(args.tegrastats_path)
        if binary is None:
            raise ValueError(
                f"tegrastats not found: {args.tegrastats_path!r} is not an executable file or on PATH "
                "(it ships in nvidia-l4t-tools on the host; pass --tegrastats.path, follow a log with "
                "--tegrastats.file, or use --source=sysfs)"
            )
        command = [binary, "--interval", str(max(1, round(interval_s * 1000)))]
        collector = TegrastatsCollector(interval_s=interval_s, command=command)
    collector.start()
    return collector

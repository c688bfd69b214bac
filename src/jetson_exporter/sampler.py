"""Background sampling: runs the collectors on a fixed interval, keeps the last Sample, integrates
counters between ticks, and records per-collector health.

A collector that raises is reported failed for that tick. A collector that hangs is detected by
`supervise()` (called by the server's main loop and on scrapes): its thread is abandoned, a fresh
sampling thread carries on without that collector, and the collector rejoins once its stuck call
returns. Scrapes never wait for sampling: they read the last published Sample.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, fields, replace
from typing import Callable, Dict, List, Mapping, Optional, Protocol, Sequence, Set, Tuple

from jetson_exporter.snapshot import Snapshot, derive_jetson_clocks

log = logging.getLogger(__name__)


class Collector(Protocol):
    """Anything that reads part of a Snapshot: a sysfs reader, a tegrastats stream, a jtop client."""

    name: str

    def read(self) -> Snapshot: ...

    @property
    def errors(self) -> List[str]: ...


@dataclass(frozen=True)
class CollectorHealth:
    name: str
    success: bool
    duration_s: float
    last_error: Optional[str] = None
    errors_total: int = 0
    # A collector's own counters by catalog name (e.g. tegrastats lines read), if it keeps any.
    counters: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Counters:
    """Integrated values, present only while their sensor is (so a rate never reads a false 0)."""

    gpu_busy_s: Optional[float] = None
    board_energy_j: Optional[float] = None
    energy_j: Mapping[str, float] = field(default_factory=dict)
    engine_active_s: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Sample:
    """What a scrape renders: the last snapshot, counters, and how each collector fared."""

    snapshot: Snapshot
    counters: Counters
    health: Tuple[CollectorHealth, ...]
    timestamp: float  # wall clock seconds at the end of the tick
    generation: int  # increases with every published tick; renderers cache on it


EMPTY_SAMPLE = Sample(Snapshot(), Counters(), (), 0.0, 0)


_SNAPSHOT_FIELDS = tuple(f.name for f in fields(Snapshot))


def merge_parts(parts: Sequence[Snapshot]) -> Snapshot:
    """One Snapshot from the collectors' partial ones; a later part wins where both set a field."""
    values: Dict[str, object] = {}
    for part in parts:
        for name in _SNAPSHOT_FIELDS:
            value = getattr(part, name)
            if value is not None and value != ():
                values[name] = value
    return Snapshot(**values)  # type: ignore[arg-type]


class _Integrator:
    """Trapezoidal integration of one quantity per key, skipping gaps where it was unknown."""

    def __init__(self, max_gap_s: float) -> None:
        self.max_gap_s = max_gap_s
        self.totals: Dict[str, float] = {}
        self._last: Dict[str, Tuple[float, float]] = {}

    def update(self, now: float, values: Mapping[str, Optional[float]]) -> Dict[str, float]:
        present = {}
        for key, value in values.items():
            if value is None:
                continue
            prev = self._last.get(key)
            self._last[key] = (now, value)
            total = self.totals.get(key, 0.0)
            if prev is not None:
                dt = now - prev[0]
                if 0 < dt <= self.max_gap_s:
                    total += (prev[1] + value) / 2.0 * dt
            self.totals[key] = total
            present[key] = total
        for key in list(self._last):
            if key not in values or values[key] is None:
                del self._last[key]  # the next reading starts a new segment: no guessing across gaps
        return present


class Sampler:
    def __init__(
        self,
        collectors: Sequence[Collector],
        interval_s: float = 1.0,
        timeout_s: Optional[float] = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        on_publish: Optional[Callable[[Sample], None]] = None,
    ) -> None:
        self.collectors = list(collectors)
        self.interval_s = interval_s
        self.timeout_s = timeout_s if timeout_s is not None else max(2.0, 2 * interval_s)
        self.clock = clock
        self.wall_clock = wall_clock
        self.on_publish = on_publish
        self.latest: Sample = EMPTY_SAMPLE
        self._generation = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._first = threading.Event()
        self._token = 0
        self._thread: Optional[threading.Thread] = None
        # What the current sampling thread is doing: (token, collector name, started at).
        self._busy: Optional[Tuple[int, str, float]] = None
        self._hung: Set[str] = set()
        self._errors_total: Dict[str, int] = {c.name: 0 for c in self.collectors}
        self._last_error: Dict[str, str] = {}
        max_gap = max(5 * interval_s, 10.0)
        self._gpu = _Integrator(max_gap)
        self._board = _Integrator(max_gap)
        self._rails = _Integrator(max_gap)
        self._engines = _Integrator(max_gap)

    # -- one tick -------------------------------------------------------------------------------

    def tick(self, token: Optional[int] = None) -> Optional[Sample]:
        """Read every collector once and publish a Sample (None if this thread was abandoned)."""
        parts: List[Snapshot] = []
        health: List[CollectorHealth] = []
        for collector in self.collectors:
            name = collector.name
            with self._lock:
                if name in self._hung:
                    health.append(self._health(name, False, 0.0, None))
                    continue
                if token is not None:
                    self._busy = (token, name, self.clock())
            start = self.clock()
            error: Optional[str] = None
            part: Optional[Snapshot] = None
            try:
                part = collector.read()
                if collector.errors:
                    error = collector.errors[0]
                    if len(collector.errors) > 1:
                        error += f" (and {len(collector.errors) - 1} more)"
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.debug("collector %s failed", name, exc_info=True)
            duration = self.clock() - start
            own = getattr(collector, "counters", None)
            counters: Mapping[str, float] = own() if callable(own) else {}
            with self._lock:
                if token is not None and token != self._token:
                    # Abandoned while stuck in this collector; it has returned now and may run again.
                    self._hung.discard(name)
                    return None
                self._busy = None
            if part is not None:
                parts.append(part)
            health.append(self._health(name, error is None and part is not None, duration, error, counters))
        return self._publish(merge_parts(parts), health)

    def _health(self, name: str, success: bool, duration: float, error: Optional[str],
                counters: Optional[Mapping[str, float]] = None) -> CollectorHealth:
        if error is not None:
            self._errors_total[name] = self._errors_total.get(name, 0) + 1
            if self._last_error.get(name) != error:
                log.warning("collector %s: %s", name, error)
            self._last_error[name] = error
        elif name in self._hung:
            error = self._last_error.get(name)
        return CollectorHealth(name, success, duration, error if not success else None,
                               self._errors_total.get(name, 0), counters or {})

    def _publish(self, snapshot: Snapshot, health: List[CollectorHealth]) -> Sample:
        now = self.clock()
        snapshot = self._derive(snapshot)
        counters = self._integrate(now, snapshot)
        self._generation += 1
        sample = Sample(snapshot, counters, tuple(health), self.wall_clock(), self._generation)
        self.latest = sample
        self._first.set()
        if self.on_publish is not None:
            self.on_publish(sample)
        return sample

    def _derive(self, snapshot: Snapshot) -> Snapshot:
        if snapshot.jetson_clocks is None:
            pinned = derive_jetson_clocks(snapshot)
            if pinned is not None:
                snapshot = replace(snapshot, jetson_clocks=pinned)
        return snapshot

    def _integrate(self, now: float, snapshot: Snapshot) -> Counters:
        gpu = snapshot.gpu.utilization if snapshot.gpu is not None else None
        engines: Dict[str, Optional[float]] = {
            e.name: (1.0 if e.active else 0.0) if e.active is not None else None for e in snapshot.engines
        }
        return Counters(
            gpu_busy_s=self._gpu.update(now, {"gpu": gpu}).get("gpu"),
            board_energy_j=self._board.update(now, {"board": snapshot.board_power_w()}).get("board"),
            energy_j=self._rails.update(now, {r.name: r.power_w for r in snapshot.rails}),
            engine_active_s=self._engines.update(now, engines),
        )

    # -- background thread ----------------------------------------------------------------------

    def start(self) -> None:
        """Sample in a background thread from now on; the first tick runs at once."""
        self._stop.clear()
        self._spawn()

    def wait_first(self, timeout_s: float) -> bool:
        """Block until the first Sample is published (a scrape right after start-up has data)."""
        return self._first.wait(timeout_s)

    def _spawn(self) -> None:
        with self._lock:
            self._token += 1
            token = self._token
            self._busy = None
        thread = threading.Thread(target=self._run, args=(token,), name=f"sampler-{token}", daemon=True)
        self._thread = thread
        thread.start()

    def _run(self, token: int) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            if self.tick(token) is None:
                return
            next_at += self.interval_s
            delay = next_at - time.monotonic()
            if delay < 0:  # fell behind (slow tick or suspended): skip missed ticks, don't burst
                next_at = time.monotonic()
                delay = 0.0
            if self._stop.wait(delay):
                return

    def supervise(self) -> None:
        """Detect a collector stuck longer than the timeout; carry on sampling without it."""
        with self._lock:
            busy = self._busy
            if busy is None or busy[0] != self._token:
                return
            _, name, started = busy
            if self.clock() - started <= self.timeout_s:
                return
            self._hung.add(name)
            self._last_error[name] = f"timed out after {self.timeout_s:g}s; skipped until it returns"
            self._errors_total[name] = self._errors_total.get(name, 0) + 1
        log.warning("collector %s is stuck for more than %gs: sampling goes on without it", name, self.timeout_s)
        if not self._stop.is_set():
            self._spawn()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

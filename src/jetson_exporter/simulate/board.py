"""One simulated Jetson: a live device tree, the physics that fills it, and the real exporter over it.

The board writes its state into a host tree laid out like the model's (`DeviceTree`) and serves
it through the normal readers, sampler and HTTP server, exactly as `jetson-exporter --root DIR`
would: the simulator adds no metrics path of its own. It is stepped from outside (`step(now)`,
by a `Fleet` or a test), so that many boards share one scheduler thread and tests choose the
times.

Ground truth: each step appends a `Truth` record (the values the files held, the counters an
exact exporter would show, which sensors were missing). It is available in-process
(`board.truth()`) and over HTTP on the board's own port (`GET /truth`, JSON).
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import math
import random
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, FrozenSet, List, Mapping, Optional, Sequence, Set, Tuple, cast

from jetson_exporter.exporter import Exporter
from jetson_exporter.paths import Paths
from jetson_exporter.readers import READERS
from jetson_exporter.sampler import Collector
from jetson_exporter.server import ExporterServer, RequestContext
from jetson_exporter.simulate.devicetree import DeviceTree
from jetson_exporter.simulate.models import Model
from jetson_exporter.simulate.physics import Physics, Reading, input_rails
from jetson_exporter.simulate.scenarios import BoardInfo, Scenario
from jetson_exporter.sources.sysfs import device_detected, make_readers
from jetson_exporter.webconfig import WebConfigWatcher

log = logging.getLogger(__name__)

# The sampler leaves out intervals longer than this many ticks (or 10 s) when it integrates;
# the truth's counters follow the same rule.
_MAX_GAP_TICKS = 5
_MIN_MAX_GAP_S = 10.0
TRUTH_PAGE = 600  # records /truth returns at most


@dataclass(frozen=True)
class Truth:
    """What one step of a board put in its files, and what an exact exporter makes of it.

    Figures are what the sensors report at their resolution; sensors that were missing from
    the files at this step are left out. Counters restart with each exporter start (`epoch`)
    and are integrated with trapezoids between the steps at which the exporter sampled.
    """

    time: float  # the step's time on the board's clock (the sampler integrates over it)
    published: Optional[float]  # wall clock once the exporter had published this step; None while it is down
    epoch: int  # exporter starts so far, from 1 (0: never started)
    scenario: str
    gpu_load: Optional[float]
    gpu_freq_hz: float
    cpu_util: Mapping[int, float]  # per online core over the step
    temps_c: Mapping[str, float]  # by zone type, measuring zones only
    power_w: Mapping[str, float]  # by rail label
    board_power_w: Optional[float]
    fans: Mapping[str, Tuple[float, float]]  # (PWM ratio, RPM)
    throttle: float
    absent: FrozenSet[str]  # sensor ids whose files were removed
    gpu_busy_s: Optional[float] = None
    energy_j: Mapping[str, float] = field(default_factory=dict)
    board_energy_j: Optional[float] = None

    def to_json(self) -> Dict[str, Any]:
        return {
            "time": self.time, "published": self.published, "epoch": self.epoch, "scenario": self.scenario,
            "gpu_load": self.gpu_load, "gpu_freq_hz": self.gpu_freq_hz,
            "cpu_util": {str(k): v for k, v in self.cpu_util.items()}, "temps_c": dict(self.temps_c),
            "power_w": dict(self.power_w), "board_power_w": self.board_power_w,
            "fans": {k: {"speed_ratio": r, "rpm": rpm} for k, (r, rpm) in self.fans.items()},
            "throttle": self.throttle, "absent": sorted(self.absent), "gpu_busy_s": self.gpu_busy_s,
            "energy_j": dict(self.energy_j), "board_energy_j": self.board_energy_j,
        }


class _Trapezoid:
    """Integrates values between consecutive readings, never across a reading that was missing."""

    def __init__(self, max_gap_s: float) -> None:
        self.max_gap_s = max_gap_s
        self.totals: Dict[str, float] = {}
        self._last: Dict[str, Tuple[float, float]] = {}

    def update(self, now: float, values: Mapping[str, Optional[float]]) -> Dict[str, float]:
        shown: Dict[str, float] = {}
        for key, value in values.items():
            if value is None:
                continue
            total = self.totals.get(key, 0.0)
            prev = self._last.get(key)
            if prev is not None and 0 < now - prev[0] <= self.max_gap_s:
                total += (prev[1] + value) / 2 * (now - prev[0])
            self.totals[key] = total
            self._last[key] = (now, value)
            shown[key] = total
        for key in [k for k in self._last if values.get(k) is None]:
            del self._last[key]
        return shown


class _BoardExporter(Exporter):
    """The normal exporter, plus a `/truth` page and a note of every scrape it serves."""

    def __init__(self, board: SimulatedBoard, collectors: Sequence[Collector], interval_s: float) -> None:
        super().__init__(collectors, "sysfs", interval_s=interval_s,
                         detect=lambda sample: device_detected(sample.snapshot))
        self._board = board
        # The sampler integrates counters over the board's clock, the clock the physics runs on.
        self.sampler.clock = board.sampler_time

    def metrics(self, accept: str, gzip_ok: bool) -> Tuple[bytes, str, bool]:
        self._board.note_scrape()
        return super().metrics(accept, gzip_ok)

    def routes(self) -> Dict[str, Callable[[RequestContext], Tuple[int, bytes, str]]]:
        routes = dict(super().routes())
        routes["/truth"] = self._board.truth_page
        return routes


class _BoardServer(ExporterServer):
    """The exporter's server, which also drops the connections it holds when it stops: a board
    that falls off the network (or an exporter that exits) takes its keep-alive connections along."""

    def __init__(self, address: Tuple[str, int], app: Exporter) -> None:
        self._open: Set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, app, WebConfigWatcher(None))

    def process_request_thread(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        with self._open_lock:
            self._open.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def close_connections(self) -> None:
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class SimulatedBoard:
    """A Jetson of one model in one scenario, served on its own port."""

    def __init__(
        self,
        name: str,
        model: Model,
        root: str,
        scenario: Scenario,
        *,
        seed: int = 0,
        tick_s: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        history: Optional[int] = None,
        poll_interval_s: float = 0.5,
        clock: Callable[[], float] = time.time,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.model = model
        self.root = root
        self.scenario = scenario
        self.seed = seed
        self.tick_s = tick_s
        self.host = host
        self.port = port
        self.poll_interval_s = poll_interval_s
        self.clock = clock
        self.wall_clock = wall_clock
        self.info = BoardInfo.of(model, random.Random(seed).random())
        self.tree = DeviceTree(root, model.spec)
        self.physics: Optional[Physics] = None
        self.reading: Optional[Reading] = None
        self.epoch = 0
        self._lock = threading.RLock()
        self._history: Deque[Truth] = collections.deque(maxlen=history)
        self._scrapes: Deque[float] = collections.deque(maxlen=history * 4 if history else None)
        self._scenario_start = 0.0
        self._now = 0.0
        self._exporter: Optional[_BoardExporter] = None
        self._server: Optional[_BoardServer] = None
        self._absent: FrozenSet[str] = frozenset()
        max_gap = max(_MAX_GAP_TICKS * tick_s, _MIN_MAX_GAP_S)
        self._max_gap_s = max_gap
        self._counters = _Trapezoid(max_gap)
        self._inputs = input_rails(model.spec)

    # -- addresses ------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def url(self, path: str = "/metrics") -> str:
        return f"http://{self.address}{path}"

    @property
    def online(self) -> bool:
        """Whether the board answers on its port."""
        return self._server is not None

    @property
    def exporter(self) -> Optional[Exporter]:
        return self._exporter

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Lay out the tree with the first step's values, start the exporter and serve."""
        with self._lock:
            now = self.clock()
            self._scenario_start = now
            self.physics = Physics(self.model, self.seed, now, self.scenario.heatsink_rise_c)
            drive = self.scenario.drive(0.0, self.info)
            self.reading = self.physics.step(now, drive)
            self.tree.build(self.reading.state)
            self._set_absent(drive.absent)
            self._start_exporter(now)
            self._serve()

    def stop(self) -> None:
        """Stop serving and sampling (the tree stays on disk)."""
        with self._lock:
            self._unserve()
            self._stop_exporter()

    def disconnect(self) -> None:
        """The board drops off the network: its port closes, the board itself keeps running."""
        with self._lock:
            self._unserve()

    def reconnect(self) -> None:
        """The board is reachable again, on the same port."""
        with self._lock:
            if self._exporter is None:
                raise RuntimeError(f"{self.name}: the exporter is stopped; use start_exporter()")
            self._serve()

    def stop_exporter(self) -> None:
        """The exporter process goes away (its port closes); the board keeps running."""
        with self._lock:
            self._unserve()
            self._stop_exporter()

    def start_exporter(self) -> None:
        """A fresh exporter process: discovery from scratch, counters from zero, same port."""
        with self._lock:
            if self._exporter is not None:
                raise RuntimeError(f"{self.name}: the exporter is already running")
            self._start_exporter(None)
            self._serve()

    def set_scenario(self, scenario: Scenario) -> None:
        """Switch the board into another situation from now on (its state carries over)."""
        with self._lock:
            self.scenario = scenario
            self._scenario_start = self.clock()

    # -- stepping -----------------------------------------------------------------------------

    def step(self, now: Optional[float] = None) -> Truth:
        """Advance the physics to `now`, rewrite the files, let the exporter sample them once."""
        with self._lock:
            if self.physics is None:
                raise RuntimeError(f"{self.name} is not started")
            now = self.clock() if now is None else now
            drive = self.scenario.drive(now - self._scenario_start, self.info)
            self.reading = self.physics.step(now, drive)
            self.tree.write_state(self.reading.state)
            self._set_absent(drive.absent)
            return self._sample(now)

    def sampler_time(self) -> float:
        """The board's clock as the sampler sees it: the time of the step being sampled."""
        return self._now

    def _sample(self, now: float) -> Truth:
        assert self.reading is not None
        published = None
        if self._exporter is not None:
            self._now = now
            self._exporter.sampler.tick()
            published = self.wall_clock()
        truth = self._truth(self.reading, now, published)
        self._history.append(truth)
        return truth

    def _truth(self, r: Reading, now: float, published: Optional[float]) -> Truth:
        gone = self._absent
        temps = {z: t for z, t in r.temps_c.items() if f"zone:{z}" not in gone}
        power = {rail: w for rail, w in r.power_w.items() if f"rail:{rail}" not in gone}
        fans = {f: v for f, v in r.fans.items() if f"fan:{f}" not in gone}
        board = r.board_power_w if self._inputs and all(x in power for x in self._inputs) else None
        truth = Truth(now, published, self.epoch, self.scenario.name, r.gpu_load, r.gpu_freq_hz, r.cpu_util,
                      temps, power, board, fans, r.throttle, gone)
        if published is None:
            return truth
        values: Dict[str, Optional[float]] = {"gpu": r.gpu_load, "board": board}
        values.update({f"rail:{k}": v for k, v in power.items()})
        values.update({f"rail:{k}": None for k in r.power_w if k not in power})
        totals = self._counters.update(now, values)
        return Truth(now, published, self.epoch, self.scenario.name, r.gpu_load, r.gpu_freq_hz, r.cpu_util,
                     temps, power, board, fans, r.throttle, gone,
                     gpu_busy_s=totals.get("gpu"),
                     energy_j={k[5:]: v for k, v in totals.items() if k.startswith("rail:")},
                     board_energy_j=totals.get("board"))

    def _set_absent(self, absent: FrozenSet[str]) -> None:
        if absent == self._absent:
            return
        for sensor in self._absent - absent:
            self.tree.show(self.tree.sensor_files(sensor))
        for sensor in absent - self._absent:
            self.tree.hide(self.tree.sensor_files(sensor))
        self._absent = absent

    # -- exporter and server ------------------------------------------------------------------

    def _start_exporter(self, now: Optional[float]) -> None:
        # Readers satisfy the Collector protocol (their `name` is a class attribute).
        readers = cast(List[Collector], make_readers(Paths.under(self.root), READERS))
        self._exporter = _BoardExporter(self, readers, self.tick_s)
        self.epoch += 1
        self._counters = _Trapezoid(self._max_gap_s)
        if now is None:
            self.step(self.clock())  # a starting exporter samples at once
        else:
            self._sample(now)

    def _stop_exporter(self) -> None:
        self._exporter = None

    def _serve(self) -> None:
        if self._server is not None:
            return
        assert self._exporter is not None
        server = _BoardServer((self.host, self.port), self._exporter)
        self.port = server.port
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": self.poll_interval_s},
                         name=f"http-{self.name}", daemon=True).start()
        self._server = server

    def _unserve(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()

    # -- ground truth -------------------------------------------------------------------------

    def truth(self, since: float = -math.inf, until: float = math.inf) -> List[Truth]:
        """The records of the steps taken between two times on the board's clock (inclusive)."""
        with self._lock:
            return [t for t in self._history if since <= t.time <= until]

    @property
    def latest(self) -> Truth:
        with self._lock:
            return self._history[-1]

    def served_near(self, at: float, before_s: float, after_s: float = 0.25) -> List[Truth]:
        """Records a scrape at wall time `at` may have been served: those being served at some
        moment between `at - before_s` and `at + after_s` (from publication to the next one)."""
        with self._lock:
            records = [t for t in self._history if t.published is not None]
        found = []
        for i, t in enumerate(records):
            assert t.published is not None
            until = records[i + 1].published if i + 1 < len(records) else math.inf
            assert until is not None
            if t.published <= at + after_s and until >= at - before_s:
                found.append(t)
        return found

    def note_scrape(self) -> None:
        self._scrapes.append(self.wall_clock())

    def scrapes(self) -> List[float]:
        """Wall-clock times at which the board served /metrics."""
        return list(self._scrapes)

    def truth_page(self, ctx: RequestContext) -> Tuple[int, bytes, str]:
        """GET /truth[?since=UNIX_SECONDS]: board identity and the records since then (or the latest)."""
        params = urllib.parse.parse_qs(ctx.query)
        try:
            since = float(params["since"][0]) if "since" in params else None
        except ValueError:
            return 400, b"since must be a Unix time in seconds\n", "text/plain; charset=utf-8"
        with self._lock:
            records = [t for t in self._history if since is not None and t.time > since]
            if since is None and self._history:
                records = [self._history[-1]]
            body = {
                "name": self.name, "model": self.model.spec.name, "scenario": self.scenario.name,
                "epoch": self.epoch, "seed": self.seed, "tick_seconds": self.tick_s,
                "records": [t.to_json() for t in records[-TRUTH_PAGE:]],
            }
        return 200, json.dumps(body, allow_nan=False).encode() + b"\n", "application/json"

    def absent_sensors(self) -> Set[str]:
        return set(self._absent)

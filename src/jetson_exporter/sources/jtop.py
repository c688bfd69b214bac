"""The jtop source: readings from an already running jtop service (PyPI `jetson-stats`).

For hosts that run `jtop.service` anyway. The sysfs source stays the default: it needs no root
service, no AGPL client library and no version lock-step with the host (docs/JTOP.md).

Shape:
- `snapshot_from_frame()` is pure: one *frame* (the client's structured properties, reduced to
  plain dicts and lists) in, one Snapshot out. Units are converted here: kHz -> Hz, kB -> bytes,
  mV/mA/mW -> V/A/W, % -> ratio; jtop's -256 and 'OFF' become absent/offline. The structured
  properties are used rather than `jetson.stats` because they carry units, min/max limits and
  online flags; `stats` only fills gaps (RAM fraction, jetson_clocks, the power mode name).
- `JtopCollector` owns one client in a background thread: `jtop(interval)`, `start()`, read
  frames while `ok()`, `close()` on stop or error. It never uses the client as a context
  manager (jetson-stats 7.x closes the client on `__exit__`, which freezes the data of any
  reference kept past the block). On a lost service it reports failed, drops its values and
  reconnects with exponential backoff.

`jtop` is imported lazily: jetson-stats is an optional, separately installed dependency.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import re
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple, TypeVar

from jetson_exporter.readers.board import CUDA_ARCH, jetpack_for
from jetson_exporter.readers.thermal import is_placeholder, milli_c_to_c, zone_name
from jetson_exporter.snapshot import (
    BoardInfo,
    CpuCore,
    Emc,
    Engine,
    Fan,
    Gpu,
    Memory,
    PowerMode,
    PowerRail,
    Snapshot,
    ThermalZone,
    canonical_engine_name,
)

log = logging.getLogger(__name__)

SOCKET_PATH = "/run/jtop.sock"  # where jtop.service listens; the client library has it built in
PACKAGE = "jetson-stats"

KHZ = 1e3
KIB = 1024.0
MILLI = 1e-3
PERCENT = 1e-2

# ------------------------------------------------------------------------------------------------
# Frame -> Snapshot (pure)
# ------------------------------------------------------------------------------------------------

Frame = Mapping[str, object]
T = TypeVar("T")

_PART = re.compile(r"p\d{4}-\d{4}")
_SOC = re.compile(r"tegra\d+")  # jtop may say `tegra23x` (the family entry): not a SoC name
_VERSION = re.compile(r"\d+(?:\.\d+)+")
# Within an engine family (DLA0_CORE + DLA0_FALCON), the member whose clock is the engine's speed;
# the same choice the sysfs engines reader makes.
_PREFERRED_MEMBER = re.compile(r"_(CORE|VPS0?)$", re.IGNORECASE)
# jtop names a hwmon fan by its hwmon `name` (pwmfan); the sysfs source by its device directory,
# `pwm-fan` on the devkits documented (platform/pwm-fan), which is also jtop's name for the
# JetPack 4 legacy fan. The same fan gets the same label from both sources.
_FAN_ALIASES = {"pwmfan": "pwm-fan"}


def _num(value: object) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _scaled(value: object, factor: float) -> Optional[float]:
    number = _num(value)
    return None if number is None else number * factor


def _ratio(percent: object) -> Optional[float]:
    number = _num(percent)
    return None if number is None else min(max(number * PERCENT, 0.0), 1.0)


def _map(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _seq(value: object) -> Sequence[object]:
    return value if isinstance(value, (list, tuple)) else ()


def _text(value: object) -> Optional[str]:
    if not isinstance(value, str):
        return None
    return value.strip().strip("\x00").strip() or None  # device-tree strings end with NUL


def _flag(value: object) -> Optional[bool]:
    return value if isinstance(value, bool) else None


def _cpus(cpu: Mapping[str, object]) -> Tuple[CpuCore, ...]:
    cores = []
    for index, raw in enumerate(_seq(cpu.get("cpu"))):  # jtop lists cpu0..N in index order
        core = _map(raw)
        if core.get("online") is False:
            cores.append(CpuCore(index=index, online=False))
            continue
        freq = _map(core.get("freq"))
        idle = _num(core.get("idle"))
        cores.append(CpuCore(
            index=index,
            online=True,
            freq_hz=_scaled(freq.get("cur"), KHZ),
            min_freq_hz=_scaled(freq.get("min"), KHZ),
            max_freq_hz=_scaled(freq.get("max"), KHZ),
            governor=_text(core.get("governor")),
            # jtop's per-core idle % over its last interval; busy = 100 - idle, as its CPUn stats.
            utilization=None if idle is None else min(max(1.0 - idle * PERCENT, 0.0), 1.0),
        ))
    return tuple(cores)


def _gpu(gpus: Mapping[str, object]) -> Optional[Gpu]:
    if not gpus:
        return None
    integrated = [name for name, g in gpus.items() if _map(g).get("type") == "integrated"]
    name = integrated[0] if integrated else next(iter(gpus))
    g = _map(gpus[name])
    status = _map(g.get("status"))
    freq = _map(g.get("freq"))
    # jtop 7.x's NVML path (Thor) fills `freq` with NVML clocks in MHz or devfreq clocks in kHz,
    # depending on what NVML supports: the unit is unknown, so the clocks are left out.
    clocks_known = g.get("power_control") != "nvml"
    return Gpu(
        name=name,
        utilization=_ratio(status.get("load")),
        freq_hz=_scaled(freq.get("cur"), KHZ) if clocks_known else None,
        min_freq_hz=_scaled(freq.get("min"), KHZ) if clocks_known else None,
        max_freq_hz=_scaled(freq.get("max"), KHZ) if clocks_known else None,
        governor=_text(freq.get("governor")) if clocks_known else None,
        railgate_enabled=_flag(status.get("railgate")),
        scaling_3d_enabled=_flag(status.get("3d_scaling")),
        gpc_freq_hz=tuple(_scaled(f, KHZ) or 0.0 for f in _seq(freq.get("GPC"))) if clocks_known else (),
    )


def _emc(memory: Mapping[str, object]) -> Optional[Emc]:
    emc = _map(memory.get("EMC"))
    if not emc or emc.get("online") is False:
        return None
    return Emc(
        freq_hz=_scaled(emc.get("cur"), KHZ),
        min_freq_hz=_scaled(emc.get("min"), KHZ),
        max_freq_hz=_scaled(emc.get("max"), KHZ),
        utilization=_ratio(emc.get("val")),
    )


def _memory(memory: Mapping[str, object], stats: Mapping[str, object]) -> Optional[Memory]:
    ram = _map(memory.get("RAM"))
    swap = _map(memory.get("SWAP"))
    iram = _map(memory.get("IRAM"))
    if not (ram or swap):
        return None
    total = _scaled(ram.get("tot"), KIB)
    total = total if total else None  # a total of 0 means /proc/meminfo was unreadable
    used = _scaled(ram.get("used"), KIB)
    if used is None and total is not None:
        fraction = _num(stats.get("RAM"))  # the stats dict has only used/total
        used = None if fraction is None else total * fraction
    swap_total = _scaled(swap.get("tot"), KIB)
    swap_used = _scaled(swap.get("used"), KIB)
    if swap_used is None and swap_total is not None:
        fraction = _num(stats.get("SWAP"))
        swap_used = None if fraction is None else swap_total * fraction
    # On Thor jtop 7.x reports NVML's GPU memory here ("VRAM"), not NvMap allocations.
    shared = None if ram.get("shared_label") == "VRAM" else _scaled(ram.get("shared"), KIB)
    return Memory(
        total_bytes=total,
        used_bytes=None if used is None else max(used, 0.0),
        free_bytes=_scaled(ram.get("free"), KIB),
        buffers_bytes=_scaled(ram.get("buffers"), KIB),
        cached_bytes=_scaled(ram.get("cached"), KIB),
        gpu_shared_bytes=shared,
        swap_total_bytes=swap_total,
        swap_used_bytes=swap_used,
        swap_cached_bytes=_scaled(swap.get("cached"), KIB),
        lfb_blocks=_num(ram.get("lfb")),
        iram_total_bytes=_scaled(iram.get("tot"), KIB),
        iram_used_bytes=_scaled(iram.get("used"), KIB),
    )


def _engines(groups: Mapping[str, object]) -> Tuple[Engine, ...]:
    # Regrouped by canonical name: jtop groups NVJPG with NVJPG1, which are two engines.
    families: Dict[str, List[Tuple[bool, str, Mapping[str, object]]]] = {}
    for members in groups.values():
        for raw_name, data in _map(members).items():
            preferred = bool(_PREFERRED_MEMBER.search(raw_name))
            families.setdefault(canonical_engine_name(raw_name), []).append((not preferred, raw_name, _map(data)))
    engines = []
    for name, members in sorted(families.items()):
        members.sort()
        active: Optional[bool] = None
        for _, _, data in members:
            online = _flag(data.get("online"))
            if online is not None:
                active = bool(active) or online
        freq = _scaled(members[0][2].get("cur"), KHZ)
        if active is None and freq is None:
            continue
        engines.append(Engine(name=name, active=active, freq_hz=freq))
    return tuple(engines)


def _thermal(temperature: Mapping[str, object]) -> Tuple[ThermalZone, ...]:
    zones = []
    seen: Dict[str, int] = {}
    for raw_name, data in temperature.items():
        sensor = _map(data)
        if is_placeholder(raw_name) or sensor.get("online") is False:
            continue
        celsius = _num(sensor.get("temp"))
        if celsius is None:
            continue
        temp_c = milli_c_to_c(round(celsius * 1000))  # -256 (off) and implausible values: absent
        if temp_c is None:
            continue
        # jtop 7.x adds hwmon sensors labelled "<chip> <label>" (`nvme Composite`).
        name = re.sub(r"\s+", "_", zone_name(raw_name))
        if name in seen:
            seen[name] += 1
            name = f"{name}{seen[name]}"
        else:
            seen[name] = 0
        zones.append(ThermalZone(name=name, temp_c=temp_c))
    return tuple(zones)


def _rails(power: Mapping[str, object]) -> Tuple[PowerRail, ...]:
    measured = dict(_map(power.get("rail")))
    # jtop moves a board's input rail (VIN, POM_5V_IN, VDD_IN) out of `rail` into `tot`, naming it;
    # a `tot` without a name is jtop's sum of all rails, which double counts AGX Orin: not used.
    total = _map(power.get("tot"))
    input_rail = _text(total.get("name"))
    if input_rail is not None and input_rail not in measured:
        measured = {input_rail: total, **measured}
    rails = []
    for name, data in measured.items():
        rail = _map(data)
        if rail.get("online") is False:
            continue  # an unpowered supply (jetson-stats 4.x lists USB-PD ports this way)
        entry = PowerRail(
            name=name,
            power_w=_scaled(rail.get("power"), MILLI),
            voltage_v=_scaled(rail.get("volt"), MILLI),
            current_a=_scaled(rail.get("curr"), MILLI),
            warn_current_a=_scaled(rail.get("warn"), MILLI),
            crit_current_a=_scaled(rail.get("crit"), MILLI),
        )
        if entry.power_w is None and entry.voltage_v is None and entry.current_a is None:
            continue
        rails.append(entry)
    return tuple(rails)


def _fans(fan: Mapping[str, object]) -> Tuple[Fan, ...]:
    fans = []
    for raw_name, data in fan.items():
        name = _FAN_ALIASES.get(raw_name, raw_name)
        speeds = _seq(_map(data).get("speed"))
        rpms = _seq(_map(data).get("rpm"))
        for i in range(max(len(speeds), len(rpms))):
            ratio = _ratio(speeds[i]) if i < len(speeds) else None
            rpm = _num(rpms[i]) if i < len(rpms) else None
            if rpm is not None and rpm < 0:
                rpm = None
            if ratio is None and rpm is None:
                continue
            fans.append(Fan(name=name if i == 0 else f"{name}{i}", speed_ratio=ratio, rpm=rpm))
    return tuple(fans)


def _board(board: Mapping[str, object]) -> Optional[BoardInfo]:
    hw = _map(board.get("hardware"))
    if not hw:
        return None

    def pick(key: str, pattern: re.Pattern[str]) -> Optional[str]:
        value = _text(hw.get(key))
        return value if value is not None and pattern.fullmatch(value) else None

    soc = pick("SoC", _SOC)
    l4t = pick("L4T", _VERSION)
    info = BoardInfo(
        model=_text(hw.get("Model")),
        # The EEPROM part number; JetPack 4's `nvidia,boardids` as jtop spells it (p3448-0000-...).
        module=pick("P-Number", _PART) or _prefix(_text(hw.get("BoardIDs")), _PART),
        soc=soc,
        l4t=l4t,
        # The exporter's own L4T table first, so that every source labels a release alike.
        jetpack=jetpack_for(l4t) or pick("Jetpack", _VERSION),
        cuda_arch=pick("CUDA Arch BIN", _VERSION) or CUDA_ARCH.get(soc or ""),
        serial=_text(hw.get("Serial Number")),
    )
    return info if info != BoardInfo() else None


def _prefix(value: Optional[str], pattern: re.Pattern[str]) -> Optional[str]:
    match = pattern.match(value or "")
    return match.group(0) if match else None


def _power_mode(nvpmodel: Mapping[str, object], stats: Mapping[str, object]) -> Optional[PowerMode]:
    raw_id = nvpmodel.get("id")
    mode_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
    name = _text(nvpmodel.get("name")) or _text(stats.get("nvp model"))
    if mode_id is None and name is None:
        return None
    return PowerMode(id=mode_id, name=name)


def _jetson_clocks(value: object, stats: Mapping[str, object]) -> Optional[bool]:
    if isinstance(value, bool):
        return value
    state = stats.get("jetson_clocks")
    return {"ON": True, "OFF": False}.get(state) if isinstance(state, str) else None


def snapshot_from_frame(frame: Frame) -> Tuple[Snapshot, List[str]]:
    """A Snapshot from one jtop frame, and a line per part whose shape was not understood."""
    errors: List[str] = []
    stats = _map(frame.get("stats"))

    def part(key: str, build: Callable[[Mapping[str, object]], T], default: T) -> T:
        try:
            return build(_map(frame.get(key)))
        except Exception as exc:  # a jetson-stats release with another shape: lose that part only
            errors.append(f"cannot map jtop `{key}`: {type(exc).__name__}: {exc}")
            return default

    snapshot = Snapshot(
        board=part("board", _board, None),
        cpus=part("cpu", _cpus, ()),
        gpu=part("gpu", _gpu, None),
        emc=part("memory", _emc, None),
        memory=part("memory", lambda m: _memory(m, stats), None),
        engines=part("engine", _engines, ()),
        thermal=part("temperature", _thermal, ()),
        rails=part("power", _rails, ()),
        fans=part("fan", _fans, ()),
        power_mode=part("nvpmodel", lambda n: _power_mode(n, stats), None),
        jetson_clocks=_jetson_clocks(frame.get("jetson_clocks"), stats),
    )
    return snapshot, errors


# ------------------------------------------------------------------------------------------------
# The client: frames, failures
# ------------------------------------------------------------------------------------------------


class JtopClient(Protocol):
    """The part of `jtop.jtop` this source uses (the same in jetson-stats 4.x and 7.x)."""

    def start(self) -> None: ...

    def ok(self, spin: bool = False) -> bool: ...

    def close(self) -> None: ...


ClientFactory = Callable[[float], JtopClient]

# Properties read for every frame; all are plain data or mapping-like objects in 4.x and 7.x.
_PROPERTIES = ("board", "cpu", "gpu", "memory", "engine", "temperature", "power", "fan")


def _plain(value: object, depth: int = 0) -> object:
    """jtop values as plain JSON-like data: its mapping objects (GPU, Memory, Fan) become dicts."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if depth > 8:
        return None
    items = getattr(value, "items", None)
    if callable(items):
        return {str(key): _plain(item, depth + 1) for key, item in items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item, depth + 1) for item in value]
    return None  # datetimes, timedeltas: not used


def frame_from_client(client: object) -> Tuple[Dict[str, object], List[str]]:
    """One frame from a started client: its structured properties as plain data."""
    frame: Dict[str, object] = {}
    errors: List[str] = []
    for prop in _PROPERTIES:
        try:
            value = _plain(getattr(client, prop))
            if prop == "board":  # the rest (host platform, CUDA libraries) says nothing about the board
                value = {"hardware": _map(value).get("hardware")}
            frame[prop] = value
        except Exception as exc:  # e.g. jetson-stats 4.x on Thor: KeyError 'load'
            errors.append(f"cannot read jtop `{prop}`: {type(exc).__name__}: {exc}")
    try:
        clocks = getattr(client, "jetson_clocks", None)
        if clocks is not None:
            frame["jetson_clocks"] = bool(clocks.get_enable())
    except Exception:
        log.debug("jtop jetson_clocks unreadable", exc_info=True)
    try:
        nvpmodel = getattr(client, "nvpmodel", None)
        if nvpmodel is not None:
            frame["nvpmodel"] = {"id": nvpmodel.id, "name": nvpmodel.name}
    except Exception:
        log.debug("jtop nvpmodel unreadable", exc_info=True)
    try:
        # Only a fallback (RAM fraction, jetson_clocks, mode name): failures here cost nothing.
        stats = _map(_plain(getattr(client, "stats", None)))
        frame["stats"] = {k: v for k, v in stats.items() if isinstance(v, (str, int, float))}
    except Exception:
        log.debug("jtop stats unreadable", exc_info=True)
    return frame, errors


_MISMATCH = re.compile(r"Mismatch version jtop service: \[(?P<service>[^\]]*)\] and client: \[(?P<client>[^\]]*)\]")


def mismatch_message(service_version: str, client_version: str) -> str:
    """The one line a user needs when the client library and the host's service disagree."""
    if _VERSION.fullmatch(service_version):
        series = ".".join(service_version.split(".")[:2])
        fix = f"install {PACKAGE}=={series}.* beside the exporter"
    else:
        fix = f"install the {PACKAGE} version the host runs (`jtop --version` there) beside the exporter"
    return (f"jtop service is {service_version} but this exporter has {PACKAGE} {client_version} installed: "
            f"{fix} (client and service must share major.minor)")


def describe_failure(exc: BaseException, client_version: str) -> Tuple[str, bool]:
    """One line for the user, and whether it is a version mismatch (which is retried slowly)."""
    text = str(exc)
    match = _MISMATCH.search(text)
    if match:
        client = client_version if client_version != "unknown" else match.group("client")
        return mismatch_message(match.group("service").strip(), client), True
    if "not active" in text or isinstance(exc, (FileNotFoundError, ConnectionRefusedError)):
        return (f"cannot connect to the jtop service at {SOCKET_PATH}: it is not running "
                "(start jtop.service; in a container, mount the host's socket)"), False
    if "can't access" in text or isinstance(exc, PermissionError):
        return (f"permission denied on {SOCKET_PATH}: run the exporter as root or in the socket's group "
                "(jtop); see docs/JTOP.md before doing so"), False
    if "Authentication" in text:
        return (f"the jtop service at {SOCKET_PATH} refused the client's authentication: "
                f"is {PACKAGE} {client_version} the host's version?"), False
    if isinstance(exc, _NoData):
        return text, False
    if isinstance(exc, (EOFError, ConnectionError)) or "connection" in text.lower():
        return "lost the connection to the jtop service (stopped or restarting?)", False
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    return f"jtop client error: {type(exc).__name__}" + (f": {first_line}" if first_line else ""), False


class _NoData(Exception):
    """The client stopped receiving frames without an error of its own."""


def load_client() -> Tuple[ClientFactory, str]:
    """The jtop client class and the installed jetson-stats version (ImportError with advice)."""
    try:
        module = importlib.import_module("jtop")
    except ImportError as exc:
        raise ImportError(
            f"--source=jtop needs the {PACKAGE} client library, which is not installed: "
            f"pip install '{PACKAGE}==<the host service's major.minor>.*' (see docs/JTOP.md)"
        ) from exc
    factory = getattr(module, "jtop", None)
    if not callable(factory):
        raise ImportError(f"the installed `jtop` module has no jtop client class: is it {PACKAGE}?")
    try:
        from importlib.metadata import PackageNotFoundError, version

        installed = version(PACKAGE)
    except (ImportError, PackageNotFoundError):
        installed = str(getattr(module, "__version__", "unknown"))
    return factory, installed


# ------------------------------------------------------------------------------------------------
# The collector
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    """How one connection ended."""

    message: str
    mismatch: bool = False
    connected: bool = False  # it delivered data before it ended (the backoff starts over)
    follow_interval_s: Optional[float] = None  # reconnect at once at the service's interval


class JtopCollector:
    """A collector over one jtop client owned by a background thread.

    `read()` never blocks: it returns the last frame's Snapshot while the connection is alive
    and fresh, and an empty Snapshot plus one error line otherwise (collector failed, values
    absent rather than stale).
    """

    name = "jtop"

    def __init__(
        self,
        interval_s: float = 1.0,
        *,
        client_factory: ClientFactory,
        client_version: str = "unknown",
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        pause: Optional[Callable[[float], None]] = None,
    ) -> None:
        """`pause(seconds)` replaces the wait before a reconnection attempt (tests)."""
        self.interval_s = interval_s
        self.client_version = client_version
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.connections = 0  # successful connections so far
        self._factory = client_factory
        self._clock = clock
        self._pause = pause
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._settled = threading.Event()  # set once the first attempt has ended (data or failure)
        self._thread: Optional[threading.Thread] = None
        self._snapshot: Optional[Snapshot] = None
        self._snapshot_at = 0.0
        self._snapshot_errors: List[str] = []
        self._failure: Optional[str] = f"connecting to the jtop service at {SOCKET_PATH}"
        self._stale_after_s = self._stale_after(interval_s)
        self._interval = interval_s  # what the next client asks the service for
        self._errors: List[str] = []

    @staticmethod
    def _stale_after(interval_s: float) -> float:
        # The client itself gives up after 3 silent intervals; a margin for scheduling.
        return 3 * interval_s + 2.0

    @property
    def errors(self) -> List[str]:
        return self._errors

    def start(self) -> None:
        """Connect in the background from now on."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="jtop-client", daemon=True)
            self._thread.start()

    def wait_settled(self, timeout_s: float) -> bool:
        """Block until the first connection attempt has ended: complete data (a second frame) or an error."""
        return self._settled.wait(timeout_s)

    def read(self) -> Snapshot:
        now = self._clock()
        with self._lock:
            snapshot, at, failure = self._snapshot, self._snapshot_at, self._failure
            snapshot_errors, stale_after = self._snapshot_errors, self._stale_after_s
        if failure is None and snapshot is not None and now - at <= stale_after:
            self._errors = list(snapshot_errors)
            return snapshot
        self._errors = [failure or f"no data from the jtop service for more than {stale_after:g}s"]
        return Snapshot()

    def close(self) -> None:
        """Stop the background thread and close the client."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self._stale_after_s + 5.0)

    # -- background thread ----------------------------------------------------------------------

    def _publish(self, snapshot: Snapshot, errors: List[str], settled: bool = True) -> None:
        with self._lock:
            self._snapshot, self._snapshot_at, self._snapshot_errors = snapshot, self._clock(), errors
            self._failure = None
        if settled:
            self._settled.set()

    def _fail(self, message: str) -> None:
        with self._lock:
            self._snapshot = None  # nothing stale is ever served
            self._failure = message
        self._settled.set()

    def _run(self) -> None:
        delay = self.backoff_initial_s
        while not self._stop.is_set():
            # Each connection lives in a thread of its own: multiprocessing proxies cache one
            # connection per thread and socket path, and a cached connection to a service that
            # has since restarted would fail every later attempt from the same thread.
            outcome: List[_Outcome] = []
            attempt = threading.Thread(target=self._connection, args=(outcome,), name="jtop-connection", daemon=True)
            attempt.start()
            attempt.join()
            if self._stop.is_set():
                break
            result = outcome[0] if outcome else _Outcome("the jtop client stopped")
            if result.follow_interval_s is not None:
                self._interval = result.follow_interval_s
                continue
            if result.connected:
                delay = self.backoff_initial_s
            if self._interval != self.interval_s:  # ask for our own interval again: we may be first now
                self._interval = self.interval_s
                with self._lock:
                    self._stale_after_s = self._stale_after(self.interval_s)
            wait = self.backoff_max_s if result.mismatch else delay
            delay = min(wait * 2, self.backoff_max_s)
            message = result.message
            if result.mismatch:
                message = f"{message}; retrying every {self.backoff_max_s:g}s"
            self._fail(message)
            log.debug("next jtop connection attempt in %gs", wait)
            if self._pause is not None:
                self._pause(wait)
            else:
                self._stop.wait(wait)

    def _connection(self, outcome: List[_Outcome]) -> None:
        """One client from `start()` to its end: publishes frames, then tells why it ended."""
        outcome.append(self._client_session())

    def _client_session(self) -> _Outcome:
        interval = self._interval
        client: Optional[JtopClient] = None
        connected = False
        try:
            client = self._factory(interval)
            client.start()
            service_interval = _num(getattr(client, "interval", None)) or interval
            if service_interval > interval * 1.001:
                # The first client fixed the service's period, and the client library gives up
                # after 3 of *its own* intervals without data: reconnect at the service's pace.
                log.info("the jtop service samples every %gs (set by another client); following it",
                         service_interval)
                with self._lock:
                    self._stale_after_s = self._stale_after(service_interval)
                return _Outcome("", follow_interval_s=service_interval)
            connected = True
            self.connections += 1
            log.info("%s the jtop service at %s (%s %s client, sampling every %gs)",
                     "reconnected to" if self.connections > 1 else "connected to", SOCKET_PATH, PACKAGE,
                     self.client_version, service_interval)
            frames = 0
            while not self._stop.is_set():
                if not client.ok():
                    raise _NoData(f"the jtop service sent no data for {3 * interval:g}s")
                frame, errors = frame_from_client(client)
                snapshot, map_errors = snapshot_from_frame(frame)
                frames += 1
                if frames == 1:
                    # A service that had no client restarts its estimators: its first frame's CPU
                    # loads are averages since boot. Like the sysfs source's first tick, the
                    # first frame has none.
                    snapshot = replace(snapshot, cpus=tuple(replace(c, utilization=None) for c in snapshot.cpus))
                self._publish(snapshot, errors + map_errors, settled=frames > 1)
            return _Outcome("closed", connected=connected)
        except Exception as exc:
            message, mismatch = describe_failure(exc, self.client_version)
            log.debug("jtop client failed: %s", message, exc_info=True)
            return _Outcome(message, mismatch=mismatch, connected=connected)
        finally:
            if client is not None:
                self._close_client(client)

    @staticmethod
    def _close_client(client: JtopClient) -> None:
        try:
            client.close()
        except Exception:
            log.debug("closing the jtop client failed", exc_info=True)


def make_collector(args: argparse.Namespace) -> JtopCollector:
    """The collector for `--source=jtop`: samples at `--sampler.interval`."""
    factory, installed = load_client()
    interval = float(getattr(args, "interval", None) or 1.0)
    collector = JtopCollector(interval, client_factory=factory, client_version=installed)
    collector.start()
    # So that `--once` and the first scrape see data (or the reason there is none).
    collector.wait_settled(3 * interval + 5.0)
    return collector

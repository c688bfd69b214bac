"""One tegrastats line -> Snapshot, for every format from L4T 28 to JetPack 7 and Thor.

A tokenizer and a small keyword grammar, not a regex per model. Tokens are whitespace-separated;
items are found by keyword or by the shape of their value, never by position (temperature and
rail order differ per board):

    line   = [DATE TIME] item*                         DATE = MM-DD-YYYY, TIME = HH:MM:SS
    item   = ram | swap | iram | cpu | mts | emc | gr3d | temp | named | unknown
    ram    = "RAM" n "/" n UNIT ["(lfb" n "x" n UNIT ")"]
    swap   = "SWAP" n "/" n UNIT ["(cached" n UNIT ")"]
    iram   = "IRAM" n "/" n UNIT ["(lfb" n UNIT ")"]          (no blank before "(")
    cpu    = ("CPU" | "cpu") "[" core ("," core)* "]" ["@" f]   (L4T 28: one clock after "]")
    core   = "off" | p "%" ["@" f]
    mts    = "MTS" "fg" p "%" "bg" p "%"                        (recognized, not modelled)
    emc    = ("EMC" | "EMC_FREQ") load
    gr3d   = ("GR3D" | "GR3D_FREQ" | "GR3D2_FREQ" | "GR3D_PCI") load
    load   = [p "%"] ["@" (f | "[" f ("," f)* "]")]             (at least one of the two)
    temp   = NAME "@" v "C" ["/" ...]                           (JP7: "/second value", Thor: "/limit")
    named  = NAME ("off" | load | watts ("/" watts)+ | n "mW" | f)   engine or rail, by the value's shape
                                                                (a bare f only after *_FREQ and APE)
    watts  = n ["mW" | "W"]                                     (no unit: mW, as before JetPack 5)

Blanks inside brackets and before "%" (`12 %@[1300, 1300]`, as the r39.2 documentation prints
them) are removed before splitting. A token the grammar does not know is skipped and counted,
never fatal. Values are converted to the model's SI units: MHz -> Hz, MB/kB (binary) -> bytes,
mW -> W, % -> 0-1. What tegrastats cannot tell is absent, not zero: `off` cores and engines have
no clock or load, `-256C` zones and the constant PMIC zone are left out, clocks missing without
root stay None, and a line without GR3D has no GPU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from typing import Callable, Dict, List, Optional, Sequence, Tuple, TypeVar, Union

from jetson_exporter.readers.thermal import is_placeholder, milli_c_to_c, zone_name
from jetson_exporter.snapshot import (
    CpuCore,
    Emc,
    Engine,
    Gpu,
    Memory,
    PowerRail,
    Snapshot,
    ThermalZone,
    canonical_engine_name,
)

MHZ = 1e6
KIB = 1024.0
MIB = 1024.0 * 1024.0  # tegrastats "MB" is MiB: it divides /proc/meminfo kB by 1024
_SIZE_UNITS = {"B": 1.0, "kB": KIB, "KB": KIB, "K": KIB, "MB": MIB, "M": MIB, "GB": MIB * KIB, "G": MIB * KIB}
# Rails that are not rails: unconnected INA3221 channels (AGX Orin JP5 prints `NC` twice).
_SKIP_RAILS = frozenset({"NC"})
# Unknown tokens kept verbatim per line (all are counted).
MAX_REPORTED_UNKNOWN = 8

_K = TypeVar("_K")
_V = TypeVar("_V")

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*$")
# Blanks after "[" or "," and before "," "]" "%": `12 %@[1300, 1300]` -> `12%@[1300,1300]`.
_BLANKS = re.compile(r"(?<=[\[,])\s+|\s+(?=[,\]%])")


@dataclass(frozen=True)
class ParsedLine:
    """What one line said: the Snapshot, its own timestamp, and what was not understood."""

    snapshot: Snapshot
    timestamp: Optional[float]  # Unix seconds from the line's `MM-DD-YYYY HH:MM:SS`, else None
    stamp: Optional[str]  # that `MM-DD-YYYY HH:MM:SS` as written
    fields: int  # items recognized (RAM, CPU, each rail, each zone, ...)
    unknown: Tuple[str, ...]  # skipped tokens, the first MAX_REPORTED_UNKNOWN of them
    unknown_count: int  # all skipped tokens


class _Acc:
    """Items of one line as they are recognized."""

    __slots__ = ("cpus", "emc", "engines", "gpu", "gpu2", "mem", "rail_names", "rails", "zone_names", "zones")

    def __init__(self) -> None:
        self.mem: Dict[str, float] = {}
        self.cpus: Tuple[CpuCore, ...] = ()
        self.emc: Optional[Emc] = None
        self.gpu: Optional[str] = None  # the GR3D value token
        self.gpu2 = ""  # the GR3D2_FREQ value token (early JetPack 5 Orin)
        self.engines: List[Engine] = []
        self.zones: List[ThermalZone] = []
        self.zone_names: Dict[str, int] = {}
        self.rails: List[PowerRail] = []
        self.rail_names: Dict[str, int] = {}


# -- values --------------------------------------------------------------------------------------

def _num(text: str) -> float:
    """A decimal number; `float()` alone would also take `nan`, `inf` and `1_0` from garbage."""
    value = float(text)
    if not -1e15 < value < 1e15 or "_" in text:
        raise ValueError(text)
    return value


def _split_unit(text: str) -> Tuple[str, str]:
    i = len(text)
    while i and text[i - 1].isalpha():
        i -= 1
    return text[:i], text[i:]


def _size(text: str) -> float:
    """`4MB`, `252kB` -> bytes; a missing or unknown unit raises."""
    number, unit = _split_unit(text)
    return _num(number) * _SIZE_UNITS[unit]


def _used_total(text: str) -> Tuple[float, float]:
    """`3468/3983MB` -> (used, total) bytes; the unit after the total applies to both."""
    used, total = text.split("/")
    if total[-2:] == "MB":
        return _num(used) * MIB, _num(total[:-2]) * MIB
    number, unit = _split_unit(total)
    scale = _SIZE_UNITS[unit]
    return _num(used) * scale, _num(number) * scale


def _load(text: str) -> Tuple[Optional[float], Tuple[float, ...]]:
    """`p%`, `p%@f`, `@f`, `p%@[f,f]`, `@[f,f,f]` -> (load 0-1 or None, clocks in Hz)."""
    percent, at, clock = text.partition("@")
    load = None
    if percent:
        if percent[-1] != "%":
            raise ValueError(text)
        load = _num(percent[:-1]) / 100.0
    clocks: Tuple[float, ...] = ()
    if at:
        if clock[:1] == "[":
            if clock[-1] != "]":
                raise ValueError(text)
            clocks = tuple(_num(f) * MHZ for f in clock[1:-1].split(","))
        else:
            clocks = (_num(clock) * MHZ,)
    elif load is None:
        raise ValueError(text)
    return load, clocks


def _watts(text: str) -> float:
    if text[-2:] == "mW":
        return _num(text[:-2]) / 1000.0
    if text[-1:] == "W":
        return _num(text[:-1])
    return _num(text) / 1000.0  # L4T 28 to JetPack 4 print bare milliwatts


# -- token caches ---------------------------------------------------------------------------------
# Model objects are immutable, and a board's tokens repeat from line to line (`NVDEC off`,
# `APE 174`, `cpu@52.562C`, `14%@2188` for core 0): each distinct token is parsed once and its
# object shared. The caches are bounded; a full cache is simply emptied.

_CACHE_LIMIT = 16384
# Values are 1-tuples so that a cached "nothing to report" (`CV0@-256C`, `NC 0/0`) is not a miss.
_ZONES: Dict[str, Tuple[Optional[ThermalZone]]] = {}
_NAMED: Dict[Tuple[str, str], Tuple[Union[Engine, PowerRail, None]]] = {}
_CORES: Dict[Tuple[int, str, str], CpuCore] = {}  # one core: (index, `p%@f`, L4T 28 shared clock)
_CPU_LISTS: Dict[str, Tuple[CpuCore, ...]] = {}  # the whole `[...]` list: idle boards repeat it
_EMCS: Dict[str, Tuple[Optional[Emc]]] = {}
_GPUS: Dict[Tuple[str, str], Gpu] = {}  # (GR3D value, GR3D2 value)


_CACHES = (_ZONES, _NAMED, _CORES, _CPU_LISTS, _EMCS, _GPUS)


def clear_caches() -> None:
    """Forget every parsed token (for benchmarks that measure parsing from scratch)."""
    for cache in _CACHES:
        cache.clear()


def _remember(cache: Dict[_K, _V], key: _K, value: _V) -> _V:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


# -- keyword items: each takes the tokens and the index after the keyword, returns the next index,
# -- and raises ValueError/IndexError/KeyError when the tokens do not have its shape.

def _ram(tokens: Sequence[str], i: int, acc: _Acc) -> int:
    used, total = _used_total(tokens[i])
    acc.mem["used_bytes"] = used
    acc.mem["total_bytes"] = total
    i += 1
    if i + 1 < len(tokens) and tokens[i] == "(lfb" and tokens[i + 1][-1:] == ")":
        try:
            count, size = tokens[i + 1][:-1].split("x")
            acc.mem["lfb_block_bytes"] = _size(size)
            acc.mem["lfb_blocks"] = _num(count)
            i += 2
        except (ValueError, KeyError):
            pass  # RAM itself stands; the odd lfb tokens are reported as unknown
    return i


def _swap(tokens: Sequence[str], i: int, acc: _Acc) -> int:
    used, total = _used_total(tokens[i])
    acc.mem["swap_used_bytes"] = used
    acc.mem["swap_total_bytes"] = total
    i += 1
    if i + 1 < len(tokens) and tokens[i] == "(cached" and tokens[i + 1][-1:] == ")":
        try:
            acc.mem["swap_cached_bytes"] = _size(tokens[i + 1][:-1])
            i += 2
        except (ValueError, KeyError):
            pass
    return i


def _iram(tokens: Sequence[str], i: int, acc: _Acc) -> int:
    value, lfb, _ = tokens[i].partition("(lfb")
    used, total = _used_total(value)
    acc.mem["iram_used_bytes"] = used
    acc.mem["iram_total_bytes"] = total
    i += 1
    if lfb and i < len(tokens) and tokens[i][-1:] == ")":
        i += 1  # IRAM's largest free block is not modelled
    return i


def _cpu(tokens: Sequence[str], i: int, acc: _Acc) -> int:
    text = tokens[i]
    cores = _CPU_LISTS.get(text)
    if cores is None:
        cores = _remember(_CPU_LISTS, text, _cpu_list(text))
    acc.cpus = cores
    return i + 1


def _cpu_list(text: str) -> Tuple[CpuCore, ...]:
    if text[:1] != "[":
        raise ValueError(text)  # `CPU 311/311` is a rail (AGX Xavier): let `named` have it
    body, bracket, shared = text[1:].partition("]")
    if not bracket or (shared and (shared[0] != "@" or not shared[1:])):
        raise ValueError(text)
    cores = []
    cache = _CORES
    for index, entry in enumerate(body.split(",")):
        key = (index, entry, shared)
        core = cache.get(key)
        if core is None:
            core = _remember(cache, key, _core(index, entry, shared))
        cores.append(core)
    return tuple(cores)


def _mts(tokens: Sequence[str], i: int, acc: _Acc) -> int:
    if tokens[i] != "fg" or tokens[i + 2] != "bg" or tokens[i + 1][-1:] != "%" or tokens[i + 3][-1:] != "%":
        raise ValueError("MTS")
    return i + 4  # Denver cluster foreground/background load (Xavier, root): not in the model


def _emc(tokens: Sequence[str], i: int, acc: _Acc) -> int:
    hit = _EMCS.get(tokens[i])
    if hit is None:
        load, clocks = _load(tokens[i])
        # Without a clock (no root) the load is left out: tegrastats derives it from actmon counts
        # divided by the EMC clock it could not read (every such sample says 0%).
        hit = _remember(_EMCS, tokens[i], (Emc(freq_hz=max(clocks), utilization=load) if clocks else None,))
    acc.emc = hit[0]
    return i + 1


def _gr3d(tokens: Sequence[str], i: int, acc: _Acc) -> int:
    if (tokens[i], "") not in _GPUS:
        _load(tokens[i])  # its shape, or ValueError
    acc.gpu = tokens[i]
    return i + 1


def _gr3d2(tokens: Sequence[str], i: int, acc: _Acc) -> int:
    _load(tokens[i])  # early JP5 Orin: the second GPC's clock; its load is GR3D's
    acc.gpu2 = tokens[i]
    return i + 1


def _gr3d_pci(tokens: Sequence[str], i: int, acc: _Acc) -> int:
    _load(tokens[i])  # one L4T 28 board, meaning undocumented: recognized, not modelled
    return i + 1


def _gpu(gr3d: str, gr3d2: str) -> Gpu:
    load, clocks = _load(gr3d)
    per_gpc = "@[" in gr3d
    if gr3d2:
        clocks += _load(gr3d2)[1]
        per_gpc = True
    # Per-GPC clocks (`@[f,f]`, or GR3D + GR3D2): the GPU clock is the fastest, since a
    # floor-swept or gated GPC reads 0 while the others run.
    return Gpu(utilization=load, freq_hz=max(clocks) if clocks else None, gpc_freq_hz=clocks if per_gpc else ())


_Item = Callable[[Sequence[str], int, _Acc], int]
_KEYWORDS: Dict[str, _Item] = {
    "RAM": _ram,
    "SWAP": _swap,
    "IRAM": _iram,
    "CPU": _cpu,
    "cpu": _cpu,
    "MTS": _mts,
    "EMC": _emc,
    "EMC_FREQ": _emc,
    "GR3D": _gr3d,
    "GR3D_FREQ": _gr3d,
    "GR3D2_FREQ": _gr3d2,
    "GR3D_PCI": _gr3d_pci,
}


# -- shape items ---------------------------------------------------------------------------------

def _core(index: int, entry: str, shared: str) -> CpuCore:
    """One entry of the CPU list: `off`, `p%`, `p%@f` (`shared` is L4T 28's `@f` after the list)."""
    if entry == "off":
        return CpuCore(index, False)
    percent, at, clock = entry.partition("@")
    if percent[-1:] != "%":
        raise ValueError(entry)
    if not at and shared:
        clock = shared[1:]
        at = "@"
    freq = _num(clock) * MHZ if at else None
    return CpuCore(index, True, freq_hz=freq, utilization=_num(percent[:-1]) / 100.0)


def _zone(token: str) -> Optional[ThermalZone]:
    """`CPU@44.562C`, `cpu@52.968C/52.968C`; None for `CV0@-256C` (off) and `PMIC@50C` (a constant)."""
    raw, _, rest = token.partition("@")
    value = rest.partition("/")[0]
    if value[-1:] != "C" or not _NAME.match(raw):
        raise ValueError(token)
    temp = milli_c_to_c(round(_num(value[:-1]) * 1000.0))
    if temp is None or is_placeholder(raw):
        return None
    return ThermalZone(zone_name(raw), temp)


def _add_zone(acc: _Acc, zone: ThermalZone) -> None:
    seen = acc.zone_names.get(zone.name)
    if seen is None:
        acc.zone_names[zone.name] = 0
    else:  # two zones with one short name keep apart by a suffix, as the sysfs reader does
        acc.zone_names[zone.name] = seen + 1
        zone = ThermalZone(f"{zone.name}{seen + 1}", zone.temp_c)
    acc.zones.append(zone)


def _named(name: str, value: str) -> Union[Engine, PowerRail, None]:
    """`NAME off` / `NAME p%@f` / `NAME_FREQ @f` / `NAME_FREQ f` (engines), `NAME a/b[/c]` (rails)."""
    if not _NAME.match(name):
        raise ValueError(name)
    if value == "off":
        return Engine(canonical_engine_name(name), active=False)
    if "/" in value or value[-2:] == "mW":
        parts = value.split("/")
        power = _watts(parts[0])  # first value: instantaneous; the others are averages
        for part in parts[1:]:
            _watts(part)  # a cut-off value (`2532/`) makes the whole rail unknown
        return None if name in _SKIP_RAILS else PowerRail(name, power_w=power)
    if value[:1] == "@" or "%" in value:
        load, clocks = _load(value)
        freq = max(clocks) if clocks else None
        return Engine(canonical_engine_name(name), active=True if freq is None else freq > 0, freq_hz=freq,
                      utilization=load)
    if name[-5:] == "_FREQ" or name == "APE":
        # A bare clock (`VIC_FREQ 115`, `APE 174`): on while clocked, as jtop 7.x reads clk_rate.
        freq = _num(value) * MHZ
        return Engine(canonical_engine_name(name), active=freq > 0, freq_hz=freq)
    raise ValueError(value)


def _add_rail(acc: _Acc, rail: PowerRail) -> None:
    seen = acc.rail_names.get(rail.name)
    if seen is None:
        acc.rail_names[rail.name] = 1
    else:  # a repeated label numbers the later rails, as the sysfs reader does
        acc.rail_names[rail.name] = seen + 1
        rail = PowerRail(f"{rail.name}_{seen + 1}", power_w=rail.power_w)
    acc.rails.append(rail)


# -- the line ------------------------------------------------------------------------------------

_DAYS: Dict[Tuple[str, Optional[tzinfo]], Optional[float]] = {}


def _day_start(date: str, tz: Optional[tzinfo]) -> Optional[float]:
    """Unix time of `MM-DD-YYYY` 00:00 in UTC or a fixed-offset zone (None if not a date)."""
    key = (date, tz)
    if key not in _DAYS:
        try:
            start: Optional[float] = datetime(int(date[6:]), int(date[:2]), int(date[3:5]),
                                              tzinfo=tz or timezone.utc).timestamp()
        except ValueError:
            start = None
        _remember(_DAYS, key, start)
    return _DAYS[key]


def stamp_time(date: str, time_: str, tz: Optional[tzinfo] = None, fold: int = 0) -> Optional[float]:
    """`MM-DD-YYYY`, `HH:MM:SS` in the board's local time `tz` (UTC if None) -> Unix seconds.

    `fold=1` picks the second of two equal local times (the hour repeated when daylight saving
    time ends). None if the text is not a valid date and time.
    """
    if len(date) != 10 or len(time_) != 8 or date[2] != "-" or date[5] != "-" or time_[2] != ":" \
            or time_[5] != ":":
        return None
    try:
        hour, minute, second = int(time_[:2]), int(time_[3:5]), int(time_[6:])
        if hour > 23 or minute > 59 or second > 59:
            return None
        if tz is None or isinstance(tz, timezone):
            day = _day_start(date, tz)  # fixed offset: midnight plus the time of day
            return None if day is None else day + hour * 3600 + minute * 60 + second
        # A zone with daylight saving time: the offset depends on the moment.
        return datetime(int(date[6:]), int(date[:2]), int(date[3:5]), hour, minute, second, tzinfo=tz,
                        fold=fold).timestamp()
    except ValueError:
        return None


def parse_line(line: str, tz: Optional[tzinfo] = None) -> ParsedLine:
    """Parse one tegrastats line; `tz` is the board's time zone for the line's timestamp (UTC)."""
    if ", " in line or " %" in line:  # the two blanks the r39.2 documentation shows
        line = _BLANKS.sub("", line)
    tokens = line.split()
    n = len(tokens)
    acc = _Acc()
    unknown: List[str] = []
    unknown_count = fields = 0
    timestamp = stamp = None
    i = 0
    if n >= 2 and tokens[0][:1].isdigit():
        timestamp = stamp_time(tokens[0], tokens[1], tz)
        if timestamp is not None:
            stamp = f"{tokens[0]} {tokens[1]}"
            i = 2
    keywords = _KEYWORDS
    zone_cache = _ZONES
    named_cache = _NAMED
    while i < n:
        token = tokens[i]
        item = keywords.get(token)
        if item is not None:
            try:
                i = item(tokens, i + 1, acc)
                fields += 1
                continue
            except (ValueError, IndexError, KeyError):
                pass  # not this keyword's shape (`CPU 311/311` is a rail): try the shapes below
        try:
            if "@" in token:
                zone_hit = zone_cache.get(token)
                if zone_hit is None:
                    zone_hit = _remember(zone_cache, token, (_zone(token),))
                if zone_hit[0] is not None:
                    _add_zone(acc, zone_hit[0])
                fields += 1
                i += 1
                continue
            if i + 1 < n:
                key = (token, tokens[i + 1])
                named_hit = named_cache.get(key)
                if named_hit is None:
                    named_hit = _remember(named_cache, key, (_named(token, tokens[i + 1]),))
                named = named_hit[0]
                if type(named) is Engine:
                    acc.engines.append(named)
                elif named is not None:
                    _add_rail(acc, named)  # type: ignore[arg-type]
                fields += 1
                i += 2
                continue
        except (ValueError, IndexError, KeyError):
            pass
        unknown_count += 1
        if len(unknown) < MAX_REPORTED_UNKNOWN:
            unknown.append(token[:64])
        i += 1
    return ParsedLine(_snapshot(acc), timestamp, stamp, fields, tuple(unknown), unknown_count)


def _snapshot(acc: _Acc) -> Snapshot:
    gpu = None
    if acc.gpu is not None:
        key = (acc.gpu, acc.gpu2)
        gpu = _GPUS.get(key)
        if gpu is None:
            gpu = _remember(_GPUS, key, _gpu(*key))
    memory = Memory(**acc.mem) if acc.mem else None
    return Snapshot(cpus=acc.cpus, gpu=gpu, emc=acc.emc, memory=memory, engines=tuple(acc.engines),
                    thermal=tuple(acc.zones), rails=tuple(acc.rails))

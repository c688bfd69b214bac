"""Snapshot + counters + collector health -> Prometheus series, from the one catalog.

Rendering is cached per sampler generation and format: the data changes once per tick, so any
number of scrapes within a tick costs one render (and one compression). `build_families` gives the
same data as prometheus_client families for other uses (the tegrastats converter, tests).
"""

from __future__ import annotations

import gzip
import platform
import threading
from typing import Callable, Dict, Iterable, List, Optional, Tuple, Union, cast

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.utils import floatToGoString as _untyped_float_to_go_string

from jetson_exporter import __version__
from jetson_exporter.catalog import BY_NAME, COUNTER
from jetson_exporter.catalog import Metric as CatalogMetric
from jetson_exporter.sampler import Sample
from jetson_exporter.snapshot import CPU_MODES


def _b(flag: Optional[bool]) -> Optional[float]:
    return None if flag is None else (1.0 if flag else 0.0)


_PYTHON_VERSION = platform.python_version()

# One family's samples: the catalog entry and (label values, value) pairs in emission order.
Series = Tuple[CatalogMetric, List[Tuple[Tuple[str, ...], float]]]


class _Builder:
    """Series per metric in the order their metrics were first asked for; a metric is emitted
    only if it got at least one sample. `family(name)` is the list to append `(labels, value)`
    to (values already floats); `add` is the same with the None check and conversion done."""

    def __init__(self) -> None:
        self._series: Dict[str, List[Tuple[Tuple[str, ...], float]]] = {}

    def family(self, name: str) -> List[Tuple[Tuple[str, ...], float]]:
        samples = self._series.get(name)
        if samples is None:
            samples = self._series[name] = []
        return samples

    def add(self, name: str, value: Optional[float], *label_values: str) -> None:
        if value is not None:
            self.family(name).append((label_values, float(value)))

    def series(self) -> List[Series]:
        return [(BY_NAME[name], samples) for name, samples in self._series.items() if samples]


def _put(samples: List[Tuple[Tuple[str, ...], float]], label_values: Tuple[str, ...], value: Optional[float]) -> None:
    if value is not None:
        samples.append((label_values, float(value)))


def build_series(sample: Sample, *, source: str, detected: Optional[bool]) -> List[Series]:
    """All metric series for one Sample, grouped by metric, subsystem by subsystem."""
    s = sample.snapshot
    c = sample.counters
    b = _Builder()
    add = b.add
    family = b.family

    if s.board is not None and any(
        (s.board.model, s.board.module, s.board.soc, s.board.l4t)
    ):
        bd = s.board
        add("jetson_info", 1.0, bd.model or "", bd.module or "", bd.soc or "", bd.l4t or "", bd.jetpack or "",
            bd.cuda_arch or "")
        if bd.carrier or bd.serial:
            add("jetson_board_info", 1.0, bd.carrier or "", bd.serial or "")

    if s.cpus:
        online = family("jetson_cpu_online")
        utilization = family("jetson_cpu_utilization_ratio")
        freq = family("jetson_cpu_frequency_hertz")
        freq_min = family("jetson_cpu_frequency_min_hertz")
        freq_max = family("jetson_cpu_frequency_max_hertz")
        governor = family("jetson_cpu_governor_info")
        for core in s.cpus:
            cpu = (str(core.index),)
            if not core.online:
                online.append((cpu, 0.0))
                continue
            online.append((cpu, 1.0))
            _put(utilization, cpu, core.utilization)
            _put(freq, cpu, core.freq_hz)
            _put(freq_min, cpu, core.min_freq_hz)
            _put(freq_max, cpu, core.max_freq_hz)
            if core.governor:
                governor.append(((cpu[0], core.governor), 1.0))
        seconds = family("jetson_cpu_seconds_total")
        for core in s.cpus:
            times = core.times_s
            if times:
                cpu_label = str(core.index)
                for mode in CPU_MODES:
                    value = times.get(mode)
                    if value is not None:
                        seconds.append(((cpu_label, mode), float(value)))

    g = s.gpu
    if g is not None:
        add("jetson_gpu_utilization_ratio", g.utilization)
        add("jetson_gpu_busy_seconds_total", c.gpu_busy_s)
        add("jetson_gpu_frequency_hertz", g.freq_hz)
        add("jetson_gpu_frequency_min_hertz", g.min_freq_hz)
        add("jetson_gpu_frequency_max_hertz", g.max_freq_hz)
        for i, gpc_freq in enumerate(g.gpc_freq_hz):
            add("jetson_gpu_gpc_frequency_hertz", gpc_freq, str(i))
        if g.governor:
            add("jetson_gpu_governor_info", 1.0, g.governor)
        add("jetson_gpu_railgate_enabled", _b(g.railgate_enabled))
        add("jetson_gpu_railgated", _b(g.railgated))
        add("jetson_gpu_3d_scaling_enabled", _b(g.scaling_3d_enabled))

    e = s.emc
    if e is not None:
        add("jetson_emc_frequency_hertz", e.freq_hz)
        add("jetson_emc_frequency_min_hertz", e.min_freq_hz)
        add("jetson_emc_frequency_max_hertz", e.max_freq_hz)
        add("jetson_emc_utilization_ratio", e.utilization)

    m = s.memory
    if m is not None:
        add("jetson_memory_total_bytes", m.total_bytes)
        add("jetson_memory_used_bytes", m.used_bytes)
        add("jetson_memory_free_bytes", m.free_bytes)
        add("jetson_memory_available_bytes", m.available_bytes)
        add("jetson_memory_buffers_bytes", m.buffers_bytes)
        add("jetson_memory_cached_bytes", m.cached_bytes)
        add("jetson_memory_gpu_shared_bytes", m.gpu_shared_bytes)
        add("jetson_swap_total_bytes", m.swap_total_bytes)
        add("jetson_swap_used_bytes", m.swap_used_bytes)
        add("jetson_swap_cached_bytes", m.swap_cached_bytes)
        add("jetson_memory_lfb_blocks", m.lfb_blocks)
        add("jetson_memory_lfb_block_bytes", m.lfb_block_bytes)
        add("jetson_memory_iram_total_bytes", m.iram_total_bytes)
        add("jetson_memory_iram_used_bytes", m.iram_used_bytes)

    if s.engines:
        active = family("jetson_engine_active")
        engine_freq = family("jetson_engine_frequency_hertz")
        engine_utilization = family("jetson_engine_utilization_ratio")
        engine_seconds = family("jetson_engine_active_seconds_total")
        for engine in s.engines:
            label = (engine.name,)
            _put(active, label, _b(engine.active))
            _put(engine_freq, label, engine.freq_hz)
            _put(engine_utilization, label, engine.utilization)
            _put(engine_seconds, label, c.engine_active_s.get(engine.name))

    if s.thermal:
        temperature = family("jetson_temperature_celsius")
        for zone in s.thermal:
            temperature.append(((zone.name,), float(zone.temp_c)))
        trips = family("jetson_temperature_trip_point_celsius")
        for zone in s.thermal:
            for trip in zone.trips:
                trips.append(((zone.name, trip.kind), float(trip.temp_c)))

    if s.rails:
        power, voltage, current = (family("jetson_power_watts"), family("jetson_voltage_volts"),
                                   family("jetson_current_amperes"))
        limit, alarm = family("jetson_current_limit_amperes"), family("jetson_current_alarm")
        energy = family("jetson_energy_joules_total")
        for rail in s.rails:
            label = (rail.name,)
            _put(power, label, rail.power_w)
            _put(voltage, label, rail.voltage_v)
            _put(current, label, rail.current_a)
            warn, crit = (rail.name, "warn"), (rail.name, "crit")
            _put(limit, warn, rail.warn_current_a)
            _put(limit, crit, rail.crit_current_a)
            _put(alarm, warn, _b(rail.warn_alarm))
            _put(alarm, crit, _b(rail.crit_alarm))
            _put(energy, label, c.energy_j.get(rail.name))
    add("jetson_board_power_watts", s.board_power_w())
    add("jetson_board_energy_joules_total", c.board_energy_j)

    for fan in s.fans:
        add("jetson_fan_speed_ratio", fan.speed_ratio, fan.name)
        add("jetson_fan_rpm", fan.rpm, fan.name)

    if s.power_mode is not None and s.power_mode.id is not None:
        add("jetson_power_mode_info", 1.0, str(s.power_mode.id), s.power_mode.name or "")
    add("jetson_clocks_enabled", _b(s.jetson_clocks))

    add("jetson_exporter_build_info", 1.0, __version__, source, _PYTHON_VERSION)
    add("jetson_exporter_device_detected", _b(detected))
    if sample.health:
        success = family("jetson_exporter_collector_success")
        duration = family("jetson_exporter_collector_duration_seconds")
        errors = family("jetson_exporter_collector_errors_total")
        for h in sample.health:
            label = (h.name,)
            success.append((label, 1.0 if h.success else 0.0))
            _put(duration, label, h.duration_s)
            errors.append((label, float(h.errors_total)))
            for counter, value in h.counters.items():
                add(counter, value)
    if sample.generation:
        add("jetson_exporter_last_sample_timestamp_seconds", sample.timestamp)
    return b.series()


def to_families(series: Iterable[Series]) -> List[Metric]:
    """prometheus_client metric families for the same series (for its encoders and parsers)."""
    families: List[Metric] = []
    for spec, samples in series:
        family: Union[CounterMetricFamily, GaugeMetricFamily]
        if spec.kind == COUNTER:
            family = CounterMetricFamily(spec.family, spec.help, labels=spec.labels, unit=spec.unit)
        else:
            family = GaugeMetricFamily(spec.name, spec.help, labels=spec.labels, unit=spec.unit)
        for label_values, value in samples:
            family.add_metric(list(label_values), value)
        families.append(family)
    return families


def build_families(sample: Sample, *, source: str, detected: Optional[bool]) -> List[Metric]:
    """All metric families for one Sample as prometheus_client objects."""
    return to_families(build_series(sample, source=source, detected=detected))


# Value formatting stays the library's (Go-style exponents), so output matches it exactly.
_format_value = cast(Callable[[float], str], _untyped_float_to_go_string)


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Encoder:
    """Text 0.0.4 and OpenMetrics 1.0 encoding of series, byte for byte what prometheus_client
    writes for the same families, several times faster: every series' `name{labels} ` prefix and
    every family's header lines are built once, and a family whose samples did not change since
    the last encoding reuses its text (tests check equality with the library).
    """

    _MAX_CACHED = 20_000

    def __init__(self) -> None:
        # (openmetrics, metric name) -> (header lines, label values -> line prefix)
        self._families: Dict[Tuple[bool, str], Tuple[str, Dict[Tuple[str, ...], str]]] = {}
        self._cached = 0
        # (openmetrics, metric name) -> the samples it was last encoded for, and that text: many
        # families (limits, info, trip points, online flags) do not change from one tick to the next.
        self._previous: Dict[Tuple[bool, str], Tuple[List[Tuple[Tuple[str, ...], float]], str]] = {}

    def _family(self, openmetrics: bool, spec: CatalogMetric) -> Tuple[str, Dict[Tuple[str, ...], str]]:
        if openmetrics:
            name = spec.family
            doc = spec.help.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
            header = f"# HELP {name} {doc}\n# TYPE {name} {spec.kind}\n"
            if spec.unit:
                header += f"# UNIT {name} {spec.unit}\n"
        else:
            doc = spec.help.replace("\\", "\\\\").replace("\n", "\\n")
            header = f"# HELP {spec.name} {doc}\n# TYPE {spec.name} {spec.kind}\n"
        entry: Tuple[str, Dict[Tuple[str, ...], str]] = (header, {})
        self._families[(openmetrics, spec.name)] = entry
        return entry

    def _prefix(self, spec: CatalogMetric, label_values: Tuple[str, ...], prefixes: Dict[Tuple[str, ...], str]) -> str:
        if self._cached >= self._MAX_CACHED:
            for _, known in self._families.values():  # label values churned (e.g. renamed rails): start over
                known.clear()
            self._previous.clear()
            self._cached = 0
        if label_values:
            pairs = sorted(zip(spec.labels, label_values))
            labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in pairs)
            prefix = f"{spec.name}{{{labels}}} "
        else:
            prefix = f"{spec.name} "
        prefixes[label_values] = prefix
        self._cached += 1
        return prefix

    def encode(self, series: Iterable[Series], openmetrics: bool) -> bytes:
        out: List[str] = []
        families = self._families
        previous = self._previous
        for spec, samples in series:
            key = (openmetrics, spec.name)
            last = previous.get(key)
            if last is not None and last[0] == samples:
                out.append(last[1])  # nothing changed in this family since the last encoding
                continue
            header, prefixes = families.get(key) or self._family(openmetrics, spec)
            lines = [header]
            for label_values, value in samples:
                prefix = prefixes.get(label_values) or self._prefix(spec, label_values, prefixes)
                text = repr(value)
                # The library formats large values Go-style (2.5e+10) and spells inf/nan its own way;
                # for everything else its result is repr(): call it only where they differ.
                if text.find(".") > 6 or text[-1] in "fn":
                    text = _format_value(value)
                lines.append(prefix + text + "\n")
            chunk = "".join(lines)
            previous[key] = (list(samples), chunk)
            out.append(chunk)
        if openmetrics:
            out.append("# EOF\n")
        return "".join(out).encode("utf-8")


class Renderer:
    """Encodes the latest Sample on demand, once per (generation, format, compression)."""

    def __init__(self, series_for: Callable[[Sample], List[Series]]) -> None:
        self._series_for = series_for
        self._encoder = Encoder()
        self._lock = threading.Lock()
        self._generation = -1
        self._cache: Dict[Tuple[str, bool], bytes] = {}
        self._series: Optional[List[Series]] = None
        self._last_request: Optional[Tuple[str, bool]] = None
        self._served_generation = -1
        # Accept header -> content type: scrapers send the same header every time.
        self._content_types: Dict[str, str] = {}

    def render(self, sample: Sample, accept: str, gzip_ok: bool) -> Tuple[bytes, str]:
        """The encoded sample for a scrape (from the cache when this tick was encoded already)."""
        self._last_request = (accept, gzip_ok)
        self._served_generation = sample.generation
        return self._render(sample, accept, gzip_ok)

    def prerender(self, sample: Sample) -> None:
        """Encode a new tick right away if the previous one was scraped: with scrapes as frequent
        as ticks, the work is done while the data is fresh in the sampler thread and the scrape only
        sends bytes; with rarer scrapes nothing is encoded that nobody fetches."""
        if self._last_request is not None and self._served_generation == sample.generation - 1:
            self._render(sample, *self._last_request)

    def _render(self, sample: Sample, accept: str, gzip_ok: bool) -> Tuple[bytes, str]:
        content_type = self._content_types.get(accept)
        if content_type is None:
            if len(self._content_types) >= 64:  # the header is the client's: keep few
                self._content_types.clear()
            content_type = self._content_types[accept] = choose_encoder(accept or "")[1]
        openmetrics = content_type.startswith("application/openmetrics-text")
        key = (content_type, gzip_ok)
        with self._lock:
            if sample.generation != self._generation:
                self._generation = sample.generation
                self._cache = {}
                self._series = None
            body = self._cache.get(key)
            if body is None:
                plain = self._cache.get((content_type, False))
                if plain is None:
                    if self._series is None:
                        self._series = self._series_for(sample)
                    plain = self._encoder.encode(self._series, openmetrics)
                    self._cache[(content_type, False)] = plain
                body = gzip.compress(plain, compresslevel=1) if gzip_ok else plain
                self._cache[key] = body
        return body, content_type

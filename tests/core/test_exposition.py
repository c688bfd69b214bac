"""Exposition: names from the catalog, absent values absent, formats, caching per tick."""

from __future__ import annotations

import gzip

from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from jetson_exporter.exposition import Encoder, Renderer, build_series, to_families
from jetson_exporter.sampler import Sampler
from jetson_exporter.snapshot import CpuCore, Engine, Fan, Gpu, Memory, PowerMode, PowerRail, Snapshot, ThermalZone
from testkit.core import FakeClock, FakeCollector, board_snapshot, parse_exposition

OPENMETRICS = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"


def _text(snapshot: Snapshot, ticks: int = 2) -> str:
    clock = FakeClock()
    sampler = Sampler([FakeCollector("all", snapshot)], clock=clock, wall_clock=lambda: 1.7e9)
    for _ in range(ticks):
        sampler.tick()
        clock.advance(1.0)
    renderer = Renderer(lambda s: build_series(s, source="sysfs", detected=True))
    body, content_type = renderer.render(sampler.latest, "", False)
    assert content_type.startswith("text/plain; version=0.0.4")
    return body.decode()


def test_values_are_exported_in_si_units_under_their_catalog_names() -> None:
    samples = parse_exposition(_text(board_snapshot(gpu_util=0.25, vdd_in_w=7.5, cpu_temp=51.5)))
    assert samples["jetson_gpu_utilization_ratio"] == 0.25
    assert samples["jetson_gpu_frequency_hertz"] == 918e6
    assert samples['jetson_temperature_celsius{zone="cpu"}'] == 51.5
    assert samples['jetson_power_watts{rail="VDD_IN"}'] == 7.5
    assert samples["jetson_board_power_watts"] == 7.5
    assert samples['jetson_energy_joules_total{rail="VDD_IN"}'] == 7.5  # 1 s at 7.5 W
    assert samples["jetson_gpu_busy_seconds_total"] == 0.25
    assert samples["jetson_exporter_device_detected"] == 1.0


def test_unknown_values_are_absent_never_zero_or_sentinels() -> None:
    snapshot = Snapshot(
        cpus=(CpuCore(0, True, freq_hz=1.2e9), CpuCore(1, False)),
        gpu=Gpu(name="gpu"),  # Thor: no load file
        memory=Memory(total_bytes=8e9),
        fans=(Fan("pwm-fan", speed_ratio=None, rpm=1200.0),),
        rails=(PowerRail("VDD_GPU", power_w=None, voltage_v=5.0),),
    )
    text = _text(snapshot)
    samples = parse_exposition(text)
    assert "jetson_gpu_utilization_ratio" not in text
    assert "jetson_gpu_busy_seconds_total" not in text
    assert 'jetson_cpu_frequency_hertz{cpu="1"}' not in samples
    assert samples['jetson_cpu_online{cpu="1"}'] == 0.0
    assert "jetson_memory_used_bytes" not in text
    assert "jetson_fan_speed_ratio" not in text
    assert samples['jetson_fan_rpm{fan="pwm-fan"}'] == 1200.0
    assert "jetson_power_watts" not in text
    assert "jetson_energy_joules_total" not in text
    assert "jetson_board_power_watts" not in text  # VDD_GPU alone is not the board input


def test_info_metrics_carry_their_labels_with_value_one() -> None:
    snapshot = Snapshot(power_mode=PowerMode(2, "MODE_30W"), engines=(Engine("NVENC", True, 1.15e9),))
    samples = parse_exposition(_text(snapshot))
    assert samples['jetson_power_mode_info{id="2",name="MODE_30W"}'] == 1.0
    assert samples['jetson_engine_active{engine="NVENC"}'] == 1.0
    assert samples['jetson_engine_active_seconds_total{engine="NVENC"}'] == 1.0
    build = [k for k in samples if k.startswith("jetson_exporter_build_info{")]
    assert len(build) == 1 and 'source="sysfs"' in build[0]


def test_openmetrics_is_served_when_asked_for_and_ends_with_eof() -> None:
    clock = FakeClock()
    sampler = Sampler([FakeCollector("all", board_snapshot())], clock=clock)
    sampler.tick()
    renderer = Renderer(lambda s: build_series(s, source="sysfs", detected=True))
    body, content_type = renderer.render(sampler.latest, OPENMETRICS, False)
    assert content_type.startswith("application/openmetrics-text")
    text = body.decode()
    assert text.endswith("# EOF\n")
    assert "# TYPE jetson_energy_joules counter" in text
    assert "# UNIT jetson_energy_joules joules" in text
    assert 'jetson_energy_joules_total{rail="VDD_IN"} 0.0' in text


def test_rendering_is_cached_per_tick_and_gzip_round_trips() -> None:
    calls = []

    def families(sample):  # type: ignore[no-untyped-def]
        calls.append(sample.generation)
        return build_series(sample, source="sysfs", detected=None)

    clock = FakeClock()
    sampler = Sampler([FakeCollector("all", board_snapshot(), )], clock=clock)
    sampler.tick()
    renderer = Renderer(families)
    plain, _ = renderer.render(sampler.latest, "", False)
    zipped, _ = renderer.render(sampler.latest, "", True)
    again, _ = renderer.render(sampler.latest, "", False)
    assert calls == [1]
    assert gzip.decompress(zipped) == plain == again
    sampler.tick()
    renderer.render(sampler.latest, "", False)
    assert calls == [1, 2]


def test_thermal_zone_names_and_trip_points() -> None:
    from jetson_exporter.snapshot import TripPoint

    zone = ThermalZone("tj", 61.0, (TripPoint("passive", 99.0), TripPoint("critical", 104.5)))
    samples = parse_exposition(_text(Snapshot(thermal=(zone,))))
    assert samples['jetson_temperature_trip_point_celsius{type="passive",zone="tj"}'] == 99.0
    assert samples['jetson_temperature_trip_point_celsius{type="critical",zone="tj"}'] == 104.5


class _Registry:
    def __init__(self, families):  # type: ignore[no-untyped-def]
        self.families = families

    def collect(self):  # type: ignore[no-untyped-def]
        return iter(self.families)


def test_the_fast_encoder_writes_exactly_what_prometheus_client_writes() -> None:
    snapshot = Snapshot(
        cpus=(CpuCore(0, True, freq_hz=1.2e9, min_freq_hz=1.15e8, max_freq_hz=2.2016e9, governor="schedutil",
                      times_s={"user": 123.45, "idle": 98765.4}),),
        gpu=Gpu(utilization=0.123, freq_hz=3.06e8),
        memory=Memory(total_bytes=6.58505728e10, used_bytes=1.8e10),
        power_mode=PowerMode(0, 'we"ird\\na\nme'),  # escaping of quotes, backslashes, newlines
        rails=(PowerRail("VDD_IN", power_w=4.067, voltage_v=5.08, current_a=0.8),),
        thermal=(ThermalZone("cpu", -12.5),),
    )
    clock = FakeClock()
    sampler = Sampler([FakeCollector("all", snapshot)], clock=clock, wall_clock=lambda: 1733253333.123)
    sampler.tick()
    clock.advance(1.0)
    sampler.tick()
    series = build_series(sampler.latest, source="sysfs", detected=True)
    families = to_families(series)
    encoder = Encoder()
    for _ in range(2):  # second pass runs from the caches
        assert encoder.encode(series, openmetrics=False) == generate_latest(_Registry(families))
        assert encoder.encode(series, openmetrics=True) == generate_openmetrics(_Registry(families))


class _CountingCollector(FakeCollector):
    def counters(self):  # type: ignore[no-untyped-def]
        return {"jetson_exporter_tegrastats_lines_total": 42.0}


def test_a_collector_s_own_counters_are_exported_with_its_health() -> None:
    clock = FakeClock()
    sampler = Sampler([_CountingCollector("tegrastats", board_snapshot())], clock=clock)
    sampler.tick()
    renderer = Renderer(lambda s: build_series(s, source="tegrastats", detected=None))
    text = renderer.render(sampler.latest, "", False)[0].decode()
    assert "jetson_exporter_tegrastats_lines_total 42.0" in text
    assert "jetson_exporter_device_detected" not in text


def test_a_tick_is_encoded_ahead_only_while_every_tick_is_scraped() -> None:
    calls = []

    def series(sample):  # type: ignore[no-untyped-def]
        calls.append(sample.generation)
        return build_series(sample, source="sysfs", detected=None)

    renderer = Renderer(series)
    sampler = Sampler([FakeCollector("all", board_snapshot())], clock=FakeClock(), on_publish=renderer.prerender)
    sampler.tick()
    sampler.tick()
    assert calls == []  # nobody scraped: nothing encoded
    renderer.render(sampler.latest, "", True)
    assert calls == [2]
    sampler.tick()  # the previous tick was scraped: this one is encoded as it is published
    assert calls == [2, 3]
    renderer.render(sampler.latest, "", True)
    assert calls == [2, 3]  # the scrape found it ready
    sampler.tick()
    sampler.tick()  # tick 4 was not scraped: tick 5 is not encoded ahead
    assert calls == [2, 3, 4]


def test_values_are_formatted_like_the_library_at_every_magnitude() -> None:
    from jetson_exporter.catalog import BY_NAME

    values = [0.0, -0.0, 1.0, 0.1 + 0.2, 999999.5, 1234567.0, 12345678.9, 2.5276203008e10, 1e22, 1e-7, -3e9,
              -1234567.0, float("inf"), float("-inf"), float("nan"), 5e-324, 1.7976931348623157e308]
    spec = BY_NAME["jetson_power_watts"]
    series = [(spec, [((f"r{i}",), v) for i, v in enumerate(values)])]
    encoder = Encoder()
    for openmetrics, reference in ((False, generate_latest), (True, generate_openmetrics)):
        assert encoder.encode(series, openmetrics) == reference(_Registry(to_families(series)))


def test_a_family_is_re_encoded_exactly_when_its_samples_change() -> None:
    from jetson_exporter.catalog import BY_NAME

    power, temp = BY_NAME["jetson_power_watts"], BY_NAME["jetson_temperature_celsius"]
    encoder = Encoder()
    first = [(power, [(("VDD_IN",), 5.0)]), (temp, [(("cpu",), 40.0)])]
    encoder.encode(first, False)
    changed = [(power, [(("VDD_IN",), 5.5)]), (temp, [(("cpu",), 40.0)])]
    assert encoder.encode(changed, False) == generate_latest(_Registry(to_families(changed)))
    grown = [(power, [(("VDD_IN",), 5.5), (("VDD_GPU",), 1.0)]), (temp, [(("cpu",), 40.0)])]
    assert encoder.encode(grown, False) == generate_latest(_Registry(to_families(grown)))
    assert encoder.encode(grown, True) == generate_openmetrics(_Registry(to_families(grown)))

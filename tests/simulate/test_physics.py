"""The board model: deterministic, and moving the way a real board does."""

from __future__ import annotations

from typing import List

import pytest

from jetson_exporter.simulate.devicetree import USER_HZ
from jetson_exporter.simulate.models import MODELS
from jetson_exporter.simulate.physics import PROFILES, Drive, Physics, Reading, zone_kind
from jetson_exporter.simulate.scenarios import SCENARIOS, BoardInfo, Scenario, scenario

ORIN = MODELS["agx-orin-jp6"]


def run(model: str, s: Scenario, seconds: int, dt: float = 1.0, seed: int = 3) -> List[Reading]:
    m = MODELS[model]
    physics = Physics(m, seed, 0.0, s.heatsink_rise_c)
    info = BoardInfo.of(m, 0.4)
    return [physics.step(i * dt, s.drive(i * dt, info)) for i in range(int(seconds / dt) + 1)]


def step_load(t: float, board: BoardInfo) -> Drive:
    """Idle for a minute, then full load."""
    return Drive(0.02, 0.05) if t < 60 else Drive(0.95, 0.7)


STEP = Scenario("step", "idle, then full load", step_load)


def hottest(r: Reading) -> float:
    return max(t for z, t in r.temps_c.items() if zone_kind(z) != "constant")


def test_the_same_seed_and_times_give_the_same_readings() -> None:
    assert run("agx-orin-jp6", scenario("waves"), 60) == run("agx-orin-jp6", scenario("waves"), 60)
    assert run("agx-orin-jp6", scenario("waves"), 60, seed=4) != run("agx-orin-jp6", scenario("waves"), 60)


def test_power_follows_load_at_once_and_temperature_follows_power_with_a_lag() -> None:
    readings = run("agx-orin-jp6", STEP, 300)
    idle, loaded = readings[59], readings[61]
    assert idle.board_power_w is not None and loaded.board_power_w is not None
    assert loaded.board_power_w > 3 * idle.board_power_w  # the rails see the work immediately
    assert loaded.gpu_load is not None and loaded.gpu_load > 0.9
    gpu = [r.temps_c["gpu-thermal"] for r in readings[60:]]
    assert gpu[2] < gpu[-1] - 10  # the heat takes time to build up
    assert all(b >= a - 0.5 for a, b in zip(gpu, gpu[1:]))  # and it keeps climbing (the fan only slows it)
    assert gpu[-1] - gpu[0] > 15


def test_the_fan_follows_the_temperature_and_its_tachometer_follows_the_pwm() -> None:
    readings = run("agx-orin-jp6", STEP, 300)
    (pwm_idle, _), (pwm_hot, rpm_hot) = readings[59].fans["pwm-fan"], readings[-1].fans["pwm-fan"]
    assert pwm_hot > pwm_idle + 0.2
    assert rpm_hot == pytest.approx(PROFILES["agx-orin-jp6"].fan_max_rpm * pwm_hot, rel=0.03)
    assert round(pwm_hot * 255) == pwm_hot * 255  # PWM moves in the register's 1/255 steps


def test_cpu_ticks_account_for_all_the_time_and_utilization_is_their_busy_share() -> None:
    readings = run("orin-nano-jp6", scenario("waves"), 30, dt=0.5)
    first, last = readings[0].state.cpus, readings[-1].state.cpus
    for core, (a, b) in enumerate(zip(first, last)):
        if not a.online:
            assert not b.online and b.times is None
            continue
        assert a.times is not None and b.times is not None
        total = sum(vars(b.times).values()) - sum(vars(a.times).values())
        assert round(total * USER_HZ) == 30 * USER_HZ
        assert 0 < readings[-1].cpu_util[core] < 1


def test_overheating_crosses_the_throttle_margin_then_throttles_and_stays_below_critical() -> None:
    for model in ("orin-nano-jp6", "agx-orin-jp6", "xavier-nx-jp5"):
        readings = run(model, scenario("overheating"), 300)
        zones = MODELS[model].spec.thermal
        passive = min(t for z in zones for kind, t in z.trips if kind == "passive")
        critical = min(t for z in zones for kind, t in z.trips if kind == "critical")
        crossed = next(i for i, r in enumerate(readings) if hottest(r) >= passive - 5)
        assert crossed <= 30, model
        assert all(hottest(r) >= passive - 5 for r in readings[crossed + 10:]), model
        assert max(hottest(r) for r in readings) < critical, model
        assert min(r.throttle for r in readings) < 1.0
        assert readings[-1].gpu_freq_hz < MODELS[model].state.gpu.devfreq[0].max_freq_hz  # clocks capped


def test_a_failed_fan_is_driven_but_reads_zero_rpm_and_the_board_stays_below_the_alert_temperatures() -> None:
    readings = run("xavier-nx-jp5", scenario("fan-failure"), 300)
    assert all(rpm == 0 for r in readings for _, rpm in r.fans.values())
    assert all(pwm > 0.2 for r in readings[5:] for pwm, _ in r.fans.values())
    assert max(hottest(r) for r in readings) < 85


def test_an_idle_board_stays_cool_and_its_fan_turns() -> None:
    for model in MODELS:
        readings = run(model, scenario("idle"), 120)
        assert max(hottest(r) for r in readings[30:]) < 50, model
        assert all(rpm > 0 for r in readings for _, rpm in r.fans.values()), model
        assert all(r.throttle == 1.0 for r in readings)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_model_gives_plausible_readings_in_every_scenario(name: str) -> None:
    for model in MODELS:
        readings = run(model, scenario(name), 200, dt=2.0)
        for r in readings:
            assert all(15 < t < 110 for t in r.temps_c.values()), (model, r.temps_c)
            assert all(0 <= w < 2 * PROFILES[model].full_power_w for w in r.power_w.values()), (model, r.power_w)
            assert r.gpu_load is None or 0 <= r.gpu_load <= 1
            assert all(0 <= u <= 1 for u in r.cpu_util.values())

"""Alert rules over the catalog's metrics, as a PrometheusRule and as a plain Prometheus rules file.

Every threshold is a named constant below, with the reason it is what it is; docs/DEPLOY.md lists
the alerts and tests/deploy proves each one fires on bad data and stays quiet on normal data.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from jetson_exporter.deploy import conventions
from jetson_exporter.deploy.options import Options, preset_labels

GROUP = "jetson-exporter"
JOB_SELECTOR = f'job="{conventions.JOB}"'
POD_SELECTOR = f'created_by_kind="DaemonSet", created_by_name="{conventions.NAME}"'

# The sampler ticks every second: a last sample two minutes old means it is stuck, not slow.
STALE_AFTER_S = 120
# Thermal throttling starts at a zone's passive trip point; warn this many degrees before it.
THROTTLE_MARGIN_C = 5
# For a zone without a passive trip point: Jetson modules start throttling in the high 90s (°C).
FALLBACK_HOT_C = 85
# Average GPU load over the window (from the busy-seconds counter, so exact at any scrape interval).
GPU_SATURATED_RATIO = 0.9
GPU_WINDOW = "30m"
GPU_FOR = "15m"  # on top of the window: the load has been high for at least 45 minutes
# A fan at 20% PWM or more spins on every Jetson carrier; below that some fans legitimately stop.
FAN_MIN_COMMANDED_RATIO = 0.2
# Memory is shared by CPU and GPU on a Jetson: below 10% available, allocations start to fail.
MEMORY_AVAILABLE_MIN_RATIO = 0.10
# Swap (zram by default on JetPack) above 80% used means memory is overcommitted, not just cached.
SWAP_USED_MAX_RATIO = 0.80


def _alert(name: str, expr: str, for_: str, severity: str, summary: str, description: str) -> Dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": description},
    }


def alerts(for_override: Optional[str] = None) -> List[Dict[str, Any]]:
    """The alert rules, in the order docs/DEPLOY.md lists them.

    `for_override` replaces every rule's `for` duration (end-to-end tests that cannot wait
    minutes); the rendered rules never use it.
    """
    on = "{{ $labels.instance }}"
    rules = [
        _alert("JetsonExporterDown", f"up{{{JOB_SELECTOR}}} == 0", "5m", "warning",
               f"Jetson exporter on {on} is down",
               f"Prometheus has not been able to scrape the Jetson exporter on {on} for 5 minutes."),
        _alert("JetsonExporterStale",
               f"time() - jetson_exporter_last_sample_timestamp_seconds > {STALE_AFTER_S}", "5m", "warning",
               f"Jetson exporter on {on} serves stale data",
               f"The exporter on {on} answers, but its last reading is {{{{ $value | humanizeDuration }}}} old: "
               "its sampler is stuck."),
        _alert("JetsonCollectorFailing", "jetson_exporter_collector_success == 0", "15m", "info",
               f"Jetson collector {{{{ $labels.collector }}}} fails on {on}",
               f"The {{{{ $labels.collector }}}} collector on {on} has failed for 15 minutes; its metrics are "
               "missing. The exporter's log says why."),
        _alert("JetsonNotDetected", "jetson_exporter_device_detected == 0", "15m", "warning",
               f"No Jetson found by the exporter on {on}",
               f"The exporter on {on} runs but finds no Jetson at its configured paths: the node is not a "
               "Jetson, or the host paths are not mounted."),
        _alert("JetsonNodeWithoutMetrics",
               f"group by (node) (kube_pod_info{{{POD_SELECTOR}}})\n"
               f'unless on (node) group by (node) (up{{{JOB_SELECTOR}}})',
               "15m", "warning",
               "No Jetson metrics from node {{ $labels.node }}",
               "The Jetson exporter has a pod on {{ $labels.node }}, but no metrics at all have arrived from "
               "that node for 15 minutes: the cloud cannot scrape it (pull) or its agent cannot reach the "
               "cloud (push)."),
        _alert("JetsonTemperatureNearThrottling",
               "jetson_temperature_celsius\n"
               f'  >= ignoring (type) (jetson_temperature_trip_point_celsius{{type="passive"}} - {THROTTLE_MARGIN_C})\n'
               f"or (jetson_temperature_celsius >= {FALLBACK_HOT_C}\n"
               '  unless ignoring (type) jetson_temperature_trip_point_celsius{type="passive"})',
               "5m", "warning",
               f"Jetson {{{{ $labels.zone }}}} temperature near throttling on {on}",
               f"Zone {{{{ $labels.zone }}}} on {on} is at {{{{ $value }}}}°C, within {THROTTLE_MARGIN_C}°C of "
               f"the temperature where the board throttles its clocks (or above {FALLBACK_HOT_C}°C where the "
               "zone has no passive trip point)."),
        _alert("JetsonGpuSaturated",
               f"rate(jetson_gpu_busy_seconds_total[{GPU_WINDOW}]) > {GPU_SATURATED_RATIO}", GPU_FOR, "warning",
               f"Jetson GPU saturated on {on}",
               f"The GPU on {on} has been more than {GPU_SATURATED_RATIO:.0%} busy on average over {GPU_WINDOW} "
               f"windows for {GPU_FOR}: its workloads are GPU-bound."),
        _alert("JetsonRailOverCurrent",
               "max without (level) (\n"
               '  jetson_current_amperes > ignoring (level) jetson_current_limit_amperes{level="warn"}\n'
               ")\n"
               'or max without (level) (jetson_current_alarm{level="warn"} == 1)',
               "2m", "warning",
               f"Jetson rail {{{{ $labels.rail }}}} above its current limit on {on}",
               f"The {{{{ $labels.rail }}}} rail on {on} draws more current than its warning limit (the INA "
               "monitor's own limit): the module is at its power budget and may brown out or throttle."),
        _alert("JetsonFanStalled",
               f"jetson_fan_rpm == 0 and jetson_fan_speed_ratio > {FAN_MIN_COMMANDED_RATIO}", "5m", "critical",
               f"Jetson fan {{{{ $labels.fan }}}} not spinning on {on}",
               f"The fan {{{{ $labels.fan }}}} on {on} is driven (PWM above {FAN_MIN_COMMANDED_RATIO:.0%}) but "
               "its tachometer reads 0 RPM: the fan is stuck, unplugged or broken."),
        _alert("JetsonMemoryPressure",
               f"jetson_memory_available_bytes / jetson_memory_total_bytes < {MEMORY_AVAILABLE_MIN_RATIO}",
               "10m", "warning",
               f"Jetson memory nearly exhausted on {on}",
               f"Less than {MEMORY_AVAILABLE_MIN_RATIO:.0%} of RAM is available on {on}; CPU and GPU share it, "
               "so GPU allocations fail too."),
        _alert("JetsonSwapPressure",
               f"jetson_swap_used_bytes / jetson_swap_total_bytes > {SWAP_USED_MAX_RATIO}\n"
               "and jetson_swap_total_bytes > 0",
               "15m", "warning",
               f"Jetson swap nearly full on {on}",
               f"More than {SWAP_USED_MAX_RATIO:.0%} of swap is in use on {on}: memory is overcommitted."),
    ]
    if for_override is not None:
        for rule in rules:
            rule["for"] = for_override
    return rules


def groups(for_override: Optional[str] = None) -> List[Dict[str, Any]]:
    return [{"name": GROUP, "rules": alerts(for_override)}]


def plain_rules_file(options: Options) -> Dict[str, Any]:
    """A rules file for Prometheus's `rule_files` (installs without the operator)."""
    return {"groups": groups()}


def prometheus_rule(options: Options) -> Dict[str, Any]:
    labels = {**conventions.COMMON_LABELS, **preset_labels(options.preset, "rule_labels")}
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": conventions.NAME, "namespace": options.ns, "labels": labels},
        "spec": {"groups": groups()},
    }

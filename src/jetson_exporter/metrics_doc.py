"""Renders docs/METRICS.md from the catalog: `python -m jetson_exporter.metrics_doc > docs/METRICS.md`."""

from __future__ import annotations

import sys
from typing import Dict, List

from jetson_exporter.catalog import CATALOG, Metric
from jetson_exporter.readers import READERS

HEADER = (
    "<!-- Generated from src/jetson_exporter/catalog.py by `python -m jetson_exporter.metrics_doc`; do not edit. -->"
)

_SECTIONS = (
    ("board", "Board"), ("cpu", "CPU"), ("gpu", "GPU"), ("emc", "Memory controller (EMC)"), ("memory", "Memory"),
    ("engines", "Hardware engines"), ("thermal", "Thermal"), ("power", "Power"), ("fan", "Fan"),
    ("powermode", "Power mode"), ("", "The exporter itself"),
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    groups: Dict[str, List[Metric]] = {}
    for metric in CATALOG:
        groups.setdefault(metric.collector, []).append(metric)
    lines = [
        HEADER,
        "",
        "# Metric reference",
        "",
        "Every metric jetson-exporter can serve. A metric appears only while its value is known: a missing",
        "sensor is absent from the output, never a made-up value. Names marked **core** are a public",
        "contract (dashboards, alerts, the doctor and the views use them): they are never renamed without",
        "a migration note. Units are SI and part of the name; ratios are 0-1.",
        "",
        "The collector column is the `--collector.NAME` / `--no-collector.NAME` flag of the sysfs source.",
        "The tegrastats and jtop sources produce the same names wherever they have the same data.",
        "",
    ]
    for collector, title in _SECTIONS:
        metrics = groups.get(collector, [])
        if not metrics:
            continue
        lines += [f"## {title}", "", "| metric | type | labels | meaning | source |", "|---|---|---|---|---|"]
        for m in metrics:
            name = f"`{m.name}`" + (" **core**" if m.core else "")
            labels = ", ".join(f"`{label}`" for label in m.labels) or "—"
            lines.append(f"| {name} | {m.kind} | {labels} | {_cell(m.help)} | {_cell(m.source)} |")
        lines.append("")
    return "\n".join(lines + _cadence())


def _cadence() -> List[str]:
    """How often the sysfs source reads what, from the readers' own settings."""
    lines = [
        "## How often the files are read",
        "",
        "Each collector reads its values every sampler tick (`--sampler.interval`, 1 s by default) from",
        "files it keeps open. Settings, which change only when someone changes them (nvpmodel,",
        "jetson_clocks), are read on the first tick and then every few ticks; so a changed clock limit",
        "shows within that many ticks. Discovery lists directories and reads names, labels, trip points",
        "and current limits; it is redone every few ticks so that a sensor whose driver probes late",
        "appears, at once when a file it planned has vanished, and after a read error until it clears.",
        "Hardware that the SoC and its device tree fix at boot (cores and cpufreq policies, the GPU, the",
        "memory controller, engines) is looked for less often once it has been found.",
        "",
        "| collector | settings read every | settings | discovery every | once found |",
        "|---|---|---|---|---|",
    ]
    for name, cls in READERS.items():
        every = f"{cls.settings_every} ticks" if cls.settings_read else "—"
        settled = f"{cls.settled_rediscover_every} ticks" if cls.settled_rediscover_every else "—"
        settings = _cell(cls.settings_read) or "—"
        lines.append(f"| {name} | {every} | {settings} | {cls.rediscover_every} ticks | {settled} |")
    lines.append("")
    return lines


if __name__ == "__main__":
    sys.stdout.write(render())

"""The fleet dashboard, defined once and rendered for Grafana and for the KubeSphere console.

PANELS is the single definition: title, description, unit and a PromQL template in which `<sel>`
stands for the label matchers and `<window>` for the rate window. It renders to

- a Grafana dashboard (React panel types, a datasource variable, job/instance variables,
  `$__rate_interval`), as a JSON file and as a ConfigMap for the Grafana sidecar;
- a KubeSphere `ClusterDashboard` (monitoring.kubesphere.io/v1alpha2) limited to what the 3.4
  console draws: singlestat/graph/row, literal PromQL, KubeSphere unit names, a step on every
  target, no fields the CRD would prune.

`python -m jetson_exporter.deploy.dashboards > deploy/grafana/jetson-fleet.json` writes the file
for Grafana's import.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from jetson_exporter.deploy import conventions
from jetson_exporter.deploy.options import Options, duration_seconds

UID = "jetson-exporter-fleet"
TITLE = "Jetson fleet"
DESCRIPTION = ("NVIDIA Jetson edge nodes from jetson-exporter: GPU, temperatures, board power, fan, CPU and "
               "memory per node.")
TAGS = ("jetson", "jetson-exporter", "edge")
CLUSTER_DASHBOARD_NAME = "jetson-fleet"
CONFIGMAP_NAME = f"{conventions.NAME}-dashboard"
GRAFANA_FILE = "jetson-fleet.json"
SCHEMA_VERSION = 39

STAT = "stat"
GRAPH = "graph"

# Grafana unit -> (KubeSphere format, unit for the title where KubeSphere has none, divisor).
KUBESPHERE_UNITS: Dict[str, Tuple[str, str, float]] = {
    "percentunit": ("percent (0.0-1.0)", "", 1.0),
    "celsius": ("none", "°C", 1.0),
    "watt": ("none", "W", 1.0),
    "hertz": ("none", "MHz", 1e6),
    "rotrpm": ("none", "RPM", 1.0),
    "bytes": ("Byte", "", 1.0),
    "none": ("none", "", 1.0),
}
KUBESPHERE_STEP = "1m"
KUBESPHERE_MIN_WINDOW_S = 300  # at least 4 scrapes at KubeSphere's 1m interval
KUBESPHERE_COLORS = ("#60acfc", "#23c2db", "#64d5b2", "#d5ec5a", "#ffb64e", "#fb816d", "#d15c7f", "#9a7fd1")


@dataclass(frozen=True)
class Panel:
    """One chart or figure. `expr` uses `<sel>` (label matchers) and `<window>` (rate window)."""

    title: str
    description: str
    expr: str
    unit: str  # a Grafana unit; KUBESPHERE_UNITS maps it
    kind: str = GRAPH  # STAT: one fleet-wide number; GRAPH: one series per node
    legend: str = "{{instance}}"  # the ServiceMonitor and the push agent set instance to the node name
    decimals: Optional[int] = None
    min: Optional[float] = None
    max: Optional[float] = None
    thresholds: Tuple[Tuple[float, str], ...] = ()  # Grafana colours above values (base: green)


@dataclass(frozen=True)
class Row:
    title: str


_BUSY = "rate(jetson_gpu_busy_seconds_total{<sel>}[<window>])"
_ENERGY = "rate(jetson_board_energy_joules_total{<sel>}[<window>])"
_HOT = ((80.0, "orange"), (95.0, "red"))

PANELS: Tuple[Union[Panel, Row], ...] = (
    Panel("Boards up", "Jetson exporters Prometheus scrapes successfully right now.",
          "sum(up{<sel>})", "none", STAT, decimals=0),
    Panel("Boards down", "Jetson exporters Prometheus cannot scrape (see the JetsonExporterDown alert).",
          "count(up{<sel>} == 0) or vector(0)", "none", STAT, decimals=0, thresholds=((1.0, "red"),)),
    Panel("Average GPU load", "GPU load averaged over the boards, from the busy-seconds counter.",
          f"avg({_BUSY})", "percentunit", STAT, decimals=1),
    Panel("Hottest zone", "Highest thermal zone temperature of all boards.",
          "max(jetson_temperature_celsius{<sel>})", "celsius", STAT, decimals=1, thresholds=_HOT),
    Panel("Fleet power", "Input power of all boards together (module input rails, no double counting).",
          f"sum({_ENERGY})", "watt", STAT, decimals=1),
    Panel("Fleet RAM used", "RAM used over RAM total, all boards together (CPU and GPU share it).",
          "sum(jetson_memory_used_bytes{<sel>}) / sum(jetson_memory_total_bytes{<sel>})", "percentunit", STAT,
          decimals=1),
    Row("GPU"),
    Panel("GPU utilization", "Average GPU load over the rate window, from jetson_gpu_busy_seconds_total "
          "(exact at any scrape interval). Absent where the board has no load file (Thor).",
          f"sum by (instance) ({_BUSY})", "percentunit", decimals=1, min=0.0, max=1.0),
    Panel("GPU clock", "Current GPU clock per board.",
          "max by (instance) (jetson_gpu_frequency_hertz{<sel>})", "hertz", decimals=0, min=0.0),
    Row("Temperature"),
    Panel("Hottest zone per board", "Highest thermal zone of each board (tj where the board has one).",
          "max by (instance) (jetson_temperature_celsius{<sel>})", "celsius", decimals=1, thresholds=_HOT),
    Panel("GPU temperature", "The gpu thermal zone of each board.",
          'max by (instance) (jetson_temperature_celsius{zone="gpu", <sel>})', "celsius", decimals=1,
          thresholds=_HOT),
    Row("Power"),
    Panel("Board power", "Module input power of each board, averaged over the rate window from the "
          "integrated energy counter.", f"sum by (instance) ({_ENERGY})", "watt", decimals=1, min=0.0),
    Panel("Board power (instant)", "Module input power of each board at the last reading.",
          "max by (instance) (jetson_board_power_watts{<sel>})", "watt", decimals=1, min=0.0),
    Row("Fan"),
    Panel("Fan PWM", "Commanded fan PWM of each board, 0-100%.",
          "max by (instance) (jetson_fan_speed_ratio{<sel>})", "percentunit", decimals=0, min=0.0, max=1.0),
    Panel("Fan speed", "Measured fan speed of each board, where the fan has a tachometer.",
          "max by (instance) (jetson_fan_rpm{<sel>})", "rotrpm", decimals=0, min=0.0),
    Row("CPU and memory"),
    Panel("CPU utilization", "Busy share of the online cores' time (all modes but idle and iowait) from "
          "jetson_cpu_seconds_total.",
          'sum by (instance) (rate(jetson_cpu_seconds_total{mode!~"idle|iowait", <sel>}[<window>]))\n'
          "/ sum by (instance) (rate(jetson_cpu_seconds_total{<sel>}[<window>]))",
          "percentunit", decimals=1, min=0.0, max=1.0),
    Panel("RAM used", "RAM used over RAM total per board (as tegrastats counts it).",
          "max by (instance) (jetson_memory_used_bytes{<sel>})\n"
          "/ max by (instance) (jetson_memory_total_bytes{<sel>})", "percentunit", decimals=1, min=0.0, max=1.0),
)


def expand(expr: str, selector: str, window: str) -> str:
    """Fill a template: `<sel>` (dropping the comma when it is empty) and `<window>`."""
    if not selector:
        expr = expr.replace(", <sel>", "").replace("<sel>", "")
    return expr.replace("<sel>", selector).replace("<window>", window)


def _panels() -> List[Panel]:
    return [p for p in PANELS if isinstance(p, Panel)]


# -- Grafana ----------------------------------------------------------------------------------------

GRAFANA_SELECTOR = 'job=~"$job", instance=~"$instance"'
GRAFANA_WINDOW = "$__rate_interval"
_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_STAT_W, _STAT_H, _GRAPH_W, _GRAPH_H = 4, 4, 12, 8


def _grafana_panel(panel: Panel, panel_id: int, x: int, y: int) -> Dict[str, Any]:
    stat = panel.kind == STAT
    defaults: Dict[str, Any] = {"unit": panel.unit}
    if panel.decimals is not None:
        defaults["decimals"] = panel.decimals
    if panel.min is not None:
        defaults["min"] = panel.min
    if panel.max is not None:
        defaults["max"] = panel.max
    steps: List[Dict[str, Any]] = [{"color": "green", "value": None}]
    steps += [{"color": color, "value": value} for value, color in panel.thresholds]
    defaults["thresholds"] = {"mode": "absolute", "steps": steps}
    defaults["color"] = {"mode": "thresholds" if stat else "palette-classic"}
    if not stat:
        defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 0, "showPoints": "never",
                              "spanNulls": False,
                              "thresholdsStyle": {"mode": "line" if panel.thresholds else "off"}}
    options: Dict[str, Any]
    if stat:
        options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                   "colorMode": "value", "graphMode": "area", "justifyMode": "auto", "orientation": "auto",
                   "textMode": "auto"}
    else:
        options = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                   "tooltip": {"mode": "multi", "sort": "desc"}}
    target: Dict[str, Any] = {"refId": "A", "datasource": dict(_DATASOURCE),
                              "expr": expand(panel.expr, GRAFANA_SELECTOR, GRAFANA_WINDOW),
                              "legendFormat": "__auto" if stat else panel.legend, "range": True}
    return {
        "id": panel_id,
        "type": "stat" if stat else "timeseries",
        "title": panel.title,
        "description": panel.description,
        "datasource": dict(_DATASOURCE),
        "gridPos": {"x": x, "y": y, "w": _STAT_W if stat else _GRAPH_W, "h": _STAT_H if stat else _GRAPH_H},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": [target],
    }


def _template_variable(name: str, label: str, query: str) -> Dict[str, Any]:
    return {"type": "query", "name": name, "label": label, "datasource": dict(_DATASOURCE), "query": query,
            "definition": query, "refresh": 2, "multi": True, "includeAll": True, "allValue": ".+",
            "current": {}, "options": [], "regex": "", "sort": 1, "hide": 0}


def grafana_dashboard() -> Dict[str, Any]:
    """The Grafana dashboard model (no __inputs: the datasource variable works everywhere)."""
    panels: List[Dict[str, Any]] = []
    x = y = 0
    row_height = 0
    for panel_id, item in enumerate(PANELS, start=1):
        if isinstance(item, Row):
            y += row_height
            x, row_height = 0, 0
            panels.append({"id": panel_id, "type": "row", "title": item.title, "collapsed": False, "panels": [],
                           "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}})
            y += 1
            continue
        width = _STAT_W if item.kind == STAT else _GRAPH_W
        if x + width > 24:
            y += row_height
            x, row_height = 0, 0
        panels.append(_grafana_panel(item, panel_id, x, y))
        x += width
        row_height = max(row_height, _STAT_H if item.kind == STAT else _GRAPH_H)
    templating = [
        {"type": "datasource", "name": "datasource", "label": "Data source", "query": "prometheus",
         "current": {}, "options": [], "regex": "", "refresh": 1, "hide": 0},
        _template_variable("job", "Job", "label_values(jetson_info, job)"),
        _template_variable("instance", "Instance", 'label_values(jetson_info{job=~"$job"}, instance)'),
    ]
    return {
        "uid": UID,
        "id": None,
        "title": TITLE,
        "description": DESCRIPTION,
        "tags": list(TAGS),
        "editable": False,
        "graphTooltip": 1,
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "links": [],
        "annotations": {"list": []},
        "templating": {"list": templating},
        "panels": panels,
    }


def grafana_json() -> str:
    """The dashboard as the file Grafana imports (and the sidecar loads)."""
    return json.dumps(grafana_dashboard(), indent=2, ensure_ascii=False) + "\n"


def grafana_configmap(options: Options) -> Dict[str, Any]:
    """The dashboard for the Grafana sidecar (kube-prometheus-stack: label grafana_dashboard=1)."""
    labels = {**conventions.COMMON_LABELS, "app.kubernetes.io/component": "dashboard", "grafana_dashboard": "1"}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIGMAP_NAME, "namespace": options.ns, "labels": labels},
        "data": {f"{UID}.json": grafana_json()},
    }


# -- KubeSphere ---------------------------------------------------------------------------------------

KUBESPHERE_SELECTOR = f'job="{conventions.JOB}"'


def kubesphere_window(options: Options) -> str:
    """A literal rate window: at least 5m, and at least four scrapes."""
    seconds = max(KUBESPHERE_MIN_WINDOW_S, 4 * duration_seconds(options.scrape_interval))
    seconds = int(-(-seconds // 60) * 60)  # whole minutes
    return f"{seconds // 60}m"


def _kubesphere_expr(panel: Panel, window: str) -> str:
    expr = expand(panel.expr, KUBESPHERE_SELECTOR, window)
    divisor = KUBESPHERE_UNITS[panel.unit][2]
    if divisor != 1.0:
        expr = f"({expr}) / {int(divisor) if divisor.is_integer() else divisor}"
    return expr


def _kubesphere_title(panel: Panel) -> str:
    suffix = KUBESPHERE_UNITS[panel.unit][1]
    return f"{panel.title} ({suffix})" if suffix else panel.title


def cluster_dashboard(options: Options) -> Dict[str, Any]:
    """The ClusterDashboard: singlestats (left column), then rows of graphs, as the 3.4 console lays them out."""
    window = kubesphere_window(options)
    panels: List[Dict[str, Any]] = []
    for panel_id, item in enumerate(PANELS, start=1):
        if isinstance(item, Row):
            panels.append({"id": panel_id, "type": "row", "title": item.title})
            continue
        ks_format = KUBESPHERE_UNITS[item.unit][0]
        target: Dict[str, Any] = {"refId": 1, "expr": _kubesphere_expr(item, window), "step": KUBESPHERE_STEP}
        if item.kind == STAT:
            panels.append({"id": panel_id, "type": "singlestat", "title": _kubesphere_title(item),
                           "description": item.description, "format": ks_format, "decimals": item.decimals or 0,
                           "valueName": "last", "targets": [target]})
        else:
            target["legendFormat"] = item.legend
            axis = {"format": ks_format, "decimals": item.decimals if item.decimals is not None else 2}
            panels.append({"id": panel_id, "type": "graph", "title": _kubesphere_title(item),
                           "description": item.description, "lines": True,
                           "bars": False, "stack": False, "colors": list(KUBESPHERE_COLORS),
                           "yaxes": [axis], "targets": [target]})
    labels = {**conventions.COMMON_LABELS, "app.kubernetes.io/component": "dashboard"}
    return {
        "apiVersion": "monitoring.kubesphere.io/v1alpha2",
        "kind": "ClusterDashboard",
        "metadata": {
            "name": CLUSTER_DASHBOARD_NAME,
            "labels": labels,
            "annotations": {"kubesphere.io/alias-name": TITLE, "kubesphere.io/description": DESCRIPTION},
        },
        "spec": {
            "title": TITLE,
            "description": DESCRIPTION,
            "time": {"from": "now-1h", "to": "now"},
            "panels": panels,
        },
    }


def cluster_dashboard_comment(options: Options) -> List[str]:
    return [
        "KubeSphere: Cluster -> Monitoring & Alerting -> Custom Monitoring -> Jetson fleet.",
        f"Queries are literal PromQL over job=\"{conventions.JOB}\" with [{kubesphere_window(options)}] rate "
        "windows: the 3.4 console does not substitute variables.",
    ]


def grafana_configmap_comment(options: Options) -> List[str]:
    return [
        "Grafana (kube-prometheus-stack): the dashboard sidecar loads ConfigMaps labelled grafana_dashboard=1.",
        "Set the Prometheus datasource's scrape interval to the real one (1m here) for $__rate_interval.",
    ]


def queries() -> List[Tuple[str, str, str]]:
    """(panel title, Grafana expression, kind) for every panel: what tests and docs iterate over."""
    return [(p.title, expand(p.expr, GRAFANA_SELECTOR, GRAFANA_WINDOW), p.kind) for p in _panels()]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print the Grafana dashboard JSON (deploy/grafana/jetson-fleet.json)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args:
        print("usage: python -m jetson_exporter.deploy.dashboards > deploy/grafana/jetson-fleet.json",
              file=sys.stderr)
        return 2
    sys.stdout.write(grafana_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())

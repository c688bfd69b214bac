"""The fleet dashboard, from its one definition: the Grafana JSON passes the dashboard-linter rules
(re-implemented here), the KubeSphere ClusterDashboard validates against the CRD closed to unknown
fields and uses only what the 3.4 console draws, every query is valid PromQL over catalog metrics,
and the checked-in files are current."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import jsonschema
import pytest
import yaml

from jetson_exporter import catalog
from jetson_exporter.deploy import dashboards, render
from jetson_exporter.deploy.options import Options
from testkit import promql

REPO = Path(__file__).resolve().parents[2]
CRD = (REPO.parent / "shared" / "schemas" / "kubesphere-v3.4.1"
       / "monitoring-clusterdashboard-customResourceDefinition.yaml")
DEPLOY = REPO / "deploy"

# -- Grafana: the dashboard-linter rules -----------------------------------------------------------------

# grafana/dashboard-linter lint/rule_panel_units.go: the units a Jetson dashboard can use, all on its list.
LINTER_UNITS = frozenset({
    "none", "short", "percent", "percentunit", "bytes", "decbytes", "bits", "watt", "kwatt", "mwatt", "joule",
    "watth", "kwatth", "volt", "mvolt", "amp", "mamp", "rotrpm", "rothz", "celsius", "fahrenheit", "kelvin",
    "hertz", "ns", "µs", "ms", "s", "m", "h", "d", "bool", "bool_on_off",
})
# Grafana's time variables expand to a duration, others to an identifier (the linter's placeholders).
TIME_VARIABLES = {"__rate_interval": 7777777, "__interval": 7777778, "__range": 7777779}
VARIABLE = re.compile(r'("\$|\$)([A-Za-z0-9_]+)|("\$|\$)\{([^}]+)\}|\[\[([^\[\]]+)\]\]')
QUERY_PANELS = ("timeseries", "stat", "gauge", "table", "graph", "singlestat", "bargauge")
# Rule exceptions, as a `.lint` file would hold them: (rule, panel title) -> reason. None are needed:
# "Boards down" ends in `or vector(0)`, which has no selector for the job/instance rules to check.
ALLOWED: Dict[Tuple[str, str], str] = {}


def expand(expr: str) -> str:
    """Variables outside string literals -> placeholders the parser accepts; "$job" in quotes stays."""
    def substitute(match: re.Match[str]) -> str:
        text = match.group(0)
        if text.startswith('"'):
            return text
        name = next(g for g in (match.group(2), match.group(4), match.group(5)) if g)
        if name in TIME_VARIABLES:
            return f"{TIME_VARIABLES[name]}s"
        return f"lintvar_{name}"
    return VARIABLE.sub(substitute, expr)


def _datasource_uid(value: Any) -> Optional[str]:
    return value.get("uid") if isinstance(value, dict) else value


def lint(dashboard: Dict[str, Any]) -> List[str]:
    """The dashboard-linter's findings as "rule: panel: message" (warnings count as errors here)."""
    found: List[Tuple[str, str, str]] = []
    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    datasource = variables.get("datasource")
    prometheus = datasource is not None and datasource.get("query") == "prometheus"
    if datasource is None or datasource.get("type") != "datasource":
        found.append(("template-datasource-rule", "", "no datasource variable named datasource"))
    elif datasource.get("label") != "Data source":
        found.append(("template-datasource-rule", "", "its label is not 'Data source'"))
    if prometheus:
        for name, label in (("job", "Job"), ("instance", "Instance")):
            variable = variables.get(name)
            rule = f"template-{name}-rule"
            if variable is None:
                found.append((rule, "", f"no {name} variable"))
                continue
            if variable.get("type") != "query":
                found.append((rule, "", "not a query variable"))
            if _datasource_uid(variable.get("datasource")) not in ("$datasource", "${datasource}"):
                found.append((rule, "", "its datasource is not ${datasource}"))
            if not variable.get("multi") or variable.get("allValue") != ".+":
                found.append((rule, "", "not multi-valued with allValue .+"))
            if variable.get("label") != label:
                found.append((rule, "", f"its label is not {label}"))
        for variable in variables.values():
            if variable.get("type") != "query":
                continue
            match = re.fullmatch(r"([a-z_]+)\((.+)\)", str(variable.get("query", "")))
            if match is None or match.group(1) not in ("label_names", "label_values", "metrics", "query_result"):
                found.append(("template-label-promql-rule", "", f"invalid query {variable.get('query')!r}"))
                continue
            function, arguments = match.groups()
            argument = None  # label_values(label), label_names() and metrics(regex) hold no expression
            if function == "label_values" and "," in arguments:
                argument = arguments.rsplit(",", 1)[0]
            elif function == "query_result":
                argument = arguments
            if argument is not None:
                try:
                    promql.parse(expand(argument))
                except ValueError as exc:
                    found.append(("template-label-promql-rule", "", f"{argument!r}: {exc}"))
            if variable.get("refresh") != 2:
                found.append(("template-on-time-change-reload-rule", "", f"{variable['name']}: refresh is not 2"))
    if dashboard.get("editable") is not False:
        found.append(("uneditable-dashboard", "", "editable is not false"))
    for panel in dashboard.get("panels", []):
        kind, title = panel.get("type"), panel.get("title", "")
        if kind == "row":
            continue
        if kind in QUERY_PANELS:
            if _datasource_uid(panel.get("datasource")) not in ("$datasource", "${datasource}"):
                found.append(("panel-datasource-rule", title, "datasource is not ${datasource}"))
            if not title or not panel.get("description"):
                found.append(("panel-title-description-rule", title, "missing title or description"))
            if panel.get("fieldConfig", {}).get("defaults", {}).get("unit") not in LINTER_UNITS:
                found.append(("panel-units-rule", title, "no or invalid unit"))
        if not panel.get("targets"):
            found.append(("panel-no-targets-rule", title, "no targets"))
        for target in panel.get("targets", []):
            found += [(rule, title, message) for rule, message in _lint_target(target["expr"], prometheus)]
    return [f"{rule}: {title}: {message}" for rule, title, message in found if (rule, title) not in ALLOWED]


def _lint_target(expr: str, prometheus: bool) -> List[Tuple[str, str]]:
    try:
        tree = promql.parse(expand(expr))
    except ValueError as exc:
        return [("target-promql-rule", f"{expr!r} does not parse: {exc}")]
    problems = []
    for node, parents in promql.walk(tree):
        kind = type(node).__name__
        parent = parents[-1] if parents else None
        if prometheus and kind == "MatrixSelector":
            in_rate = parent is not None and type(parent).__name__ == "Call" and parent.func.name in ("rate", "irate")
            if in_rate and node.range.total_seconds() != TIME_VARIABLES["__rate_interval"]:
                problems.append(("target-rate-interval-rule", f"{expr!r} should use $__rate_interval"))
        if kind != "VectorSelector":
            continue
        labels = promql.matchers(node)
        if prometheus:
            for name in ("job", "instance"):
                if (name, "=~", f"${name}") not in labels:
                    problems.append((f"target-{name}-rule", f"{node} lacks {name}=~\"${name}\""))
        if (node.name or "").endswith("_total"):
            ok = (len(parents) >= 2 and type(parents[-1]).__name__ == "MatrixSelector"
                  and type(parents[-2]).__name__ == "Call" and parents[-2].func.name in ("rate", "irate", "increase"))
            if not ok:
                problems.append(("target-counter-agg-rule", f"counter {node.name} is not in rate/irate/increase"))
    return problems


GRAFANA = dashboards.grafana_dashboard()


def test_the_grafana_dashboard_passes_the_dashboard_linter_rules() -> None:
    assert lint(GRAFANA) == []


@pytest.mark.parametrize("breakage, rule", [
    (lambda d: d.update(editable=True), "uneditable-dashboard"),
    (lambda d: d["templating"]["list"][0].update(label="DS"), "template-datasource-rule"),
    (lambda d: d["templating"]["list"][1].update(allValue=".*"), "template-job-rule"),
    (lambda d: d["templating"]["list"][2].update(refresh=1), "template-on-time-change-reload-rule"),
    (lambda d: d["templating"]["list"][2].update(query="label_values(jetson_info{, instance)"),
     "template-label-promql-rule"),
    (lambda d: _first_graph(d).update(description=""), "panel-title-description-rule"),
    (lambda d: _first_graph(d)["fieldConfig"]["defaults"].update(unit="degrees"), "panel-units-rule"),
    (lambda d: _first_graph(d).update(datasource={"type": "prometheus", "uid": "prometheus"}),
     "panel-datasource-rule"),
    (lambda d: _first_graph(d).update(targets=[]), "panel-no-targets-rule"),
    (lambda d: _target(d).update(expr=_target(d)["expr"].replace("$__rate_interval", "5m")),
     "target-rate-interval-rule"),
    (lambda d: _target(d).update(expr=_target(d)["expr"].replace(', instance=~"$instance"', "")),
     "target-instance-rule"),
    (lambda d: _target(d).update(expr=_target(d)["expr"].replace('job=~"$job", ', "")), "target-job-rule"),
    (lambda d: _target(d).update(expr='max by (instance) (jetson_gpu_busy_seconds_total{job=~"$job", '
                                 'instance=~"$instance"})'), "target-counter-agg-rule"),
    (lambda d: _target(d).update(expr="sum(rate(x[5m]"), "target-promql-rule"),
])
def test_the_linter_catches_each_kind_of_mistake(breakage: Any, rule: str) -> None:
    broken = copy.deepcopy(GRAFANA)
    breakage(broken)
    assert any(finding.startswith(rule + ":") for finding in lint(broken)), lint(broken)


def _first_graph(dashboard: Dict[str, Any]) -> Dict[str, Any]:
    return next(p for p in dashboard["panels"] if p["type"] == "timeseries" and "rate(" in p["targets"][0]["expr"])


def _target(dashboard: Dict[str, Any]) -> Dict[str, Any]:
    target: Dict[str, Any] = _first_graph(dashboard)["targets"][0]
    return target


def test_the_grafana_dashboard_has_a_stable_identity_and_modern_panels_only() -> None:
    assert GRAFANA["uid"] == dashboards.UID and len(GRAFANA["uid"]) <= 40
    assert GRAFANA["id"] is None and 36 <= GRAFANA["schemaVersion"] <= 39 and "__inputs" not in GRAFANA
    assert {p["type"] for p in GRAFANA["panels"]} <= {"timeseries", "stat", "gauge", "row"}
    ids = [p["id"] for p in GRAFANA["panels"]]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
    for panel in GRAFANA["panels"]:
        for target in panel.get("targets", []):
            assert target["refId"] == "A" and target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_grafana_panels_sit_on_the_grid_without_overlapping() -> None:
    cells = set()
    for panel in GRAFANA["panels"]:
        g = panel["gridPos"]
        assert 0 <= g["x"] <= 23 and 1 <= g["w"] <= 24 and g["x"] + g["w"] <= 24 and g["h"] > 0 and g["y"] >= 0
        covered = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not covered & cells, f"{panel['title']} overlaps another panel"
        cells |= covered


def test_rates_in_grafana_use_the_rate_interval() -> None:
    rates = [t["expr"] for p in GRAFANA["panels"] for t in p.get("targets", []) if "rate(" in t["expr"]]
    assert rates and all("[$__rate_interval]" in expr for expr in rates)


# -- KubeSphere: the ClusterDashboard -----------------------------------------------------------------------

KUBESPHERE_UNITS = frozenset({
    "none", "bit", "Byte", "KB", "MB", "GB", "TB", "bit/s", "Byte/s", "KB/s", "MB/s", "GB/s", "TB/s", "bps", "Bps",
    "KBps", "Mbps", "Gbps", "Tbps", "ms", "seconds", "minutes", "hours", "days", "weeks", "months",
    "percent (0-100)", "percent (0.0-1.0)",
})
DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _closed(schema: Any) -> Any:
    """Unknown fields fail, as the API server would prune (or a strict client refuse) them."""
    if isinstance(schema, dict):
        schema = {k: _closed(v) for k, v in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


@pytest.fixture(scope="module")
def crd_validator() -> jsonschema.protocols.Validator:
    assert CRD.exists(), f"missing {CRD} (the shared/ folder must sit beside the repository)"
    crd = next(d for d in yaml.safe_load_all(CRD.read_text()) if d and d.get("kind") == "CustomResourceDefinition")
    assert crd["spec"]["names"]["kind"] == "ClusterDashboard" and crd["spec"]["scope"] == "Cluster"
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha2")
    schema = _closed(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


def _errors(validator: jsonschema.protocols.Validator, obj: Dict[str, Any]) -> List[str]:
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(obj)]


def _cluster_dashboards() -> List[Tuple[str, Dict[str, Any]]]:
    rendered = [("default", dashboards.cluster_dashboard(Options())),
                ("2m scrapes", dashboards.cluster_dashboard(Options(scrape_interval="2m")))]
    checked_in = yaml.safe_load((DEPLOY / "kubesphere" / "clusterdashboard.yaml").read_text())
    return [*rendered, ("deploy/kubesphere", checked_in)]


@pytest.mark.parametrize("name, obj", _cluster_dashboards(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_cluster_dashboard_validates_against_the_crd_closed_to_unknown_fields(
        name: str, obj: Dict[str, Any], crd_validator: jsonschema.protocols.Validator) -> None:
    assert _errors(crd_validator, obj) == []


@pytest.mark.parametrize("change", [
    lambda o: o["spec"]["panels"][-1].update(fieldConfig={"defaults": {"unit": "percentunit"}}),
    lambda o: o["spec"]["panels"][-1].update(gridPos={"x": 0}),
    lambda o: o["spec"]["panels"][-1]["targets"][0].update(refId="1"),
    lambda o: o["spec"].update(refresh="1m"),
])
def test_the_closed_crd_check_catches_what_the_server_would_drop_or_refuse(
        change: Any, crd_validator: jsonschema.protocols.Validator) -> None:
    broken = copy.deepcopy(dashboards.cluster_dashboard(Options()))
    change(broken)
    assert _errors(crd_validator, broken)


@pytest.mark.parametrize("name, obj", _cluster_dashboards(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_cluster_dashboard_uses_only_what_the_kubesphere_3_4_console_draws(name: str, obj: Dict[str, Any]) -> None:
    assert obj["apiVersion"] == "monitoring.kubesphere.io/v1alpha2" and obj["kind"] == "ClusterDashboard"
    metadata = obj["metadata"]
    assert DNS_NAME.match(metadata["name"]) and len(metadata["name"]) <= 253 and "namespace" not in metadata
    assert metadata["annotations"]["kubesphere.io/alias-name"] and metadata["annotations"]["kubesphere.io/description"]
    spec = obj["spec"]
    assert all(re.fullmatch(r"now(-\d+[smhd])?", spec["time"][k]) for k in ("from", "to"))
    assert "templatings" not in spec
    panels = spec["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    assert {p["type"] for p in panels} == {"singlestat", "graph", "row"}
    for panel in panels:
        if panel["type"] == "row":
            continue
        formats = [panel["format"]] if panel["type"] == "singlestat" else [a["format"] for a in panel["yaxes"]]
        assert formats and set(formats) <= KUBESPHERE_UNITS
        refs = [t["refId"] for t in panel["targets"]]
        assert all(type(r) is int for r in refs) and len(set(refs)) == len(refs)
        for target in panel["targets"]:
            expr = target["expr"]
            assert re.fullmatch(r"\d+[smh]", target["step"])
            assert "$" not in expr, f"{panel['title']}: the console passes variables through verbatim"
            tree = promql.parse(expr)  # literal PromQL must parse as written
            for function, seconds in promql.ranges_seconds(expr):
                assert function in ("rate", "irate", "increase") and seconds >= 300, f"{panel['title']}: {expr}"
            if panel["type"] == "singlestat":
                assert promql.is_single_series(tree), f"{panel['title']}: {expr} may return several series"
            else:
                assert re.fullmatch(r"(\{\{\w+\}\}[ -]?)+", target["legendFormat"])


def test_the_kubesphere_rate_window_holds_four_scrapes() -> None:
    assert dashboards.kubesphere_window(Options()) == "5m"
    assert dashboards.kubesphere_window(Options(scrape_interval="2m")) == "8m"
    assert dashboards.kubesphere_window(Options(scrape_interval="90s")) == "6m"


def test_units_kubesphere_cannot_show_are_in_the_title() -> None:
    titles = {p["title"] for p in dashboards.cluster_dashboard(Options())["spec"]["panels"]}
    assert {"Hottest zone (°C)", "Board power (W)", "GPU clock (MHz)", "Fan speed (RPM)"} <= titles


# -- one definition, every query ------------------------------------------------------------------------------

def test_both_dashboards_come_from_the_one_panel_list() -> None:
    grafana = [(p["type"], p["title"]) for p in GRAFANA["panels"]]
    kubesphere = [(p["type"], p["title"]) for p in dashboards.cluster_dashboard(Options())["spec"]["panels"]]
    types = {"stat": "singlestat", "timeseries": "graph", "row": "row"}
    assert len(grafana) == len(kubesphere) == len(dashboards.PANELS)
    for (g_type, g_title), (k_type, k_title) in zip(grafana, kubesphere):
        assert types[g_type] == k_type and k_title.startswith(g_title)


def _all_exprs() -> List[Tuple[str, str]]:
    grafana = [(p["title"], t["expr"]) for p in GRAFANA["panels"] for t in p.get("targets", [])]
    kubesphere = [(p["title"], t["expr"]) for p in dashboards.cluster_dashboard(Options())["spec"]["panels"]
                  for t in p.get("targets", [])]
    return grafana + kubesphere


@pytest.mark.parametrize("title, expr", _all_exprs())
def test_every_query_is_valid_promql_over_metrics_the_exporter_serves(title: str, expr: str) -> None:
    names = promql.metric_names(expand(expr))
    assert names, f"{title}: no metric"
    unknown = names - set(catalog.BY_NAME) - promql.BUILTIN_METRICS
    assert not unknown, f"{title}: {sorted(unknown)} not in the catalog"


# -- rendered outputs ---------------------------------------------------------------------------------------------

def test_the_grafana_json_for_import_is_current() -> None:
    path = DEPLOY / "grafana" / dashboards.GRAFANA_FILE
    assert path.read_text(encoding="utf-8") == dashboards.grafana_json(), (
        "deploy/grafana is stale: python -m jetson_exporter.deploy.dashboards > deploy/grafana/jetson-fleet.json")
    assert json.loads(path.read_text(encoding="utf-8")) == GRAFANA


def test_the_sidecar_configmap_holds_the_dashboard_under_its_uid() -> None:
    configmap = yaml.safe_load((DEPLOY / "kube-prometheus" / "grafana-dashboard.yaml").read_text())
    assert configmap["kind"] == "ConfigMap" and configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["namespace"] == "monitoring"
    assert list(configmap["data"]) == [f"{dashboards.UID}.json"]
    assert json.loads(configmap["data"][f"{dashboards.UID}.json"]) == GRAFANA
    # Client-side `kubectl apply` stores the object in a 256 KiB annotation.
    assert len(json.dumps(configmap).encode()) < 262144 // 2


def _rendered_kinds(preset: str, mode: str = "pull") -> List[str]:
    options = Options(preset=preset, mode=mode,
                      remote_write_urls=("https://prometheus.example/api/v1/write",) if mode == "push" else ())
    files = render.render(options, "jetson-exporter manifests", directory="out")
    kinds = []
    for rendered in files:
        if rendered.kind == render.RESOURCE:
            kinds += [d["kind"] for d in yaml.safe_load_all(rendered.text) if d]
    return kinds


def test_each_preset_installs_the_dashboard_its_console_shows() -> None:
    assert "ClusterDashboard" in _rendered_kinds("kubesphere")
    assert "ClusterDashboard" in _rendered_kinds("kubesphere", "push")
    kube_prometheus = _rendered_kinds("kube-prometheus")
    assert "ClusterDashboard" not in kube_prometheus and "ConfigMap" in kube_prometheus
    kustomization = yaml.safe_load((DEPLOY / "kubesphere" / "kustomization.yaml").read_text())
    assert "clusterdashboard.yaml" in kustomization["resources"]
    kustomization = yaml.safe_load((DEPLOY / "kube-prometheus" / "kustomization.yaml").read_text())
    assert "grafana-dashboard.yaml" in kustomization["resources"]

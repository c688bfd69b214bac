"""The alert rules: valid for promtool, proven by promtool unit tests, built on catalog metric names."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml
from tests.deploy.conftest import PROMTOOL, documents, files_of

from jetson_exporter.catalog import BY_NAME
from jetson_exporter.deploy import rules
from jetson_exporter.deploy.options import Options

UNIT_TESTS = Path(__file__).parent / "promtool" / "jetson-exporter.rules.test.yml"
# Metrics the rules use that other exporters provide.
FOREIGN_METRICS = {"up", "kube_pod_info"}
PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                "offset", "time", "rate", "max", "group", "type", "level", "node"}


def _plain_rules(tmp_path: Path) -> Path:
    path = tmp_path / "jetson-exporter.rules.yml"
    path.write_text(files_of(["--plain-rules"])["jetson-exporter.rules.yml"])
    return path


def test_promtool_check_rules_accepts_the_rules_file_and_the_prometheusrule(tmp_path: Path) -> None:
    plain = _plain_rules(tmp_path)
    rule = documents(files_of(["--preset", "kubesphere"])["prometheusrule.yaml"])[0]
    from_crd = tmp_path / "from-prometheusrule.yml"
    from_crd.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    result = subprocess.run([PROMTOOL, "check", "rules", str(plain), str(from_crd)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules.alerts())} rules found" in result.stdout


def test_every_alert_fires_on_bad_data_and_stays_quiet_on_normal_data(tmp_path: Path) -> None:
    _plain_rules(tmp_path)
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    result = subprocess.run([PROMTOOL, "test", "rules", UNIT_TESTS.name], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_promtool_unit_test() -> None:
    tests = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if case["exp_alerts"]}
    assert tested == {alert["alert"] for alert in rules.alerts()}


def test_rules_use_only_metric_names_from_the_catalog() -> None:
    for alert in rules.alerts():
        expr = re.sub(r'\{[^}]*\}', "", alert["expr"])  # label matchers are not metric names
        expr = re.sub(r"\[[^\]]*\]", "", expr)
        names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)) - PROMQL_WORDS
        unknown = {n for n in names if n not in BY_NAME and n not in FOREIGN_METRICS}
        assert not unknown, f"{alert['alert']} uses metrics missing from the catalog: {sorted(unknown)}"


def test_the_prometheusrule_carries_the_labels_each_preset_selects_rules_by() -> None:
    kubesphere = rules.prometheus_rule(Options(preset="kubesphere"))["metadata"]["labels"]
    assert kubesphere["prometheus"] == "k8s" and kubesphere["role"] == "alert-rules"
    kube_prometheus = rules.prometheus_rule(Options(preset="kube-prometheus"))["metadata"]["labels"]
    assert kube_prometheus["release"] == "kube-prometheus-stack"


def test_the_plain_rules_file_and_the_prometheusrule_hold_the_same_rules() -> None:
    plain = documents(files_of(["--plain-rules"])["jetson-exporter.rules.yml"])[0]
    crd = documents(files_of([])["prometheusrule.yaml"])[0]
    assert plain["groups"] == crd["spec"]["groups"]


def test_every_alert_has_a_severity_summary_and_description() -> None:
    for alert in rules.alerts():
        assert alert["labels"]["severity"] in ("info", "warning", "critical")
        assert alert["annotations"]["summary"] and alert["annotations"]["description"]

"""Cluster mode end to end: the real Kubernetes client against a local server answering like the API."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any, List, Set

import pytest

pytest.importorskip("kubernetes")

from jetson_exporter.doctor.checks_cluster import run_cluster_checks
from jetson_exporter.doctor.gather_cluster import ClusterGatherer, connect

SECRET = "SECRET-TOKEN-DO-NOT-PRINT"


def problem_ids(report: dict) -> Set[str]:  # type: ignore[type-arg]
    return {f["id"] for f in report["findings"] if f["severity"] in ("warn", "error", "skip")}


def gather(fake: Any, tmp_path: Path) -> Any:
    return ClusterGatherer(connect(str(fake.kubeconfig(tmp_path)), None), "kubesphere", None, 5.0).gather()


def test_gathered_facts_match_the_api_objects_and_give_the_same_findings(kit: Any, fake_kube: Any,
                                                                         tmp_path: Path) -> None:
    expected = kit.cluster_facts(replace(kit.Setup(), affinity_patched=True, jetson_label=True,
                                         jetson_objects=True, prometheus=False))
    fake_kube.add_facts(expected)
    facts = gather(fake_kube, tmp_path)
    assert [n["metadata"]["name"] for n in facts.nodes] == ["ks-master-1", "jetson-nx-01"]
    assert "managedFields" not in facts.nodes[0]["metadata"]
    assert facts.node_exporter_daemonset["metadata"]["name"] == "node-exporter"
    assert sorted(p["metadata"]["name"] for p in facts.node_exporter_pods) == ["node-exporter-7x2kq",
                                                                               "node-exporter-q8x4d"]
    assert facts.pod_logs == {"kubesphere-monitoring-system/node-exporter-7x2kq/kube-rbac-proxy/previous":
                              kit.RBAC_PROXY_FATAL + "\n"}
    assert facts.cloudcore_configmap["data"] == expected.cloudcore_configmap["data"]
    assert facts.jetson_servicemonitor["spec"] == expected.jetson_servicemonitor["spec"]
    assert [p["metadata"]["name"] for p in facts.prometheuses] == ["k8s"]
    assert facts.errors == {}

    def ids(found: List[Any]) -> Set[Any]:
        return {(f.id, f.severity, f.subject) for f in found}

    assert ids(run_cluster_checks(facts)) == ids(run_cluster_checks(expected))


def test_a_forbidden_read_is_reported_and_the_rest_is_checked(kit: Any, fake_kube: Any, tmp_path: Path) -> None:
    fake_kube.add_facts(kit.cluster_facts(kit.Setup(prometheus=False)))
    fake_kube.forbidden = ["/api/v1/namespaces/kubeedge/configmaps"]
    code, out = kit.run_doctor(["--kubeconfig", str(fake_kube.kubeconfig(tmp_path)), "--output", "json"])
    assert code == 1
    report = json.loads(out)
    skipped = next(f for f in report["findings"] if f["id"] == "C3.cloudcore")
    assert skipped["severity"] == "skip"
    assert 'HTTP 403 Forbidden: /api/v1/namespaces/kubeedge/configmaps/cloudcore is forbidden' in skipped["diagnosis"]
    assert {"C4.node-exporter-affinity", "C7.edgemesh-agent"} <= problem_ids(report)
    assert SECRET not in out


def test_without_any_cluster_access_the_doctor_says_what_to_provide(kit: Any, capsys: Any) -> None:
    code, out = kit.run_doctor([])
    err = capsys.readouterr().err
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "no cluster access: pass --kubeconfig FILE" in err and "--facts FILE" in err


def test_an_unreachable_api_server_is_a_one_line_error(kit: Any, tmp_path: Path, capsys: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "kubeconfig"
    config.write_text(f"apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster:\n"
                      f"    server: http://127.0.0.1:{port}\nusers:\n- name: u\n  user:\n    token: {SECRET}\n"
                      f"contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n")
    code, _ = kit.run_doctor(["--kubeconfig", str(config), "--timeout", "2"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("jetson-exporter doctor: error: cannot reach the Kubernetes API")
    assert err.count("\n") == 1 and SECRET not in err


def test_rejected_credentials_are_a_one_line_error(kit: Any, fake_kube: Any, tmp_path: Path, capsys: Any) -> None:
    fake_kube.unauthorized = True
    code, _ = kit.run_doctor(["--kubeconfig", str(fake_kube.kubeconfig(tmp_path))])
    err = capsys.readouterr().err
    assert code == 2 and "rejects the credentials" in err and SECRET not in err


def test_fix_without_yes_changes_nothing_in_the_cluster(kit: Any, fake_kube: Any, tmp_path: Path) -> None:
    fake_kube.add_facts(kit.cluster_facts(kit.Setup(prometheus=False)))
    code, out = kit.run_doctor(["--kubeconfig", str(fake_kube.kubeconfig(tmp_path)), "--fix", "--color", "never"])
    assert code == 1 and "dry run" in out
    assert [r for r in fake_kube.server.requests if r[0] != "GET"] == []


def test_fix_with_yes_patches_the_cluster_and_the_findings_are_gone(kit: Any, fake_kube: Any,
                                                                    tmp_path: Path) -> None:
    fake_kube.add_facts(kit.cluster_facts(kit.Setup(prometheus=False)))
    kubeconfig = str(fake_kube.kubeconfig(tmp_path))
    code, out = kit.run_doctor(["--kubeconfig", kubeconfig, "--fix", "--yes", "--output", "json"])
    report = json.loads(out)
    assert code == 1  # the edge side and EdgeMesh are still to do
    patches = [r for r in fake_kube.server.requests if r[0] == "PATCH"]
    assert {r[2]["content-type"] for r in patches} == {"application/json-patch+json"}
    assert sorted(r[1] for r in patches) == [
        "/api/v1/namespaces/kubeedge/configmaps/cloudcore",
        "/api/v1/nodes/jetson-nx-01",
        "/apis/apps/v1/namespaces/kubesphere-monitoring-system/daemonsets/node-exporter",
        "/apis/apps/v1/namespaces/kubesphere-monitoring-system/daemonsets/node-exporter"]
    assert all(r[2]["authorization"] == f"Bearer {SECRET}" for r in patches)
    assert report["applied"] == ["patched DaemonSet kubesphere-monitoring-system/node-exporter",
                                 "patched DaemonSet kubesphere-monitoring-system/node-exporter",
                                 "patched Node jetson-nx-01",
                                 "patched ConfigMap kubeedge/cloudcore"]
    fixed = {"C3.dynamic-controller", "C4.node-exporter-affinity", "C6.dns-policy", "C8.node-label"}
    assert fixed <= problem_ids(report)
    assert not fixed & problem_ids(report["after"])
    ds = fake_kube.get("DaemonSet", "kubesphere-monitoring-system", "node-exporter")
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in ds["spec"]["template"]["spec"]["affinity"][
        "nodeAffinity"]
    cm = fake_kube.get("ConfigMap", "kubeedge", "cloudcore")
    assert "  dynamicController:\n    enable: true\n" in cm["data"]["cloudcore.yaml"]
    assert SECRET not in out
    _code, out = kit.run_doctor(["--kubeconfig", kubeconfig, "--output", "json"])
    assert not fixed & problem_ids(json.loads(out))


def test_a_patch_the_server_refuses_is_reported_and_the_others_go_through(kit: Any, fake_kube: Any,
                                                                          tmp_path: Path) -> None:
    fake_kube.add_facts(kit.cluster_facts(kit.Setup(prometheus=False)))
    fake_kube.refuse_patch = ["/api/v1/nodes/"]
    kubeconfig = str(fake_kube.kubeconfig(tmp_path))
    _code, out = kit.run_doctor(["--kubeconfig", kubeconfig, "--fix", "--yes", "--color", "never"])
    assert ('failed Node jetson-nx-01: HTTP 403 Forbidden: /api/v1/nodes/jetson-nx-01 is forbidden: User "doctor" '
            'cannot patch this resource') in out
    assert "patched ConfigMap kubeedge/cloudcore" in out


# -- Prometheus ------------------------------------------------------------------------------------------------


def test_prometheus_targets_and_queries_are_gathered(kit: Any, fake_kube: Any, tmp_path: Path) -> None:
    setup = replace(kit.Setup(), affinity_patched=True)
    facts = kit.cluster_facts(setup)
    fake_kube.add_facts(facts)
    prom = kit.FakePrometheus(facts.prometheus)
    try:
        code, out = kit.run_doctor(["--kubeconfig", str(fake_kube.kubeconfig(tmp_path)),
                                    "--prometheus", prom.server.url, "--output", "json"])
    finally:
        prom.close()
    report = json.loads(out)
    assert code == 1
    scrape = next(f for f in report["findings"] if f["id"] == "C9.scrape")
    assert scrape["evidence"] == ('https://192.168.10.31:9100/metrics: Get "https://192.168.10.31:9100/metrics": '
                                  'dial tcp 192.168.10.31:9100: connect: connection refused')
    c13 = next(f for f in report["findings"] if f["id"] == "C13.prometheus")
    assert c13["diagnosis"] == "Prometheus answers (Prometheus 2.39.1)"
    c12 = next(f for f in report["findings"] if f["id"] == "C12.remote-write")
    assert "POST /api/v1/write -> 404" in c12["evidence"]
    paths = [r[1].split("?")[0] for r in prom.server.requests]
    assert paths[:3] == ["/-/ready", "/api/v1/status/buildinfo", "/api/v1/targets"]
    assert paths.count("/api/v1/query") == 3 and paths[-1] == "/api/v1/write"


def test_an_unreachable_prometheus_is_reported_and_the_rest_is_checked(kit: Any, fake_kube: Any,
                                                                       tmp_path: Path) -> None:
    fake_kube.add_facts(kit.cluster_facts(kit.Setup(prometheus=False)))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _code, out = kit.run_doctor(["--kubeconfig", str(fake_kube.kubeconfig(tmp_path)), "--prometheus",
                                f"http://127.0.0.1:{port}", "--output", "json", "--timeout", "2"])
    report = json.loads(out)
    c13 = next(f for f in report["findings"] if f["id"] == "C13.prometheus")
    assert c13["severity"] == "error" and c13["evidence"].startswith(f"cannot connect to http://127.0.0.1:{port}")
    assert next(f for f in report["findings"] if f["id"] == "C9.scrape")["severity"] == "skip"
    assert "C4.node-exporter-affinity" in problem_ids(report)


def test_kubesphere_s_query_endpoint_with_a_token(kit: Any, fake_kube: Any, tmp_path: Path) -> None:
    facts = kit.cluster_facts(kit.Setup().everything())
    fake_kube.add_facts(facts)
    token = tmp_path / "token"
    token.write_text("ks-token\n")
    prom = kit.FakePrometheus(facts.prometheus)
    try:
        code, out = kit.run_doctor(["--kubeconfig", str(fake_kube.kubeconfig(tmp_path)), "--kubesphere",
                                    prom.server.url, "--token-file", str(token), "--output", "json"])
    finally:
        prom.close()
    report = json.loads(out)
    assert code == 0, problem_ids(report)
    scrapes = [f for f in report["findings"] if f["id"] == "C9.scrape"]
    assert [f["evidence"] for f in scrapes] == ['up{job="node-exporter",instance="jetson-nx-01"} = 1',
                                                'up{job="jetson-exporter",instance="jetson-nx-01"} = 1']
    assert "ks-token" not in out
    assert all("time=" in r[1] for r in prom.server.requests)


def test_kubesphere_needs_a_token(kit: Any, fake_kube: Any, tmp_path: Path, capsys: Any) -> None:
    fake_kube.add_facts(kit.cluster_facts(kit.Setup()))
    code, _ = kit.run_doctor(["--kubeconfig", str(fake_kube.kubeconfig(tmp_path)), "--kubesphere", "http://x"])
    assert code == 2 and "--token-file" in capsys.readouterr().err


def test_custom_resources_are_patched_with_a_json_patch_too(kit: Any, fake_kube: Any, tmp_path: Path) -> None:
    facts = kit.cluster_facts(replace(kit.Setup().everything(), prometheus=False))
    rule = facts.jetson_prometheusrule
    del rule["metadata"]["labels"]["role"]
    fake_kube.add_facts(facts)
    code, out = kit.run_doctor(["--kubeconfig", str(fake_kube.kubeconfig(tmp_path)), "--fix", "--yes",
                                "--only", "C8", "--color", "never"])
    assert "patched PrometheusRule kubesphere-monitoring-system/jetson-exporter" in out
    patches = [r for r in fake_kube.server.requests if r[0] == "PATCH"]
    assert [(r[1], r[2]["content-type"]) for r in patches] == [
        ("/apis/monitoring.coreos.com/v1/namespaces/kubesphere-monitoring-system/prometheusrules/jetson-exporter",
         "application/json-patch+json")]
    labels = fake_kube.get("PrometheusRule", "kubesphere-monitoring-system", "jetson-exporter")["metadata"]["labels"]
    assert labels["role"] == "alert-rules"
    assert code == 0

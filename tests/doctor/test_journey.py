"""The original setup, step by step (KUBEEDGE.md §1): from "nothing works" to "all green".

Each step is what the operator did by hand; after it, exactly the findings that step fixes are gone
from the combined cluster + edge run, and the next symptom shows.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, List, Set, Tuple

import pytest

from jetson_exporter.doctor.cli import check
from jetson_exporter.doctor.gather_edge import EdgeGatherer
from jetson_exporter.doctor.model import Report

START = {
    "C2.edge-stream", "C3.dynamic-controller", "C4.node-exporter-affinity", "C4.node-exporter-scheduled",
    "C6.dns-policy", "C7.edgemesh-agent", "C8.node-label", "C8.daemonset", "C8.service", "C8.servicemonitor",
    "C8.prometheusrule", "C9.scrape", "C10.console-data",
    "E2.edge-stream", "E3.meta-server", "E3.cluster-dns", "E3.cluster-domain", "E3.edgemesh-interface",
    "E4.dummy-env",
}

# (step, what the operator changed, findings gone after it, findings that appear after it)
JOURNEY: List[Tuple[str, dict, Set[str], Set[str]]] = [
    ("2. edgecore edgeStream on", {"edge_stream": True}, {"C2.edge-stream", "E2.edge-stream"}, set()),
    ("4. node-exporter affinity patched", {"affinity_patched": True},
     {"C4.node-exporter-affinity", "C4.node-exporter-scheduled"}, {"C5.kube-rbac-proxy"}),
    ("6. cloudcore dynamicController on", {"dynamic_controller": True}, {"C3.dynamic-controller"}, set()),
    ("7. metaServer and clusterDNS on the edge", {"meta_server": True},
     {"E3.meta-server", "E3.cluster-dns", "E3.cluster-domain"}, set()),
    ("8. EdgeMesh installed", {"edgemesh": True}, {"C7.edgemesh-agent", "E3.edgemesh-interface"}, set()),
    ("9. node-exporter dnsPolicy ClusterFirstWithHostNet", {"host_dns": True}, {"C6.dns-policy"}, set()),
    ("10. METASERVER_DUMMY_* in edgecore.service", {"dummy_env": True},
     {"E4.dummy-env", "C5.kube-rbac-proxy", "C9.scrape", "C10.console-data"}, set()),
    ("13. Jetson labelled machine.type=jetson", {"jetson_label": True}, {"C8.node-label"},
     {"C9.scrape", "C10.console-data"}),  # the Jetson exporter is now expected but not deployed
    ("14. jetson-exporter DaemonSet, Service, ServiceMonitor, PrometheusRule", {"jetson_objects": True},
     {"C8.daemonset", "C8.service", "C8.servicemonitor", "C8.prometheusrule", "C9.scrape", "C10.console-data"},
     set()),
]


def run_both(kit: Any, setup: Any, root: Path) -> Report:
    kit.write_edge_root(setup, root)
    edge = EdgeGatherer(root=str(root), kubeedge_version=setup.kubeedge).gather()
    return check(kit.cluster_facts(setup), edge)


def problems(report: Report) -> Set[str]:
    return {f.id for f in report.findings if f.problem}


def test_the_original_setup_goes_from_nothing_works_to_all_green(kit: Any, tmp_path: Path) -> None:
    setup = kit.Setup(kubeedge="1.15.1")
    report = run_both(kit, setup, tmp_path / "start")
    assert problems(report) == START
    assert report.exit_code == 1
    expected = set(START)
    for i, (step, changes, gone, appear) in enumerate(JOURNEY):
        setup = replace(setup, **changes)
        report = run_both(kit, setup, tmp_path / f"step{i}")
        expected = (expected - gone) | appear
        assert problems(report) == expected, step
    assert report.healthy and report.exit_code == 0
    assert all(f.severity in ("ok", "info") for f in report.findings)


def test_after_the_affinity_patch_the_next_symptom_is_the_empty_service_host(kit: Any, tmp_path: Path) -> None:
    report = run_both(kit, replace(kit.Setup(), edge_stream=True, affinity_patched=True), tmp_path)
    c5 = next(f for f in report.findings if f.id == "C5.kube-rbac-proxy")
    e4 = next(f for f in report.findings if f.id == "E4.dummy-env")
    assert "must be defined" in c5.evidence
    assert e4.fix is not None and e4.fix.files[0].path.endswith("edgecore.service.d/10-metaserver-dummy.conf")


@pytest.mark.parametrize("version", ["1.16.2", "1.17.0"])
def test_the_systemd_variables_route_works_on_1_16_and_on_1_17_with_the_gate_off(kit: Any, tmp_path: Path,
                                                                                 version: str) -> None:
    report = run_both(kit, kit.Setup(kubeedge=version).everything(), tmp_path)
    assert report.healthy, [f for f in report.findings if f.problem]


def test_the_1_17_gate_route_needs_no_systemd_variables_and_no_edgemesh(kit: Any, tmp_path: Path) -> None:
    setup = replace(kit.Setup(kubeedge="1.17.0", gate=True), edge_stream=True, affinity_patched=True,
                    dynamic_controller=True, meta_server=True, jetson_label=True, jetson_objects=True)
    report = run_both(kit, setup, tmp_path)
    assert report.healthy, [f for f in report.findings if f.problem]
    e4 = next(f for f in report.findings if f.id == "E4.dummy-env")
    assert "169.254.30.10:10550" in e4.diagnosis


def test_the_gate_on_one_side_only_is_found_from_both_sides(kit: Any, tmp_path: Path) -> None:
    setup = replace(kit.Setup(kubeedge="1.17.0", gate=True, edge_gate=False), edge_stream=True,
                    affinity_patched=True, dynamic_controller=True, meta_server=True)
    report = run_both(kit, setup, tmp_path)
    assert {"X1.gate-alignment", "C5.kube-rbac-proxy", "E4.dummy-env"} <= problems(report)
    x1 = next(f for f in report.findings if f.id == "X1.gate-alignment")
    assert x1.evidence == "cloudcore featureGates.requireAuthorization: True; edgecore (jetson-nx-01): False"
    assert x1.fix is not None and not x1.fix.automatic  # a choice of mechanism, never applied by --fix
    assert any("featureGates.requireAuthorization: true" in c for c in x1.fix.commands)

"""Cluster checks over facts shaped like KubeSphere 3.4.1 / KubeEdge 1.15 and 1.17 API objects."""

from __future__ import annotations

import copy
from typing import Any, List

from jetson_exporter.doctor.checks_cluster import edge_affinity_patch, run_cluster_checks
from jetson_exporter.doctor.facts import ClusterFacts
from jetson_exporter.doctor.jsonpatch import apply_patch
from jetson_exporter.doctor.model import ERROR, INFO, OK, SKIP, WARN, Finding


def findings(facts: ClusterFacts, check_id: str) -> List[Finding]:
    return [f for f in run_cluster_checks(facts) if f.id == check_id]


def one(facts: ClusterFacts, check_id: str) -> Finding:
    found = findings(facts, check_id)
    assert len(found) == 1, found
    return found[0]


def test_a_fully_set_up_cluster_has_no_problem(kit: Any) -> None:
    result = run_cluster_checks(kit.cluster_facts(kit.Setup().everything()))
    assert [f for f in result if f.problem] == []
    assert {f.id for f in result if f.severity == OK} >= {
        "C1.edge-nodes", "C2.edge-stream", "C3.dynamic-controller", "C4.node-exporter-affinity",
        "C5.kube-rbac-proxy", "C6.dns-policy", "C7.edgemesh-agent", "C8.servicemonitor-selected",
        "C8.prometheusrule", "C9.scrape", "C10.console-data", "C13.prometheus"}


# -- C1 / C2 --------------------------------------------------------------------------------------------------


def test_a_kubeedge_node_without_the_edge_label_is_an_error_with_a_label_patch(kit: Any) -> None:
    facts = kit.cluster_facts(kit.Setup().everything())
    facts.nodes = [facts.nodes[0], kit.edge_node(edge_label=False, tunnel_port=10350)]  # type: ignore[index]
    finding = one(facts, "C1.edge-nodes")
    assert finding.severity == ERROR
    assert "v1.26.10-kubeedge-v1.15.1" in finding.evidence
    assert finding.fix is not None and "node-role.kubernetes.io/edge=" in finding.fix.commands[0]
    node = apply_patch(facts.nodes[1], finding.fix.patches[0].ops)  # type: ignore[index]
    assert "node-role.kubernetes.io/edge" in node["metadata"]["labels"]


def test_the_kubeedge_version_comes_from_the_kubelet_version(kit: Any) -> None:
    assert "KubeEdge 1.15.1" in one(kit.cluster_facts(kit.Setup().everything()), "C1.edge-nodes").diagnosis
    old = kit.cluster_facts(kit.Setup().everything())
    old.nodes[1]["status"]["nodeInfo"]["kubeletVersion"] = "v1.23.17-kubeedge-v1.14.2"  # type: ignore[index]
    assert one(old, "C1.edge-nodes").severity == WARN


def test_a_cluster_without_edge_nodes_says_so(kit: Any) -> None:
    facts = kit.cluster_facts(kit.Setup().everything())
    facts.nodes = facts.nodes[:1]  # type: ignore[index]
    assert one(facts, "C1.edge-nodes").severity == WARN


def test_a_tunnel_port_of_10250_means_edge_stream_never_connected(kit: Any) -> None:
    broken = one(kit.cluster_facts(kit.Setup()), "C2.edge-stream")
    assert broken.severity == WARN and broken.evidence.endswith("Port: 10250")
    assert one(kit.cluster_facts(kit.Setup().everything()), "C2.edge-stream").severity == OK


# -- C3 cloudcore -------------------------------------------------------------------------------------------------


def test_kubesphere_s_cloudcore_template_has_the_dynamic_controller_off(kit: Any) -> None:
    finding = one(kit.cluster_facts(kit.Setup()), "C3.dynamic-controller")
    assert finding.severity == ERROR
    assert finding.evidence == "modules.dynamicController.enable: false"
    assert finding.fix is not None and finding.fix.edits[0].path == ("modules", "dynamicController", "enable")
    assert "delete pod -l kubeedge=cloudcore" in finding.fix.then[0]


def test_an_empty_advertise_address_is_an_error(kit: Any) -> None:
    facts = kit.cluster_facts(kit.Setup().everything())
    facts.cloudcore_configmap = kit.cloudcore_configmap(dynamic=True, advertise=[""])
    finding = one(facts, "C3.advertise-address")
    assert finding.severity == ERROR and '[""]' in finding.evidence


def test_cloud_stream_off_is_a_warning(kit: Any) -> None:
    facts = kit.cluster_facts(kit.Setup().everything())
    facts.cloudcore_configmap = kit.cloudcore_configmap(dynamic=True, cloud_stream=False)
    assert one(facts, "C3.cloud-stream").severity == WARN


def test_a_configmap_without_the_expected_key_is_reported_and_the_rest_goes_on(kit: Any) -> None:
    facts = kit.cluster_facts(kit.Setup().everything())
    cm = copy.deepcopy(facts.cloudcore_configmap)
    cm["data"] = {"cloudcore.yml": cm["data"]["cloudcore.yaml"]}  # type: ignore[index]
    facts.cloudcore_configmap = cm
    result = run_cluster_checks(facts)
    skipped = [f for f in result if f.id == "C3.cloudcore"]
    assert skipped[0].severity == SKIP
    assert "has no key cloudcore.yaml (keys: cloudcore.yml)" in skipped[0].diagnosis
    assert any(f.id == "C4.node-exporter-affinity" and f.severity == OK for f in result)


def test_malformed_cloudcore_yaml_is_reported_with_its_line(kit: Any) -> None:
    facts = kit.cluster_facts(kit.Setup().everything())
    facts.cloudcore_configmap["data"]["cloudcore.yaml"] = "modules:\n  cloudHub: [\n"  # type: ignore[index]
    finding = one(facts, "C3.cloudcore")
    assert finding.severity == SKIP and "not valid YAML at line" in finding.diagnosis


def test_the_gate_on_with_a_1_15_node_is_a_warning(kit: Any) -> None:
    facts = kit.cluster_facts(replace_setup(kit, gate=True))
    assert one(facts, "C3.require-authorization").severity == WARN


def test_the_gate_on_for_1_17_needs_the_cloudcore_feature_cluster_role(kit: Any) -> None:
    setup = replace_setup(kit, kubeedge="1.17.0", gate=True)
    assert one(kit.cluster_facts(setup), "C3.cloudcore-rbac").severity == OK
    facts = kit.cluster_facts(setup)
    facts.cloudcore_feature_role = None
    missing = one(facts, "C3.cloudcore-rbac")
    assert missing.severity == ERROR and missing.fix is not None
    assert "name: cloudcore-feature" in missing.fix.commands[0]
    facts.cloudcore_logs = ('E0425 09:12:00.1 1 reflector.go:147] failed to list *v1.ServiceAccount: '
                            'serviceaccounts is forbidden: User "system:serviceaccount:kubeedge:cloudcore" cannot '
                            'list resource "serviceaccounts" in API group "" at the cluster scope')
    assert 'cannot list resource "serviceaccounts"' in one(facts, "C3.cloudcore-rbac").evidence


# -- C4 / C5 node-exporter -----------------------------------------------------------------------------------------


def test_kubesphere_s_node_exporter_excludes_edge_nodes_and_the_patch_removes_only_that(kit: Any) -> None:
    facts = kit.cluster_facts(kit.Setup())
    finding = one(facts, "C4.node-exporter-affinity")
    assert finding.severity == ERROR
    assert '"operator":"DoesNotExist"' in finding.evidence
    assert finding.fix is not None and "ks-installer" in finding.fix.note
    patched = apply_patch(facts.node_exporter_daemonset, finding.fix.patches[0].ops)
    assert patched["spec"]["template"]["spec"]["affinity"] == {"nodeAffinity": {}}
    before = copy.deepcopy(facts.node_exporter_daemonset)
    del before["spec"]["template"]["spec"]["affinity"]  # type: ignore[index]
    del patched["spec"]["template"]["spec"]["affinity"]
    assert patched == before
    scheduled = one(facts, "C4.node-exporter-scheduled")
    assert scheduled.severity == ERROR and "node-role.kubernetes.io/edge DoesNotExist" in scheduled.evidence


def test_the_affinity_patch_keeps_other_expressions_of_the_term(kit: Any) -> None:
    ds = kit.served_daemonset(kit.reference("node-exporter-daemonset.yaml"))
    terms = ds["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    terms["nodeSelectorTerms"][0]["matchExpressions"].insert(0, {"key": "kubernetes.io/os", "operator": "In",
                                                                 "values": ["linux"]})
    found = edge_affinity_patch(ds)
    assert found is not None
    patched = apply_patch(ds, found[0])
    left = patched["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    assert left["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}]


def test_kube_rbac_proxy_crashing_on_empty_service_host_gets_the_1_15_fix(kit: Any) -> None:
    facts = kit.cluster_facts(replace_setup(kit, affinity_patched=True))
    finding = one(facts, "C5.kube-rbac-proxy")
    assert finding.severity == ERROR
    assert finding.evidence == kit.RBAC_PROXY_FATAL
    assert "KubeEdge 1.15.1" in finding.diagnosis
    assert finding.fix is not None
    assert "METASERVER_DUMMY_IP" in finding.fix.summary
    assert any("Environment=METASERVER_DUMMY_IP=kubernetes.default.svc.cluster.local" in c
               for c in finding.fix.commands)


def test_kube_rbac_proxy_crashing_on_1_17_gets_the_gate_or_the_variables(kit: Any) -> None:
    facts = kit.cluster_facts(replace_setup(kit, kubeedge="1.17.0", affinity_patched=True))
    finding = one(facts, "C5.kube-rbac-proxy")
    assert finding.fix is not None
    assert "requireAuthorization" in finding.fix.summary and "METASERVER_DUMMY" in finding.fix.summary
    assert finding.fix.edits == ()  # a choice, so never applied automatically


def test_kube_rbac_proxy_crashing_on_1_14_is_told_to_upgrade(kit: Any) -> None:
    facts = kit.cluster_facts(replace_setup(kit, affinity_patched=True))
    facts.nodes[1]["status"]["nodeInfo"]["kubeletVersion"] = "v1.23.17-kubeedge-v1.14.2"  # type: ignore[index]
    finding = one(facts, "C5.kube-rbac-proxy")
    assert finding.fix is not None and "upgrade" in finding.fix.summary


def test_the_termination_message_counts_as_evidence_when_logs_are_missing(kit: Any) -> None:
    facts = kit.cluster_facts(replace_setup(kit, affinity_patched=True))
    facts.pod_logs = {}
    pod = facts.node_exporter_pods[1]  # type: ignore[index]
    pod["status"]["containerStatuses"][1]["lastState"]["terminated"]["message"] = kit.RBAC_PROXY_FATAL
    assert one(facts, "C5.kube-rbac-proxy").evidence == kit.RBAC_PROXY_FATAL


def test_a_running_kube_rbac_proxy_that_cannot_resolve_the_api_is_an_error(kit: Any) -> None:
    facts = kit.cluster_facts(replace_setup(kit, affinity_patched=True, dummy_env=True))
    finding = one(facts, "C5.kube-rbac-proxy")
    assert finding.severity == ERROR and "no such host" in finding.evidence
    assert finding.fix is not None and "ClusterFirstWithHostNet" in finding.fix.summary


# -- C6 / C7 -------------------------------------------------------------------------------------------------------


def test_host_network_daemonsets_need_cluster_first_with_host_net(kit: Any) -> None:
    facts = kit.cluster_facts(replace_setup(kit, affinity_patched=True))
    finding = next(f for f in findings(facts, "C6.dns-policy") if "node-exporter" in f.subject)
    assert finding.severity == WARN and "dnsPolicy: ClusterFirst" in finding.evidence
    assert finding.fix is not None
    patched = apply_patch(facts.node_exporter_daemonset, finding.fix.patches[0].ops)
    assert patched["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirstWithHostNet"


def test_a_missing_edgemesh_agent_is_reported_per_edge_node(kit: Any) -> None:
    finding = one(kit.cluster_facts(kit.Setup()), "C7.edgemesh-agent")
    assert finding.severity == WARN and finding.subject == f"node/{kit.EDGE}"
    assert finding.fix is not None and "helm install edgemesh" in finding.fix.commands[0]


def test_the_edgemesh_guide_label_on_the_kubernetes_service_is_flagged_with_a_removal_patch(kit: Any) -> None:
    facts = kit.cluster_facts(replace_setup(kit, proxy_label=True))
    finding = one(facts, "C7.kubernetes-service-label")
    assert finding.severity == WARN
    assert finding.fix is not None
    svc = apply_patch(facts.kubernetes_service, finding.fix.patches[0].ops)
    assert svc["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes"}


# -- C8 this project's objects ------------------------------------------------------------------------------------


def test_an_l4t_node_without_the_jetson_label_gets_a_label_fix_and_missing_objects_are_errors(kit: Any) -> None:
    facts = kit.cluster_facts(kit.Setup())
    label = one(facts, "C8.node-label")
    assert label.severity == WARN and "5.10.120-tegra" in label.evidence
    assert one(facts, "C8.daemonset").severity == ERROR


def test_a_servicemonitor_scraping_a_port_number_is_repaired_to_the_port_name(kit: Any) -> None:
    facts = kit.cluster_facts(kit.Setup().everything())
    facts.jetson_servicemonitor["spec"]["endpoints"][0]["port"] = "9998"  # type: ignore[index]
    finding = one(facts, "C8.servicemonitor")
    assert finding.severity == ERROR and '"9998"' in finding.evidence
    assert finding.fix is not None
    fixed = apply_patch(facts.jetson_servicemonitor, finding.fix.patches[0].ops)
    assert fixed["spec"]["endpoints"][0]["port"] == "http"


def test_a_servicemonitor_selecting_other_labels_is_an_error(kit: Any) -> None:
    facts = kit.cluster_facts(kit.Setup().everything())
    facts.jetson_servicemonitor["spec"]["selector"] = {"matchLabels": {"app": "jetson-exporter"}}  # type: ignore[index]
    finding = one(facts, "C8.servicemonitor")
    assert finding.severity == ERROR and finding.fix is not None and finding.fix.patches


def test_a_service_selecting_nothing_is_an_error(kit: Any) -> None:
    facts = kit.cluster_facts(kit.Setup().everything())
    facts.jetson_service["spec"]["selector"] = {"app": "gpu-exporter"}  # type: ignore[index]
    assert one(facts, "C8.service").severity == ERROR


def test_a_rule_without_kubesphere_s_labels_is_not_selected_and_gets_them(kit: Any) -> None:
    facts = kit.cluster_facts(kit.Setup().everything())
    rule = kit.jetson_prometheusrule()
    del rule["metadata"]["labels"]["role"]
    facts.jetson_prometheusrule = rule
    finding = one(facts, "C8.prometheusrule")
    assert finding.severity == ERROR and "ruleSelector" in finding.evidence
    assert finding.fix is not None
    fixed = apply_patch(rule, finding.fix.patches[0].ops)
    assert fixed["metadata"]["labels"]["role"] == "alert-rules"


def test_a_prometheus_with_a_null_servicemonitor_selector_selects_nothing(kit: Any) -> None:
    facts = kit.cluster_facts(kit.Setup().everything())
    del facts.prometheuses[0]["spec"]["serviceMonitorSelector"]  # type: ignore[index]
    finding = one(facts, "C8.servicemonitor-selected")
    assert finding.severity == ERROR and "null" in finding.evidence


def test_a_kube_prometheus_stack_selector_needs_the_release_label(kit: Any) -> None:
    facts = kit.cluster_facts(kit.Setup().everything())
    prom = facts.prometheuses[0]  # type: ignore[index]
    prom["spec"]["serviceMonitorSelector"] = {"matchLabels": {"release": "kube-prometheus-stack"}}
    finding = one(facts, "C8.servicemonitor-selected")
    assert finding.fix is not None
    sm = apply_patch(facts.jetson_servicemonitor, finding.fix.patches[0].ops)
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    facts.jetson_servicemonitor = kit.jetson_servicemonitor(preset="kube-prometheus")
    assert one(facts, "C8.servicemonitor-selected").severity == OK


def test_a_servicemonitor_in_a_namespace_the_prometheus_does_not_watch_is_not_selected(kit: Any) -> None:
    facts = kit.cluster_facts(kit.Setup().everything())
    facts.prometheuses[0]["spec"]["serviceMonitorNamespaceSelector"] = {  # type: ignore[index]
        "matchLabels": {"monitoring": "enabled"}}
    assert "does not match namespace" in one(facts, "C8.servicemonitor-selected").evidence


# -- C9 / C10 / C12 / C13 -----------------------------------------------------------------------------------------


def test_a_down_target_is_explained_by_its_last_error(kit: Any) -> None:
    facts = kit.cluster_facts(replace_setup(kit, affinity_patched=True))
    finding = next(f for f in findings(facts, "C9.scrape") if "node-exporter" in f.subject)
    assert finding.severity == ERROR and "connection refused" in finding.evidence
    assert "nothing listens" in finding.diagnosis
    facts.prometheus.targets[1] = kit.target("node-exporter", kit.EDGE, "down",  # type: ignore[union-attr,index]
                                         'Get "https://192.168.10.31:9100/metrics": context deadline exceeded')
    finding = next(f for f in findings(facts, "C9.scrape") if "node-exporter" in f.subject)
    assert "no network path" in finding.diagnosis
    assert finding.fix is not None and "remote-writing" in finding.fix.summary


def test_a_401_from_kube_rbac_proxy_points_at_api_access(kit: Any) -> None:
    facts = kit.cluster_facts(replace_setup(kit, affinity_patched=True, dummy_env=True))
    finding = next(f for f in findings(facts, "C9.scrape") if "node-exporter" in f.subject)
    assert "401" in finding.evidence and "TokenReview" in finding.diagnosis


def test_console_data_needs_up_kube_pod_info_and_the_recording_rule(kit: Any) -> None:
    facts = kit.cluster_facts(kit.Setup().everything())
    assert one(facts, "C10.console-data").severity == OK
    for query in list(facts.prometheus.queries):  # type: ignore[union-attr]
        if query.startswith("kube_pod_info"):
            facts.prometheus.queries[query] = []  # type: ignore[union-attr]
    finding = one(facts, "C10.console-data")
    assert finding.severity == ERROR and "kube-state-metrics" in finding.diagnosis


def test_without_prometheus_the_scrape_checks_say_how_to_enable_them(kit: Any) -> None:
    facts = kit.cluster_facts(replace_setup(kit, prometheus=False))
    assert one(facts, "C9.scrape").severity == INFO
    assert one(facts, "C13.prometheus").severity == INFO
    assert findings(facts, "C10.console-data") == []


def test_an_unreachable_prometheus_is_an_error_and_its_checks_are_skipped(kit: Any) -> None:
    facts = kit.cluster_facts(kit.Setup().everything())
    facts.prometheus.ready = False  # type: ignore[union-attr]
    facts.prometheus.errors["ready"] = "cannot connect to http://192.168.10.20:32143: Connection refused"  # type: ignore[union-attr]
    assert one(facts, "C13.prometheus").severity == ERROR
    assert {f.severity for f in findings(facts, "C9.scrape")} == {SKIP}


def test_the_remote_write_receiver_is_optional_advice(kit: Any) -> None:
    off = one(kit.cluster_facts(kit.Setup().everything()), "C12.remote-write")
    assert off.severity == INFO and "POST /api/v1/write -> 404" in off.evidence
    on = one(kit.cluster_facts(replace_setup(kit, remote_write=True)), "C12.remote-write")
    assert on.severity == OK


# -- facts that could not be gathered ---------------------------------------------------------------------------


def test_forbidden_reads_are_skipped_with_the_reason_and_the_rest_is_checked(kit: Any) -> None:
    facts = kit.cluster_facts(kit.Setup().everything())
    reason = 'HTTP 403 Forbidden: configmaps "cloudcore" is forbidden: User "doctor" cannot get resource'
    facts.cloudcore_configmap = None
    facts.errors["cloudcore_configmap"] = reason
    facts.edgemesh_pods = None
    facts.errors["edgemesh_pods"] = "HTTP 403 Forbidden: pods is forbidden"
    result = run_cluster_checks(facts)
    skipped = {f.id: f for f in result if f.severity == SKIP}
    assert reason in skipped["C3.cloudcore"].diagnosis
    assert "C7.edgemesh-agent" in skipped
    assert any(f.id == "C10.console-data" and f.severity == OK for f in result)


def test_only_named_nodes_are_checked(kit: Any) -> None:
    facts = kit.cluster_facts(kit.Setup().everything())
    result = run_cluster_checks(facts, only_nodes=[kit.CLOUD])
    assert not any(kit.EDGE in f.subject for f in result)


def test_checks_do_not_change_the_facts(kit: Any) -> None:
    facts = kit.cluster_facts(kit.Setup())
    before = copy.deepcopy(facts)
    run_cluster_checks(facts)
    assert facts == before


def test_namespace_of_findings_is_the_preset_namespace(kit: Any) -> None:
    facts = kit.cluster_facts(kit.Setup().everything())
    assert all(kit.KS_NS in f.subject for f in findings(facts, "C8.service"))


def replace_setup(kit: Any, **changes: object) -> Any:
    from dataclasses import replace

    return replace(kit.Setup(), **changes)

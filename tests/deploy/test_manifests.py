"""What the rendered objects grant and how they fit together (least privilege, mounts, labels)."""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Set

import kubernetes_validate
import pytest
from tests.deploy.conftest import PUSH_URL, RENDERINGS, by_kind, containers, documents, files_of, objects_of

from jetson_exporter.cli import build_parser, paths_from_args
from jetson_exporter.deploy import conventions, mounts, sizing


def _daemonset(*argv: str) -> Dict[str, Any]:
    return by_kind(objects_of(argv), "DaemonSet")


def _pod(*argv: str) -> Dict[str, Any]:
    spec: Dict[str, Any] = _daemonset(*argv)["spec"]["template"]["spec"]
    return spec


def test_the_strict_kubernetes_check_catches_a_misspelt_field() -> None:
    broken = copy.deepcopy(_daemonset())
    broken["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.26", strict=True)


def test_the_default_profile_runs_without_any_privilege() -> None:
    pod = _pod()
    assert pod["hostNetwork"] is True
    assert not pod.get("hostPID") and not pod.get("hostIPC")
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    exporter = containers(_daemonset())["exporter"]
    context = exporter["securityContext"]
    assert context["runAsNonRoot"] is True and context["runAsUser"] != 0
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False and context["privileged"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert all(m["readOnly"] for m in exporter["volumeMounts"])
    assert "hostPort" not in exporter["ports"][0]


def test_the_service_account_has_no_token() -> None:
    account = by_kind(objects_of([]), "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert _pod()["serviceAccountName"] == account["metadata"]["name"]


def test_host_mounts_are_exactly_what_the_readers_need() -> None:
    pod = _pod()
    host_paths = sorted(v["hostPath"]["path"] for v in pod["volumes"])
    assert host_paths == ["/etc/nv_tegra_release", "/etc/nvpmodel.conf", "/sys", "/var/lib/nvpmodel"]
    assert "/" not in host_paths and "/proc" not in host_paths and "/run/jtop.sock" not in host_paths


def test_the_exporter_flags_point_at_the_mounts_and_parse() -> None:
    exporter = containers(_daemonset("--profile", "debugfs"))["exporter"]
    args = build_parser().parse_args(exporter["args"])
    paths = paths_from_args(args)
    mounted = {m["mountPath"] for m in exporter["volumeMounts"]}
    assert paths.sysfs in mounted and paths.debugfs in mounted
    assert paths.rootfs == mounts.CONTAINER_ROOTFS
    assert all(p.startswith(paths.rootfs + "/") for p in mounted if p.startswith("/host/root"))
    assert args.listen_address == f":{conventions.PORT}"


def test_the_debugfs_profile_adds_root_and_debugfs_and_nothing_else() -> None:
    default, debug = _daemonset(), _daemonset("--profile", "debugfs")
    default_exporter, debug_exporter = containers(default)["exporter"], containers(debug)["exporter"]
    added = [m for m in debug_exporter["volumeMounts"] if m not in default_exporter["volumeMounts"]]
    assert added == [{"name": "debugfs", "mountPath": mounts.CONTAINER_DEBUGFS, "readOnly": True}]
    context = debug_exporter["securityContext"]
    assert context["runAsUser"] == 0 and context["runAsNonRoot"] is False
    assert context["capabilities"] == {"drop": ["ALL"]} and context["privileged"] is False
    assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
    default_context = dict(default_exporter["securityContext"])
    for key in ("runAsUser", "runAsGroup", "runAsNonRoot"):
        default_context.pop(key)
        context.pop(key)
    assert context == default_context
    assert debug["spec"]["template"]["spec"].get("hostPID") is None


def test_the_debugfs_profile_says_why_it_is_privileged() -> None:
    text = files_of(["--profile", "debugfs"])["daemonset.yaml"]
    assert "PRIVILEGED" in text and "readable by root only" in text
    assert "PRIVILEGED" not in files_of([])["daemonset.yaml"]


def test_requests_and_limits_come_from_the_sizing_module() -> None:
    exporter = containers(_daemonset())["exporter"]
    assert exporter["resources"] == sizing.EXPORTER
    push = containers(_daemonset("--mode", "push", "--remote-write-url", PUSH_URL))
    assert push[conventions.AGENT_CONTAINER]["resources"] == sizing.AGENT


def test_every_container_has_requests_limits_and_probes() -> None:
    for rendering in RENDERINGS.values():
        for name, container in containers(by_kind(objects_of(rendering), "DaemonSet")).items():
            assert container["resources"]["requests"] and container["resources"]["limits"], name
            if name != "agent-wal-owner":
                assert container["livenessProbe"] and container["readinessProbe"], name


def test_pods_go_to_labelled_nodes_and_tolerate_the_edge_taint() -> None:
    pod = _pod()
    assert pod["nodeSelector"] == {"machine.type": "jetson"}
    assert {"key": "node-role.kubernetes.io/edge", "operator": "Exists"} in pod["tolerations"]
    assert _pod("--node-selector", "kubernetes.io/arch=arm64,jetson=yes")["nodeSelector"] == {
        "kubernetes.io/arch": "arm64", "jetson": "yes"}


@pytest.mark.parametrize(("preset", "namespace"), [("kubesphere", "kubesphere-monitoring-system"),
                                                    ("kube-prometheus", "monitoring")])
def test_presets_choose_the_namespace_and_a_flag_overrides_it(preset: str, namespace: str) -> None:
    def namespaces(argv: List[str]) -> Set[str]:
        return {o["metadata"]["namespace"] for o in objects_of(argv) if o["kind"] != "ClusterDashboard"}

    assert namespaces(["--preset", preset]) == {namespace}
    assert namespaces(["--preset", preset, "--namespace", "edge"]) == {"edge"}


def test_the_service_monitor_finds_the_service_and_names_targets_by_node() -> None:
    objects = objects_of([])
    service, monitor = by_kind(objects, "Service"), by_kind(objects, "ServiceMonitor")
    assert service["spec"]["clusterIP"] == "None"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]  # the port *name* (doctor check C8)
    assert endpoint["scheme"] == "http" and "bearerTokenFile" not in endpoint
    assert {r["targetLabel"] for r in endpoint["relabelings"]} == {"instance", "node"}
    assert all(r["sourceLabels"] == ["__meta_kubernetes_pod_node_name"] for r in endpoint["relabelings"])
    assert monitor["metadata"]["labels"]["app.kubernetes.io/name"] == conventions.JOB  # jobLabel -> job


def test_kube_prometheus_objects_carry_the_release_label() -> None:
    objects = objects_of(["--preset", "kube-prometheus"])
    for kind in ("ServiceMonitor", "PrometheusRule"):
        assert by_kind(objects, kind)["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_a_short_scrape_interval_gets_a_timeout_that_fits() -> None:
    endpoint = by_kind(objects_of(["--scrape-interval", "5s"]), "ServiceMonitor")["spec"]["endpoints"][0]
    assert endpoint["interval"] == "5s" and endpoint["scrapeTimeout"] == "5s"


def test_checkov_skips_are_annotated_on_the_daemonset() -> None:
    annotations = _daemonset()["metadata"]["annotations"]
    skips = [v.split("=", 1)[0] for k, v in annotations.items() if k.startswith("checkov.io/skip")]
    assert skips == ["CKV_K8S_19", "CKV_K8S_15", "CKV_K8S_43", "CKV2_K8S_6"]


def test_every_generated_file_says_so_in_its_first_line() -> None:
    for rendering in RENDERINGS.values():
        for name, text in files_of(rendering).items():
            assert text.startswith("# Generated by `jetson-exporter manifests "), name


def test_the_kustomization_lists_the_resources_but_not_the_patches() -> None:
    files = files_of(["--mode", "push", "--remote-write-url", PUSH_URL])
    kustomization = documents(files["kustomization.yaml"])[0]
    assert kustomization["resources"] == ["serviceaccount.yaml", "agent-configmap.yaml", "daemonset.yaml",
                                          "prometheusrule.yaml", "clusterdashboard.yaml"]
    assert "remote-write-receiver.patch.yaml" in files

"""Every rendered document is valid: Kubernetes 1.26 and current schemas, both operator CRD versions."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import kubernetes_validate
import pytest
import yaml
from tests.deploy.conftest import (
    OPERATOR_VERSIONS,
    REFERENCE,
    RENDERINGS,
    by_kind,
    crd_validator,
    documents,
    files_of,
    objects_of,
)

# 1.26 is the original setup's cluster; the newest schema the package ships stands for a current release.
KUBERNETES_VERSIONS = ("1.26", kubernetes_validate.latest_version())
CRD_KINDS = ("ServiceMonitor", "PodMonitor", "PrometheusRule")


def test_the_current_release_is_newer_than_the_original_setup() -> None:
    assert tuple(int(p) for p in KUBERNETES_VERSIONS[1].split(".")[:2]) >= (1, 33)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_kubernetes_objects_validate_strictly(rendering: str, version: str) -> None:
    checked = 0
    for obj in objects_of(RENDERINGS[rendering]):
        if obj["apiVersion"].startswith(("monitoring.coreos.com/", "monitoring.kubesphere.io/")):
            continue  # CRDs: checked against their schemas (KubeSphere's in tests/view)
        kubernetes_validate.validate(obj, version, strict=True)
        checked += 1
    assert checked >= 2


@pytest.mark.parametrize("operator", OPERATOR_VERSIONS)
@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_operator_objects_validate_against_the_crds(rendering: str, operator: str) -> None:
    operator_objects = [o for o in objects_of(RENDERINGS[rendering]) if o["apiVersion"] == "monitoring.coreos.com/v1"]
    assert {o["kind"] for o in operator_objects} <= set(CRD_KINDS)
    assert operator_objects
    for obj in operator_objects:
        errors = sorted(crd_validator(operator, obj["kind"]).iter_errors(obj), key=str)
        assert not errors, f"{obj['kind']} vs {operator}: " + "; ".join(
            f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors[:5])


def test_the_strict_crd_check_catches_an_unknown_field() -> None:
    monitor = by_kind(objects_of([]), "ServiceMonitor")
    broken = copy.deepcopy(monitor)
    broken["spec"]["endpoints"][0]["bearerTokenFiel"] = "/var/run/secrets/token"
    assert list(crd_validator(OPERATOR_VERSIONS[0], "ServiceMonitor").iter_errors(broken))


def _reference(name: str) -> Dict[str, Any]:
    loaded: Dict[str, Any] = yaml.safe_load((REFERENCE / name).read_text())
    return loaded


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge for patches whose lists have no merge key (they replace), and merge patches."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = _merge(base.get(key), value)
        return merged
    return copy.deepcopy(patch)


def _node_exporter_patched(tmp_path: Path) -> Dict[str, Any]:
    text = files_of(["--kubesphere-node-exporter-patch"])["node-exporter-edge.patch.yaml"]
    patch = documents(text)[0]
    merged: Dict[str, Any] = _merge(_reference("node-exporter-daemonset.yaml"), patch)
    kubectl = shutil.which("kubectl")
    if kubectl:  # the real strategic merge, where kubectl is installed
        patch_file = tmp_path / "patch.yaml"
        patch_file.write_text(text)
        real = subprocess.run([kubectl, "patch", "--local", "-f", str(REFERENCE / "node-exporter-daemonset.yaml"),
                               "--type", "strategic", "--patch-file", str(patch_file), "-o", "yaml"],
                              capture_output=True, text=True, timeout=60, check=False)
        assert real.returncode == 0, real.stderr
        assert yaml.safe_load(real.stdout)["spec"]["template"]["spec"] == merged["spec"]["template"]["spec"]
    return merged


def test_the_node_exporter_patch_admits_edge_nodes_and_sets_the_dns_policy(tmp_path: Path) -> None:
    spec = _node_exporter_patched(tmp_path)["spec"]["template"]["spec"]
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    keys = [e["key"] for term in terms for e in term["matchExpressions"]]
    assert "node-role.kubernetes.io/edge" not in keys
    assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert [c["name"] for c in spec["containers"]] == ["node-exporter", "kube-rbac-proxy"]  # nothing else touched


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_patched_node_exporter_validates(tmp_path: Path, version: str) -> None:
    kubernetes_validate.validate(_node_exporter_patched(tmp_path), version, strict=True)


def test_the_node_exporter_patch_is_not_an_object_to_apply() -> None:
    patch = documents(files_of(["--kubesphere-node-exporter-patch"])["node-exporter-edge.patch.yaml"])[0]
    assert "kind" not in patch and "apiVersion" not in patch


@pytest.mark.parametrize("preset", ["kubesphere", "kube-prometheus"])
def test_the_receiver_patch_switches_on_remote_write(preset: str) -> None:
    text = files_of(["--preset", preset, "--remote-write-receiver-patch"])["remote-write-receiver.patch.yaml"]
    patch = documents(text)[0]
    if preset == "kubesphere":
        merged = _merge(_reference("prometheus-prometheus.yaml"), patch)
        deployed_without = _reference("prometheus-prometheus.yaml")
        deployed_without["spec"].pop("enableFeatures")  # as the installer's template renders it
        assert _merge(deployed_without, patch)["spec"]["enableFeatures"] == ["remote-write-receiver"]
        assert merged["spec"]["serviceMonitorSelector"] == {}  # a merge patch leaves the rest alone
        assert "kubectl -n kubesphere-monitoring-system patch prometheus k8s --type merge" in text
    else:
        assert patch == {"spec": {"enableRemoteWriteReceiver": True}}
        assert "prometheus.prometheusSpec.enableRemoteWriteReceiver=true" in text


def test_every_rendering_has_documents_of_the_expected_kinds() -> None:
    expected: Dict[str, List[str]] = {
        "kubesphere": ["ServiceAccount", "DaemonSet", "Service", "ServiceMonitor", "PrometheusRule",
                       "ClusterDashboard"],
        "kube-prometheus": ["ServiceAccount", "DaemonSet", "Service", "ServiceMonitor", "PrometheusRule",
                            "ConfigMap"],
        "push": ["ServiceAccount", "ConfigMap", "DaemonSet", "PrometheusRule", "ClusterDashboard"],
    }
    for rendering, kinds in expected.items():
        assert [o["kind"] for o in objects_of(RENDERINGS[rendering])] == kinds

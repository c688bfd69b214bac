"""Fixes that depend on the KubeEdge version, shared by the cluster and the edge checks.

Facts: KUBEEDGE.md §2.3. Edged (from 1.15) appends KUBERNETES_SERVICE_HOST/PORT to every container
from edgecore's own METASERVER_DUMMY_IP/PORT. On 1.15/1.16 (and 1.17+ with the gate off) nothing
sets those, so only the edgecore process environment can; on 1.17+ with
`featureGates.requireAuthorization` on both sides, edgecore sets them itself.
"""

from __future__ import annotations

from typing import Optional, Tuple

from jetson_exporter.doctor.kube import Version, format_version
from jetson_exporter.doctor.model import EDGECORE_DOC, Fix, NewFile, YamlEdit, configmap_doc

EDGEMESH_DNS_IP = "169.254.96.16"
DUMMY_IP_117 = "169.254.30.10"
METASERVER_PORT = 10550
EDGEMESH_PROXY_LABEL = "service.edgemesh.kubeedge.io/service-proxy-name"

CLOUDCORE_NAMESPACE = "kubeedge"
CLOUDCORE_CONFIGMAP = "cloudcore"
CLOUDCORE_KEY = "cloudcore.yaml"
CLOUDCORE_DOC = configmap_doc(CLOUDCORE_NAMESPACE, CLOUDCORE_CONFIGMAP, CLOUDCORE_KEY)
CLOUDCORE_FEATURE_ROLE = "cloudcore-feature"

EDGECORE_CONFIG = "/etc/kubeedge/config/edgecore.yaml"
EDGECORE_UNIT = "/etc/systemd/system/edgecore.service"
DROPIN_PATH = "/etc/systemd/system/edgecore.service.d/10-metaserver-dummy.conf"
# The route of the original setup: the API through EdgeMesh's proxy of the `kubernetes` Service.
DUMMY_HOST_VIA_EDGEMESH = "kubernetes.default.svc.cluster.local"
DUMMY_PORT_VIA_EDGEMESH = "443"

RESTART_EDGECORE = "sudo systemctl restart edgecore"
RELOAD_RESTART_EDGECORE = "sudo systemctl daemon-reload && sudo systemctl restart edgecore"
RESTART_CLOUDCORE = f"kubectl -n {CLOUDCORE_NAMESPACE} delete pod -l kubeedge=cloudcore"
EDGE_DOCTOR_FIX = "sudo jetson-exporter doctor --edge --fix"

KS_REAPPLY_NOTE = ("ks-installer re-applies node-exporter with `kubectl apply --force` whenever "
                   "status.monitoring.status is not `enabled` (upgrade, reinstall), which reverts this patch: "
                   "re-run the doctor afterwards")

INSTALL_EDGEMESH = (
    "helm install edgemesh --namespace kubeedge --set agent.psk=\"$(openssl rand -base64 32)\" "
    "--set agent.relayNodes[0].nodeName=<cloud node>,agent.relayNodes[0].address={<its IP>} "
    "https://raw.githubusercontent.com/kubeedge/edgemesh/main/build/helm/edgemesh.tgz"
)

DROPIN_CONTENT = (
    "# Written by jetson-exporter doctor (check E4). KubeEdge 1.15/1.16 (and 1.17+ with\n"
    "# featureGates.requireAuthorization off) give every container on this node\n"
    "# KUBERNETES_SERVICE_HOST/PORT from these two variables of the edgecore process.\n"
    "# The address resolves and proxies through EdgeMesh; it applies to every pod on the node.\n"
    "[Service]\n"
    f"Environment=METASERVER_DUMMY_IP={DUMMY_HOST_VIA_EDGEMESH}\n"
    f"Environment=METASERVER_DUMMY_PORT={DUMMY_PORT_VIA_EDGEMESH}\n"
)


def band(version: Optional[Version]) -> str:
    """The version ranges whose fixes differ: "<=1.14", "1.15-1.16", ">=1.17" or "unknown"."""
    if version is None:
        return "unknown"
    if version[:2] <= (1, 14):
        return "<=1.14"
    if version[:2] <= (1, 16):
        return "1.15-1.16"
    return ">=1.17"


def dropin_commands() -> Tuple[str, ...]:
    return (
        "sudo mkdir -p /etc/systemd/system/edgecore.service.d",
        f"sudo tee {DROPIN_PATH} <<'EOF'\n{DROPIN_CONTENT}EOF",
    )


def dummy_env_fix(version: Optional[Version], on_edge: bool) -> Fix:
    """E4: give edgecore METASERVER_DUMMY_IP/PORT through a systemd drop-in."""
    caveat = ("node-global: every pod on the node gets this API address; it needs EdgeMesh (C7), "
              f"clusterDNS {EDGEMESH_DNS_IP} (E3) and a `kubernetes` Service without the "
              f"{EDGEMESH_PROXY_LABEL} label (C7)")
    if band(version) == ">=1.17":
        caveat += "; on 1.17+ the alternative is featureGates.requireAuthorization on both sides (E5)"
    if on_edge:
        return Fix(summary=f"add a systemd drop-in that sets METASERVER_DUMMY_IP/PORT for edgecore ({DROPIN_PATH})",
                   commands=dropin_commands(), files=(NewFile(DROPIN_PATH, DROPIN_CONTENT),),
                   then=(RELOAD_RESTART_EDGECORE,), note=caveat)
    return Fix(summary="on the edge node, add a systemd drop-in that sets METASERVER_DUMMY_IP/PORT for edgecore "
                       f"(or run `{EDGE_DOCTOR_FIX}` there)",
               commands=dropin_commands(), then=(RELOAD_RESTART_EDGECORE,), note=caveat)


def gate_fix(on_edge: bool) -> Fix:
    """KubeEdge 1.17+: InClusterConfig through featureGates.requireAuthorization on both sides."""
    edge_edits = (YamlEdit(EDGECORE_DOC, ("featureGates", "requireAuthorization"), True),
                  YamlEdit(EDGECORE_DOC, ("modules", "metaManager", "metaServer", "enable"), True))
    cloud_edits = (YamlEdit(CLOUDCORE_DOC, ("featureGates", "requireAuthorization"), True),
                   YamlEdit(CLOUDCORE_DOC, ("modules", "dynamicController", "enable"), True))
    commands = (
        f"kubectl -n {CLOUDCORE_NAMESPACE} edit configmap {CLOUDCORE_CONFIGMAP}   "
        "# featureGates.requireAuthorization: true, modules.dynamicController.enable: true",
        f"kubectl apply -f - <<EOF\n{cloudcore_feature_role_yaml()}EOF",
        f"on each edge node: edit {EDGECORE_CONFIG}   "
        "# featureGates.requireAuthorization: true, modules.metaManager.metaServer.enable: true",
    )
    return Fix(summary="turn on featureGates.requireAuthorization in both cloudcore and edgecore, with the "
                       f"{CLOUDCORE_FEATURE_ROLE} ClusterRole (KubeEdge 1.17+ InClusterConfig)",
               commands=commands, edits=edge_edits if on_edge else cloud_edits,
               then=(RESTART_CLOUDCORE, RESTART_EDGECORE),
               note="use one mechanism: with the gate on, remove the METASERVER_DUMMY_* systemd variables "
                    "(kubeedge#5606, #6625 are known token bugs with the gate on)")


def service_host_fix(version: Optional[Version]) -> Fix:
    """C5: kube-rbac-proxy cannot build its in-cluster config because KUBERNETES_SERVICE_* are empty."""
    which = band(version)
    if which == "<=1.14":
        return Fix(summary=f"KubeEdge {format_version(version)} injects no KUBERNETES_SERVICE_* at all: upgrade "
                           "edgecore to 1.15+ (then E4), or give kube-rbac-proxy `--kubeconfig <file>`",
                   note="kubeedge#5152, kubesphere#5978")
    if which == ">=1.17":
        gate = gate_fix(on_edge=False)
        return Fix(summary="either turn on featureGates.requireAuthorization on both sides with the "
                           f"{CLOUDCORE_FEATURE_ROLE} ClusterRole, or keep the gate off and set "
                           f"METASERVER_DUMMY_IP/PORT in edgecore's environment (run `{EDGE_DOCTOR_FIX}` on the node)",
                   commands=gate.commands, then=gate.then, note=gate.note)
    fix = dummy_env_fix(version, on_edge=False)
    prefix = "" if which == "1.15-1.16" else "(KubeEdge version unknown; this is the 1.15/1.16 fix) "
    return Fix(summary=prefix + fix.summary, commands=fix.commands, then=fix.then,
               note=fix.note + "; alternative per pod: kube-rbac-proxy `--kubeconfig <file>`")


def cloudcore_edit_fix(path: Tuple[str, ...], value: object, summary: str) -> Fix:
    edit = YamlEdit(CLOUDCORE_DOC, path, value)
    return Fix(summary=summary,
               commands=(f"kubectl -n {CLOUDCORE_NAMESPACE} edit configmap {CLOUDCORE_CONFIGMAP}   "
                         f"# {edit.describe()}",),
               edits=(edit,), then=(RESTART_CLOUDCORE,))


def cloudcore_feature_role_yaml() -> str:
    """The ClusterRole the cloudcore chart adds when requireAuthorization is on (aggregated into cloudcore)."""
    return (
        "apiVersion: rbac.authorization.k8s.io/v1\n"
        "kind: ClusterRole\n"
        "metadata:\n"
        f"  name: {CLOUDCORE_FEATURE_ROLE}\n"
        "  labels:\n"
        "    rbac/aggregate-to-cloudcore: \"true\"\n"
        "rules:\n"
        "- apiGroups: [\"\"]\n"
        "  resources: [serviceaccounts]\n"
        "  verbs: [list, watch]\n"
        "- apiGroups: [policy.kubeedge.io]\n"
        "  resources: [serviceaccountaccesses, serviceaccountaccesses/status]\n"
        "  verbs: [list, watch, create, update, delete]\n"
        "- apiGroups: [rbac.authorization.k8s.io]\n"
        "  resources: [roles, clusterrolebindings, rolebindings, clusterroles]\n"
        "  verbs: [list, watch]\n"
    )

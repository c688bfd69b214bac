"""The exporter's Kubernetes objects: ServiceAccount, DaemonSet, headless Service, ServiceMonitor.

Least privilege by default: non-root, read-only root filesystem, every capability dropped, no
service-account token, read-only host mounts of exactly what the readers open (see mounts.py).
"""

from __future__ import annotations

from typing import Any, Dict, List

from jetson_exporter.deploy import agent, conventions, mounts, sizing
from jetson_exporter.deploy.options import Options, preset_labels

Object = Dict[str, Any]

EXPORTER_CONTAINER = "exporter"
EXPORTER_UID = 65534  # `nobody`; the image's USER too

# Checks of the checkov scanner that the default profile fails on purpose, with the reason. The
# DaemonSet carries them as `checkov.io/skipN` annotations (so a user's own scan agrees) and
# docs/DEPLOY.md lists them.
CHECKOV_SKIPS: Dict[str, str] = {
    "CKV_K8S_19": "host network: Prometheus scrapes the node's own address (edge nodes often have no pod "
                  "network reachable from the cloud) and push mode reaches node-exporter on the node's loopback",
    "CKV_K8S_15": "imagePullPolicy IfNotPresent: an edge node must restart its pods while the link to the "
                  "registry is down; the tag is pinned to a release instead",
    "CKV_K8S_43": "image digest: the tag is pinned to the release; pass --image NAME@sha256:... to pin a digest",
    "CKV2_K8S_6": "NetworkPolicy: it does not apply to host-network pods, so a policy would only mislead",
}


def metadata(options: Options, name: str = conventions.NAME, **extra: Any) -> Object:
    return {"name": name, "namespace": options.ns, "labels": dict(conventions.COMMON_LABELS), **extra}


def service_account(options: Options) -> Object:
    # Its own account with no token, so that the namespace's default account is never used.
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata(options),
            "automountServiceAccountToken": False}


def listen_address(options: Options) -> str:
    # In push mode only the agent beside it scrapes the exporter: keep it off the network.
    return f"127.0.0.1:{conventions.PORT}" if options.push else f":{conventions.PORT}"


def exporter_args(options: Options) -> List[str]:
    return [f"--web.listen-address={listen_address(options)}", *mounts.exporter_path_flags(options.profile)]


def _exporter_probe(path: str, period_s: int) -> Object:
    # host 127.0.0.1: the kubelet probes from the node's network, where a host-network pod listens;
    # edge nodes may report no pod IP at all (kubeedge#4321).
    return {"httpGet": {"host": "127.0.0.1", "path": path, "port": conventions.PORT, "scheme": "HTTP"},
            "periodSeconds": period_s, "timeoutSeconds": 5, "failureThreshold": 3}


def exporter_security_context(options: Options) -> Object:
    context: Object = {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": EXPORTER_UID,
        "runAsGroup": EXPORTER_UID,
        "capabilities": {"drop": ["ALL"]},
    }
    if options.profile == "debugfs":
        # debugfs is mode 0700 root: reading it takes uid 0. Nothing else is granted: still no
        # capabilities, no privilege escalation, a read-only root filesystem and read-only mounts.
        context.update({"runAsNonRoot": False, "runAsUser": 0, "runAsGroup": 0})
    return context


def exporter_container(options: Options) -> Object:
    return {
        "name": EXPORTER_CONTAINER,
        "image": options.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["jetson-exporter"],
        "args": exporter_args(options),
        "ports": [{"name": conventions.PORT_NAME, "containerPort": conventions.PORT, "protocol": "TCP"}],
        "livenessProbe": _exporter_probe("/-/healthy", 30),
        "readinessProbe": _exporter_probe("/-/ready", 15),
        "resources": sizing.copy(sizing.EXPORTER),
        "securityContext": exporter_security_context(options),
        "volumeMounts": [{"name": m.name, "mountPath": m.container_path, "readOnly": True}
                         for m in mounts.host_mounts(options.profile)],
    }


def _checkov_annotations() -> Dict[str, str]:
    return {f"checkov.io/skip{i}": f"{check}={reason}" for i, (check, reason) in
            enumerate(CHECKOV_SKIPS.items(), start=1)}


def daemonset(options: Options) -> Object:
    pod_annotations = {"kubectl.kubernetes.io/default-container": EXPORTER_CONTAINER}
    containers = [exporter_container(options)]
    volumes: List[Object] = [{"name": m.name, "hostPath": {"path": m.host_path, "type": m.host_type}}
                             for m in mounts.host_mounts(options.profile)]
    pod_security: Object = {
        "runAsNonRoot": True,
        "runAsUser": EXPORTER_UID,
        "runAsGroup": EXPORTER_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    pod_spec: Object = {
        "serviceAccountName": conventions.NAME,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "hostNetwork": True,
        # With host network, only this policy gives the pod the cluster's DNS (EdgeMesh on an edge
        # node); without a cluster DNS the node falls back to its own resolv.conf.
        "dnsPolicy": "ClusterFirstWithHostNet",
        "nodeSelector": dict(options.node_selector),
        # KubeEdge/KubeSphere taint edge nodes with the edge role; DaemonSets already tolerate the
        # not-ready and unreachable taints of a node whose link is down.
        "tolerations": [{"key": conventions.EDGE_ROLE_LABEL, "operator": "Exists"}],
        "securityContext": pod_security,
    }
    if options.push:
        pod_annotations[f"{conventions.NAME}/agent-config-sha256"] = agent.config_checksum(options)
        pod_security["fsGroup"] = agent.AGENT_UID  # lets the agent read the Secret's files (mode 0440)
        pod_spec["initContainers"] = [agent.wal_init_container(options)]
        containers.append(agent.container(options))
        volumes.extend(agent.volumes(options))
    pod_spec["containers"] = containers
    pod_spec["volumes"] = volumes
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": metadata(options, annotations=_checkov_annotations()),
        "spec": {
            "selector": {"matchLabels": dict(conventions.SELECTOR_LABELS)},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": dict(conventions.COMMON_LABELS), "annotations": pod_annotations},
                "spec": pod_spec,
            },
        },
    }


def service(options: Options) -> Object:
    # Headless: Prometheus discovers one endpoint per pod (node address:9998) and scrapes each.
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(options),
        "spec": {
            "clusterIP": "None",
            "selector": dict(conventions.SELECTOR_LABELS),
            "ports": [{"name": conventions.PORT_NAME, "port": conventions.PORT,
                       "targetPort": conventions.PORT_NAME, "protocol": "TCP"}],
        },
    }


def service_monitor(options: Options) -> Object:
    node_to = [
        {"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": label, "action": "replace"}
        for label in ("instance", "node")
    ]
    labels = {**conventions.COMMON_LABELS, **preset_labels(options.preset, "monitor_labels")}
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": conventions.NAME, "namespace": options.ns, "labels": labels},
        "spec": {
            # job="jetson-exporter", which the alert rules and dashboards select.
            "jobLabel": "app.kubernetes.io/name",
            "selector": {"matchLabels": dict(conventions.SELECTOR_LABELS)},
            "namespaceSelector": {"matchNames": [options.ns]},
            "endpoints": [{
                "port": conventions.PORT_NAME,
                "scheme": "http",
                "path": conventions.METRICS_PATH,
                "interval": options.scrape_interval,
                "scrapeTimeout": agent.scrape_timeout(options.scrape_interval),
                # instance and node = the node's name, as KubeSphere labels its node-exporter series.
                "relabelings": node_to,
            }],
        },
    }

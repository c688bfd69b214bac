"""Names and labels of the resources this project deploys.

The manifests render them and the doctor looks for them: both read them from here, so a rename
happens in one place.
"""

from __future__ import annotations

from typing import Dict

NAME = "jetson-exporter"  # DaemonSet, Service, ServiceMonitor, PrometheusRule, ServiceAccount
PORT = 9998  # in use by existing Jetson exporter deployments; 9100 belongs to node_exporter
PORT_NAME = "http"
METRICS_PATH = "/metrics"
JOB = NAME  # ServiceMonitor jobLabel app.kubernetes.io/name -> job="jetson-exporter"

# The node label that marks Jetson boards (from the original KubeSphere setup).
NODE_LABEL_KEY = "machine.type"
NODE_LABEL_VALUE = "jetson"
EDGE_ROLE_LABEL = "node-role.kubernetes.io/edge"

SELECTOR_LABELS: Dict[str, str] = {"app.kubernetes.io/name": NAME}
COMMON_LABELS: Dict[str, str] = {
    "app.kubernetes.io/name": NAME,
    "app.kubernetes.io/component": "exporter",
    "app.kubernetes.io/part-of": NAME,
}

# Per preset: namespace and the labels the cluster's Prometheus selects rules by.
PRESETS: Dict[str, Dict[str, object]] = {
    "kubesphere": {
        "namespace": "kubesphere-monitoring-system",
        # KubeSphere 3.4's Prometheus CR `k8s` selects rules carrying both labels.
        "rule_labels": {"prometheus": "k8s", "role": "alert-rules"},
        "monitor_labels": {},
        "prometheus": "k8s",
    },
    "kube-prometheus": {
        "namespace": "monitoring",
        # kube-prometheus-stack selects ServiceMonitors and rules by its Helm release label.
        "rule_labels": {"release": "kube-prometheus-stack"},
        "monitor_labels": {"release": "kube-prometheus-stack"},
        "prometheus": "kube-prometheus-stack-prometheus",
    },
}

# -- push mode (a Prometheus agent beside the exporter) -------------------------------------------
AGENT_CONTAINER = "prometheus-agent"
AGENT_CONFIGMAP = f"{NAME}-agent"  # holds the agent's prometheus.yml
AGENT_PORT = 9997  # the agent's own web port, bound to 127.0.0.1 only
AGENT_WAL_HOST_PATH = f"/var/lib/{NAME}/agent-wal"  # on the node, so a link outage loses nothing
REMOTE_WRITE_SECRET = f"{NAME}-remote-write"  # created by the user: password / token / ca.crt / tls.*

# KubeSphere's node-exporter DaemonSet, which the edge patch targets (Prometheus objects: PRESETS).
KUBESPHERE_NODE_EXPORTER = "node-exporter"

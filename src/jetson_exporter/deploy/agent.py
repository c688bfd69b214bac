"""Push mode: a Prometheus in agent mode beside the exporter that remote-writes to the cloud.

The agent scrapes the exporter (and optionally the node's node-exporter) over the node's loopback,
keeps its write-ahead log on a host path so that a link outage loses nothing, and labels every
series the way the cloud dashboards expect (`job`, `instance` = node name, `node`, `namespace`,
`pod`). `agent_config` is usable on its own, e.g. by a test that points it at loopback targets.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence

import yaml

from jetson_exporter.deploy import conventions, sizing
from jetson_exporter.deploy.options import Options, RemoteWriteAuth, duration_seconds

# Inside the agent container.
CONFIG_DIR = "/etc/prometheus-agent/config"
CONFIG_FILE = "prometheus.yml"
WAL_DIR = "/wal"
SECRET_DIR = "/etc/prometheus-agent/remote-write"
AGENT_UID = 65534  # `nobody`, the user the Prometheus images run as

# Pod fields the agent expands into external labels (`${NODE_NAME}`).
POD_ENV = (("NODE_NAME", "spec.nodeName"), ("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace"))
POD_EXTERNAL_LABELS = {"node": "${NODE_NAME}", "namespace": "${POD_NAMESPACE}", "pod": "${POD_NAME}"}

# What KubeSphere's own node-exporter ServiceMonitor keeps (KUBEEDGE.md 3.2), plus a little more,
# so that pushing node-exporter costs no more bandwidth than scraping it would.
NODE_EXPORTER_KEEP = (
    "node_(uname|network)_info|node_cpu_.+|node_memory_.+|node_network_.+|node_disk_.+|node_filesystem_.+"
    "|node_load.+|node_timex_.+|node_filefd_.+|node_nf_conntrack_entries.*|node_md_disks.*|node_textfile_scrape_error"
)

# Remote-write queue for a thin uplink: few parallel connections, retries on 429 so that a
# throttling receiver does not make the agent drop data, and a backoff that gives a link time.
QUEUE_CONFIG: Dict[str, Any] = {
    "max_shards": 4,
    "capacity": 10000,
    "max_samples_per_send": 2000,
    "min_backoff": "1s",
    "max_backoff": "1m",
    "retry_on_http_429": True,
}


def scrape_timeout(interval: str) -> str:
    """Prometheus refuses a timeout longer than the interval; 10 s otherwise."""
    seconds = duration_seconds(interval)
    return interval if seconds < 10 else "10s"


def auth_config(auth: RemoteWriteAuth) -> Dict[str, Any]:
    """The `remote_write` entry's authentication and TLS settings (files, never inline secrets)."""
    config: Dict[str, Any] = {}
    if auth.username is not None:
        basic: Dict[str, Any] = {"username": auth.username}
        if auth.password_file:
            basic["password_file"] = auth.password_file
        config["basic_auth"] = basic
    if auth.bearer_token_file:
        config["authorization"] = {"type": "Bearer", "credentials_file": auth.bearer_token_file}
    tls: Dict[str, Any] = {}
    if auth.ca_file:
        tls["ca_file"] = auth.ca_file
    if auth.cert_file and auth.key_file:
        tls["cert_file"] = auth.cert_file
        tls["key_file"] = auth.key_file
    if auth.server_name:
        tls["server_name"] = auth.server_name
    if tls:
        config["tls_config"] = tls
    return config


def agent_config(
    targets: Mapping[str, Sequence[str]],
    remote_write_urls: Sequence[str],
    external_labels: Mapping[str, str],
    auth: Optional[RemoteWriteAuth] = None,
    scrape_interval: str = "1m",
    keep: Optional[Mapping[str, str]] = None,
    instance_from: Optional[str] = "node",
) -> Dict[str, Any]:
    """The agent's prometheus.yml as a dict.

    `targets` maps a job name to host:port addresses; `keep` maps a job name to a regex of metric
    names to keep. When `instance_from` names an external label, every written series gets
    `instance` set from it (Prometheus adds external labels before write relabeling), so pushed
    series carry the node name as `instance` like the pull mode's ServiceMonitor gives them.
    """
    scrape_configs: List[Dict[str, Any]] = []
    for job, addresses in targets.items():
        job_config: Dict[str, Any] = {"job_name": job, "static_configs": [{"targets": list(addresses)}]}
        if keep and job in keep:
            job_config["metric_relabel_configs"] = [
                {"source_labels": ["__name__"], "regex": keep[job], "action": "keep"}
            ]
        scrape_configs.append(job_config)
    write_relabel: List[Dict[str, Any]] = []
    if instance_from:
        write_relabel.append({"source_labels": [instance_from], "regex": "(.+)", "target_label": "instance",
                              "replacement": "$1", "action": "replace"})
    remote_write: List[Dict[str, Any]] = []
    for url in remote_write_urls:
        entry: Dict[str, Any] = {"url": url, **auth_config(auth or RemoteWriteAuth()),
                                 "queue_config": dict(QUEUE_CONFIG)}
        if write_relabel:
            entry["write_relabel_configs"] = [dict(r) for r in write_relabel]
        remote_write.append(entry)
    return {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_timeout(scrape_interval),
            "external_labels": dict(external_labels),
        },
        "scrape_configs": scrape_configs,
        "remote_write": remote_write,
    }


def pod_auth(options: Options) -> RemoteWriteAuth:
    """The auth settings pointing at the files the pod mounts from the user's Secret."""
    return RemoteWriteAuth(
        username=options.remote_write_username,
        password_file=f"{SECRET_DIR}/password" if options.remote_write_username else None,
        bearer_token_file=f"{SECRET_DIR}/token" if options.remote_write_bearer_token else None,
        ca_file=f"{SECRET_DIR}/ca.crt" if options.remote_write_ca else None,
        cert_file=f"{SECRET_DIR}/tls.crt" if options.remote_write_client_cert else None,
        key_file=f"{SECRET_DIR}/tls.key" if options.remote_write_client_cert else None,
        server_name=options.remote_write_server_name,
    )


def secret_keys(options: Options) -> List[str]:
    """Keys the user's Secret must have for the chosen options."""
    keys = []
    if options.remote_write_username:
        keys.append("password")
    if options.remote_write_bearer_token:
        keys.append("token")
    if options.remote_write_ca:
        keys.append("ca.crt")
    if options.remote_write_client_cert:
        keys.extend(["tls.crt", "tls.key"])
    return keys


def pod_agent_config(options: Options) -> Dict[str, Any]:
    """The agent config the DaemonSet runs: exporter (and node-exporter) on the node's loopback."""
    targets: Dict[str, List[str]] = {conventions.JOB: [f"127.0.0.1:{conventions.PORT}"]}
    keep: Dict[str, str] = {}
    if options.push_node_exporter:
        # job="node-exporter" is what KubeSphere's recording rules (and so its console) select.
        targets["node-exporter"] = [options.push_node_exporter]
        keep["node-exporter"] = NODE_EXPORTER_KEEP
    labels = {**POD_EXTERNAL_LABELS, **dict(options.external_labels)}
    return agent_config(targets, options.remote_write_urls, labels, auth=pod_auth(options),
                        scrape_interval=options.scrape_interval, keep=keep)


def config_text(config: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=False)


def configmap(options: Options) -> Dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": conventions.AGENT_CONFIGMAP, "namespace": options.ns,
                     "labels": dict(conventions.COMMON_LABELS)},
        "data": {CONFIG_FILE: config_text(pod_agent_config(options))},
    }


def config_checksum(options: Options) -> str:
    """Changes with the config, so that re-applying a new config rolls the pods."""
    return hashlib.sha256(config_text(pod_agent_config(options)).encode()).hexdigest()


def _major_version(image: str) -> Optional[int]:
    tag = image.rsplit("/", 1)[-1].partition("@")[0].rpartition(":")[2]
    m = re.match(r"^v?(\d+)\.", tag)
    return int(m.group(1)) if m else None


def agent_args(options: Options) -> List[str]:
    """Command-line flags of the agent; Prometheus 2.x needs feature flags that 3.x made defaults."""
    major = _major_version(options.agent_image)
    legacy = major is not None and major < 3
    mode = ["--enable-feature=agent,expand-external-labels"] if legacy else ["--agent"]
    return [
        *mode,
        f"--config.file={CONFIG_DIR}/{CONFIG_FILE}",
        f"--storage.agent.path={WAL_DIR}",
        f"--storage.agent.retention.max-time={options.agent_wal_retention}",
        f"--web.listen-address=127.0.0.1:{conventions.AGENT_PORT}",
    ]


def _probe(path: str, period_s: int) -> Dict[str, Any]:
    return {"httpGet": {"host": "127.0.0.1", "path": path, "port": conventions.AGENT_PORT, "scheme": "HTTP"},
            "periodSeconds": period_s, "timeoutSeconds": 5, "failureThreshold": 3}


def _restricted(run_as_user: int) -> Dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": run_as_user,
        "runAsGroup": run_as_user,
        "capabilities": {"drop": ["ALL"]},
    }


def container(options: Options) -> Dict[str, Any]:
    mounts: List[Dict[str, Any]] = [
        {"name": "agent-config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "agent-wal", "mountPath": WAL_DIR},
    ]
    if options.uses_secret:
        mounts.append({"name": "remote-write", "mountPath": SECRET_DIR, "readOnly": True})
    return {
        "name": conventions.AGENT_CONTAINER,
        "image": options.agent_image,
        "imagePullPolicy": "IfNotPresent",
        "args": agent_args(options),
        "env": [{"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}} for name, path in POD_ENV],
        "livenessProbe": _probe("/-/healthy", 30),
        "readinessProbe": _probe("/-/ready", 15),
        "resources": sizing.copy(sizing.AGENT),
        "securityContext": _restricted(AGENT_UID),
        "volumeMounts": mounts,
    }


def wal_init_container(options: Options) -> Dict[str, Any]:
    """Hands the WAL directory (created root-owned by the kubelet) to the agent's user, once.

    The only step of the push mode that runs as root, with the one capability it needs.
    """
    script = (f'if [ "$(stat -c %u {WAL_DIR})" != "{AGENT_UID}" ]; then '
              f"chmod 0700 {WAL_DIR} && chown {AGENT_UID}:{AGENT_UID} {WAL_DIR}; fi")
    security = _restricted(0)
    security["runAsNonRoot"] = False
    security["capabilities"] = {"drop": ["ALL"], "add": ["CHOWN"]}
    return {
        "name": "agent-wal-owner",
        "image": options.agent_image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", script],
        "resources": sizing.copy(sizing.WAL_INIT),
        "securityContext": security,
        "volumeMounts": [{"name": "agent-wal", "mountPath": WAL_DIR}],
    }


def volumes(options: Options) -> List[Dict[str, Any]]:
    result: List[Dict[str, Any]] = [
        {"name": "agent-config", "configMap": {"name": conventions.AGENT_CONFIGMAP}},
        {"name": "agent-wal", "hostPath": {"path": conventions.AGENT_WAL_HOST_PATH, "type": "DirectoryOrCreate"}},
    ]
    if options.uses_secret:
        result.append({"name": "remote-write", "secret": {
            "secretName": options.remote_write_secret,
            "defaultMode": 0o440,
            "items": [{"key": key, "path": key} for key in secret_keys(options)],
        }})
    return result

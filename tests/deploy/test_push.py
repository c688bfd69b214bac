"""Push mode: the agent beside the exporter, checked by running the real Prometheus binary on it."""

from __future__ import annotations

import base64
import http.server
import json
import subprocess
import threading
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List

import bcrypt
import pytest
import yaml
from tests.deploy.conftest import (
    PROMETHEUS,
    PROMTOOL,
    PUSH_URL,
    by_kind,
    containers,
    documents,
    files_of,
    free_port,
    objects_of,
    poll,
    ready,
    start,
)

from jetson_exporter.deploy import agent, conventions
from jetson_exporter.deploy.options import RemoteWriteAuth

PUSH = ["--mode", "push", "--remote-write-url", PUSH_URL]
EXPOSITION = b"""# HELP jetson_info Board identity; always 1.
# TYPE jetson_info gauge
jetson_info{model="NVIDIA Jetson AGX Orin Developer Kit",soc="tegra234",l4t="36.4.4"} 1
# HELP jetson_exporter_build_info Exporter version and the source it reads; always 1.
# TYPE jetson_exporter_build_info gauge
jetson_exporter_build_info{version="0.1.0",source="sysfs",python_version="3.11.7"} 1
"""


def _agent_config(*argv: str) -> Dict[str, Any]:
    configmap = by_kind(objects_of([*PUSH, *argv]), "ConfigMap")
    loaded: Dict[str, Any] = yaml.safe_load(configmap["data"][agent.CONFIG_FILE])
    return loaded


def test_push_mode_has_no_service_or_monitor_and_keeps_the_exporter_off_the_network() -> None:
    objects = objects_of(PUSH)
    assert {o["kind"] for o in objects} == {"ServiceAccount", "ConfigMap", "DaemonSet", "PrometheusRule",
                                            "ClusterDashboard"}
    exporter = containers(by_kind(objects, "DaemonSet"))["exporter"]
    assert f"--web.listen-address=127.0.0.1:{conventions.PORT}" in exporter["args"]


def test_the_agent_scrapes_the_exporter_on_loopback_and_writes_to_every_url() -> None:
    config = _agent_config("--remote-write-url", PUSH_URL.replace("cloud", "cloud2"))
    assert config["scrape_configs"] == [
        {"job_name": "jetson-exporter", "static_configs": [{"targets": ["127.0.0.1:9998"]}]}]
    assert [w["url"] for w in config["remote_write"]] == [PUSH_URL, PUSH_URL.replace("cloud", "cloud2")]
    assert all(w["queue_config"]["retry_on_http_429"] for w in config["remote_write"])


def test_pushed_series_carry_the_labels_of_pulled_ones() -> None:
    config = _agent_config("--external-label", "cluster=eu")
    assert config["global"]["external_labels"] == {
        "node": "${NODE_NAME}", "namespace": "${POD_NAMESPACE}", "pod": "${POD_NAME}", "cluster": "eu"}
    relabel = config["remote_write"][0]["write_relabel_configs"]
    assert relabel == [{"source_labels": ["node"], "regex": "(.+)", "target_label": "instance",
                        "replacement": "$1", "action": "replace"}]
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
           for e in containers(by_kind(objects_of(PUSH), "DaemonSet"))[conventions.AGENT_CONTAINER]["env"]}
    assert env == {"NODE_NAME": "spec.nodeName", "POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}


def test_node_exporter_is_pushed_as_job_node_exporter_with_kubesphere_s_keep_list() -> None:
    job = _agent_config("--push-node-exporter")["scrape_configs"][1]
    assert job["job_name"] == "node-exporter" and job["static_configs"] == [{"targets": ["127.0.0.1:9100"]}]
    assert job["metric_relabel_configs"][0]["action"] == "keep"


def test_credentials_come_from_secret_files_never_from_the_manifests() -> None:
    argv = [*PUSH, "--remote-write-username", "edge", "--remote-write-ca", "--remote-write-client-cert"]
    files = files_of(argv)
    config = yaml.safe_load(by_kind(objects_of(argv), "ConfigMap")["data"][agent.CONFIG_FILE])
    write = config["remote_write"][0]
    assert write["basic_auth"] == {"username": "edge", "password_file": f"{agent.SECRET_DIR}/password"}
    assert write["tls_config"] == {"ca_file": f"{agent.SECRET_DIR}/ca.crt", "cert_file": f"{agent.SECRET_DIR}/tls.crt",
                                   "key_file": f"{agent.SECRET_DIR}/tls.key"}
    pod = by_kind(objects_of(argv), "DaemonSet")["spec"]["template"]["spec"]
    secret = next(v["secret"] for v in pod["volumes"] if "secret" in v)
    assert secret["secretName"] == conventions.REMOTE_WRITE_SECRET
    assert [i["key"] for i in secret["items"]] == ["password", "ca.crt", "tls.crt", "tls.key"]
    assert "kubectl -n kubesphere-monitoring-system create secret generic jetson-exporter-remote-write" in files[
        "daemonset.yaml"]
    assert not any(d.get("kind") == "Secret" for text in files.values() for d in documents(text))


def test_the_wal_lives_on_the_node_and_only_its_owner_fix_runs_as_root() -> None:
    daemonset = by_kind(objects_of(PUSH), "DaemonSet")
    pod = daemonset["spec"]["template"]["spec"]
    wal = next(v for v in pod["volumes"] if v["name"] == "agent-wal")
    assert wal["hostPath"] == {"path": conventions.AGENT_WAL_HOST_PATH, "type": "DirectoryOrCreate"}
    by_name = containers(daemonset)
    init = by_name["agent-wal-owner"]["securityContext"]
    assert init["runAsUser"] == 0 and init["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN"]}
    agent_context = by_name[conventions.AGENT_CONTAINER]["securityContext"]
    assert agent_context["runAsNonRoot"] is True and agent_context["readOnlyRootFilesystem"] is True
    assert f"--storage.agent.path={agent.WAL_DIR}" in by_name[conventions.AGENT_CONTAINER]["args"]


def test_a_new_agent_config_rolls_the_pods() -> None:
    def checksum(*argv: str) -> str:
        annotations = by_kind(objects_of([*PUSH, *argv]), "DaemonSet")["spec"]["template"]["metadata"]["annotations"]
        return str(annotations["jetson-exporter/agent-config-sha256"])
    assert checksum() != checksum("--external-label", "cluster=eu")


@pytest.mark.parametrize(("image", "flag"), [
    ("quay.io/prometheus/prometheus:v3.5.0", "--agent"),
    ("prom/prometheus:v2.53.4", "--enable-feature=agent,expand-external-labels"),
])
def test_agent_mode_flag_follows_the_prometheus_major_version(image: str, flag: str) -> None:
    args = containers(by_kind(objects_of([*PUSH, "--agent-image", image]), "DaemonSet"))[conventions.AGENT_CONTAINER]
    assert args["args"][0] == flag


def test_promtool_accepts_the_agent_config_with_every_auth_option(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    for name in ("password", "token", "ca.crt", "tls.crt", "tls.key"):
        (secret / name).write_text("x\n")
    for auth in (RemoteWriteAuth(username="edge", password_file=str(secret / "password"),
                                 ca_file=str(secret / "ca.crt"), cert_file=str(secret / "tls.crt"),
                                 key_file=str(secret / "tls.key"), server_name="prometheus.cloud.example"),
                 RemoteWriteAuth(bearer_token_file=str(secret / "token"))):
        config = agent.agent_config({"jetson-exporter": ["127.0.0.1:9998"]}, [PUSH_URL], agent.POD_EXTERNAL_LABELS,
                                    auth=auth)
        path = tmp_path / "agent.yml"
        path.write_text(agent.config_text(config))
        result = subprocess.run([PROMTOOL, "check", "config", "--agent", str(path)], capture_output=True, text=True,
                                timeout=60, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


class _Metrics(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(EXPOSITION)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def fake_exporter() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def _pod_paths(args: List[str], config: Path, wal: Path, port: int) -> List[str]:
    """The agent container's flags, with its in-container paths and port moved to this machine."""
    moved = []
    for arg in args:
        name, _, _ = arg.partition("=")
        moved.append({"--config.file": f"--config.file={config}", "--storage.agent.path": f"--storage.agent.path={wal}",
                      "--web.listen-address": f"--web.listen-address=127.0.0.1:{port}"}.get(name, arg))
    return moved


def test_the_real_prometheus_runs_the_rendered_agent_and_the_receiver_gets_labelled_series(
        tmp_path: Path, fake_exporter: int, processes: List[Any]) -> None:
    receiver_port, agent_port = free_port(), free_port()
    # The receiver: a Prometheus with the feature the KubeSphere patch switches on, behind basic auth.
    password = "s3cret-for-test"
    web = tmp_path / "receiver-web.yml"
    web.write_text(yaml.safe_dump({"basic_auth_users": {
        "edge": bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}}))
    (tmp_path / "receiver.yml").write_text("global: {}\n")
    receiver = start(processes, [
        PROMETHEUS, f"--config.file={tmp_path / 'receiver.yml'}", f"--storage.tsdb.path={tmp_path / 'receiver-data'}",
        f"--web.listen-address=127.0.0.1:{receiver_port}", "--enable-feature=remote-write-receiver",
        f"--web.config.file={web}"], tmp_path / "receiver.log")

    # The agent: the rendered config and container flags (2.x image, as Debian's binary is 2.x).
    url = f"http://127.0.0.1:{receiver_port}/api/v1/write"
    argv = ["--mode", "push", "--remote-write-url", url, "--remote-write-username", "edge", "--scrape-interval", "1s",
            "--agent-image", "prom/prometheus:v2.42.0"]
    objects = objects_of(argv)
    config = yaml.safe_load(by_kind(objects, "ConfigMap")["data"][agent.CONFIG_FILE])
    config["scrape_configs"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{fake_exporter}"]}]
    (tmp_path / "password").write_text(password)
    config["remote_write"][0]["basic_auth"]["password_file"] = str(tmp_path / "password")
    config["remote_write"][0]["queue_config"]["batch_send_deadline"] = "1s"
    config_path = tmp_path / "agent.yml"
    config_path.write_text(yaml.safe_dump(config))
    args = containers(by_kind(objects, "DaemonSet"))[conventions.AGENT_CONTAINER]["args"]
    env = {"NODE_NAME": "orin-7", "POD_NAME": "jetson-exporter-x1y2z", "POD_NAMESPACE": "kubesphere-monitoring-system"}
    agent_proc = start(processes, [PROMETHEUS, *_pod_paths(args, config_path, tmp_path / "wal", agent_port)],
                       tmp_path / "agent.log", env=env)

    poll(lambda: _get_with_auth(receiver_port, "/-/ready", password), 60, "receiver ready", receiver)
    poll(ready(agent_port), 60, "agent ready", agent_proc)
    received = poll(lambda: _query_with_auth(receiver_port, "jetson_info", password), 90,
                    "jetson_info at the receiver", agent_proc)
    labels = received[0]["metric"]
    assert labels["job"] == "jetson-exporter"
    assert labels["instance"] == "orin-7" and labels["node"] == "orin-7"
    assert labels["namespace"] == "kubesphere-monitoring-system" and labels["pod"] == "jetson-exporter-x1y2z"
    up = poll(lambda: _query_with_auth(receiver_port, 'up{job="jetson-exporter"}', password), 30, "up", agent_proc)
    assert up[0]["metric"]["instance"] == "orin-7"  # so JetsonExporterDown and JetsonNodeWithoutMetrics work


def _get_with_auth(port: int, path: str, password: str) -> bytes:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        headers={"Authorization": "Basic " + base64.b64encode(f"edge:{password}".encode()).decode()})
    with urllib.request.urlopen(request, timeout=5) as response:
        return bytes(response.read())


def _query_with_auth(port: int, expr: str, password: str) -> List[Dict[str, Any]]:
    body = _get_with_auth(port, f"/api/v1/query?query={urllib.request.quote(expr)}", password)
    result: List[Dict[str, Any]] = json.loads(body)["data"]["result"]
    return result

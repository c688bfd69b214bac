"""Real-shaped facts for the doctor's tests.

KubeSphere 3.4.1's monitoring objects are read from ../shared/reference at test time and turned into
what the API server serves (defaults, metadata, status). KubeEdge nodes, pods, the cloudcore
configmap and edge files follow KubeEdge 1.15/1.17 as deployed by keadm and KubeSphere. `Setup`
describes one cluster along the original setup journey (KUBEEDGE.md §1): each flag is one step.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import threading
import urllib.parse
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
import yaml

from jetson_exporter.deploy.conventions import (
    EDGE_ROLE_LABEL,
    NAME,
    NODE_LABEL_KEY,
    NODE_LABEL_VALUE,
    PORT,
)
from jetson_exporter.doctor.checks_cluster import console_queries
from jetson_exporter.doctor.facts import ClusterFacts, PrometheusFacts, log_key
from jetson_exporter.doctor.jsonpatch import apply_patch

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO.parent / "shared" / "reference" / "kubesphere-v3.4.1"
DATA = Path(__file__).parent / "data"
KS_NS = "kubesphere-monitoring-system"
EDGE = "jetson-nx-01"
CLOUD = "ks-master-1"
EDGE_IP = "192.168.10.31"
CLOUD_IP = "192.168.10.20"
NOW = 1714035600.0

Obj = Dict[str, Any]


def reference(name: str) -> Obj:
    path = REFERENCE / name
    if not path.exists():
        raise RuntimeError(f"{path} is missing: the doctor's tests read KubeSphere 3.4.1 objects from "
                           "../shared/reference (see its README)")
    return yaml.safe_load(path.read_text())


def edgecore_text(version: str = "1.15") -> str:
    text = (DATA / "edgecore-1.15.yaml").read_text()
    if version.startswith("1.17"):
        # keadm 1.17 writes the dummy server (InClusterConfig) and its default next to the metaServer.
        text = text.replace("      apiAudiences: null\n      enable: false\n",
                            "      apiAudiences: null\n      dummyServer: 169.254.30.10:10550\n      enable: false\n")
        text = text.replace("kubeedge-version=v1.15.1", "kubeedge-version=v1.17.0")
    return text


# -- what the API server adds ---------------------------------------------------------------------------------

def _meta(obj: Obj) -> None:
    meta = obj.setdefault("metadata", {})
    # stable per object, so that recorded example facts do not change from run to run
    digest = hashlib.sha256(f"{obj.get('kind')}/{meta.get('namespace')}/{meta.get('name')}".encode()).hexdigest()
    meta.setdefault("uid", f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}")
    meta.setdefault("resourceVersion", str(int(digest[:6], 16)))
    meta.setdefault("creationTimestamp", "2024-04-20T08:00:00Z")
    meta["managedFields"] = [{"manager": "kubectl-client-side-apply", "operation": "Update"}]


def served_daemonset(manifest: Obj) -> Obj:
    ds = copy.deepcopy(manifest)
    _meta(ds)
    ds["metadata"]["generation"] = 1
    ds["metadata"].setdefault("annotations", {})["deprecated.daemonset.template.generation"] = "1"
    ds["spec"].setdefault("revisionHistoryLimit", 10)
    template = ds["spec"]["template"]
    template.setdefault("metadata", {})["creationTimestamp"] = None
    spec = template["spec"]
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for container in spec["containers"]:
        container.setdefault("imagePullPolicy", "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        for port in container.get("ports", []):
            port.setdefault("protocol", "TCP")
    ds["status"] = {"currentNumberScheduled": 1, "desiredNumberScheduled": 1, "numberAvailable": 1,
                    "numberMisscheduled": 0, "numberReady": 1, "observedGeneration": 1, "updatedNumberScheduled": 1}
    return ds


def served(manifest: Obj) -> Obj:
    obj = copy.deepcopy(manifest)
    _meta(obj)
    return obj


# -- nodes ---------------------------------------------------------------------------------------------------


def cloud_node(name: str = CLOUD) -> Obj:
    return served({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": "",
            "node-role.kubernetes.io/worker": ""}},
        "spec": {"podCIDR": "10.233.64.0/24", "podCIDRs": ["10.233.64.0/24"]},
        "status": {
            "addresses": [{"address": CLOUD_IP, "type": "InternalIP"}, {"address": name, "type": "Hostname"}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"architecture": "amd64", "containerRuntimeVersion": "containerd://1.6.4",
                         "kernelVersion": "5.15.0-91-generic", "kubeProxyVersion": "v1.26.5",
                         "kubeletVersion": "v1.26.5", "operatingSystem": "linux",
                         "osImage": "Ubuntu 22.04.3 LTS"}}})


def edge_node(name: str = EDGE, kubeedge: str = "1.15.1", tunnel_port: int = 10250, jetson_label: bool = False,
              edge_label: bool = True) -> Obj:
    k8s = "v1.26.10" if kubeedge.startswith("1.15") else "v1.28.6"
    labels = {"beta.kubernetes.io/arch": "arm64", "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "arm64",
              "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "node-role.kubernetes.io/agent": ""}
    if edge_label:
        labels[EDGE_ROLE_LABEL] = ""
    if jetson_label:
        labels[NODE_LABEL_KEY] = NODE_LABEL_VALUE
    return served({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": [{"effect": "NoSchedule", "key": EDGE_ROLE_LABEL}]},
        "status": {
            "addresses": [{"address": EDGE_IP, "type": "InternalIP"}, {"address": name, "type": "Hostname"}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "EdgeReady"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": tunnel_port}},
            "nodeInfo": {"architecture": "arm64", "containerRuntimeVersion": "containerd://1.7.2",
                         "kernelVersion": "5.10.120-tegra", "kubeProxyVersion": "",
                         "kubeletVersion": f"{k8s}-kubeedge-v{kubeedge}", "operatingSystem": "linux",
                         "osImage": "Ubuntu 20.04.6 LTS"}}})


# -- pods -------------------------------------------------------------------------------------------------------


def running(name: str, image: str, restarts: int = 0, ready: bool = True) -> Obj:
    status: Obj = {"name": name, "image": image, "imageID": f"docker.io/{image}@sha256:{'ab' * 32}",
                   "containerID": f"containerd://{'cd' * 32}", "ready": ready, "restartCount": restarts,
                   "started": True, "state": {"running": {"startedAt": "2024-04-25T08:50:00Z"}}, "lastState": {}}
    if restarts:
        status["lastState"] = {"terminated": {"exitCode": 255, "reason": "Error",
                                              "startedAt": "2024-04-25T08:40:00Z",
                                              "finishedAt": "2024-04-25T08:40:01Z"}}
    return status


def crashlooping(name: str, image: str, pod: str, restarts: int = 14) -> Obj:
    return {"name": name, "image": image, "imageID": f"docker.io/{image}@sha256:{'ab' * 32}",
            "containerID": f"containerd://{'ef' * 32}", "ready": False, "restartCount": restarts, "started": False,
            "state": {"waiting": {"reason": "CrashLoopBackOff",
                                  "message": f"back-off 5m0s restarting failed container={name} "
                                             f"pod={pod}_{KS_NS}(6f0c1a2e)"}},
            "lastState": {"terminated": {"exitCode": 255, "reason": "Error", "startedAt": "2024-04-25T08:55:03Z",
                                         "finishedAt": "2024-04-25T08:55:03Z",
                                         "containerID": f"containerd://{'ef' * 32}"}}}


def pod_from(ds: Obj, node: str, suffix: str, statuses: List[Obj], ip: str = EDGE_IP) -> Obj:
    template = copy.deepcopy(ds["spec"]["template"])
    name = f"{ds['metadata']['name']}-{suffix}"
    spec = template["spec"]
    spec["nodeName"] = node
    spec["serviceAccount"] = spec.get("serviceAccountName", "default")
    spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}}}
    spec.setdefault("tolerations", []).extend([
        {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists"},
        {"effect": "NoSchedule", "key": "node.kubernetes.io/disk-pressure", "operator": "Exists"}])
    healthy = all(s.get("ready") for s in statuses)
    return served({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "generateName": f"{ds['metadata']['name']}-",
                     "namespace": ds["metadata"]["namespace"],
                     "labels": dict(template["metadata"]["labels"], **{"controller-revision-hash": "7c9d8b6f5d",
                                                                        "pod-template-generation": "1"}),
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "controller": True,
                                          "blockOwnerDeletion": True, "name": ds["metadata"]["name"],
                                          "uid": ds["metadata"]["uid"]}]},
        "spec": spec,
        "status": {"phase": "Running", "hostIP": ip, "podIP": ip, "podIPs": [{"ip": ip}],
                   "startTime": "2024-04-25T08:30:00Z", "qosClass": "Burstable",
                   "conditions": [{"type": "Ready", "status": "True" if healthy else "False"}],
                   "containerStatuses": statuses}})


# -- this project's objects (the shape the deploy manifests render) ------------------------------------------


def rendered(preset: str = "kubesphere") -> Dict[str, Obj]:
    """This project's objects as `jetson-exporter manifests --preset PRESET` renders them, by kind."""
    import contextlib
    import io

    from jetson_exporter.deploy.cli import main as manifests

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert manifests(["--preset", preset]) == 0
    return {doc["kind"]: doc for doc in yaml.safe_load_all(out.getvalue()) if doc}


def jetson_daemonset(preset: str = "kubesphere") -> Obj:
    return served_daemonset(rendered(preset)["DaemonSet"])


def jetson_service(preset: str = "kubesphere") -> Obj:
    svc = served(rendered(preset)["Service"])
    svc["spec"].update({"clusterIPs": ["None"], "type": "ClusterIP", "sessionAffinity": "None",
                        "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"})
    return svc


def jetson_servicemonitor(preset: str = "kubesphere") -> Obj:
    return served(rendered(preset)["ServiceMonitor"])


def jetson_prometheusrule(preset: str = "kubesphere") -> Obj:
    return served(rendered(preset)["PrometheusRule"])


# -- cloud side ------------------------------------------------------------------------------------------------


def cloudcore_configmap(dynamic: bool = False, cloud_stream: bool = True, advertise: Optional[List[str]] = None,
                        gate: bool = False) -> Obj:
    """kubeedge/cloudcore as KubeSphere's cloudcore chart renders it (ks-installer roles/edgeruntime)."""
    addresses = [CLOUD_IP] if advertise is None else advertise
    rendered = "\n".join(f'        - {a if a else chr(34) * 2}' for a in addresses)
    gates = "featureGates:\n  requireAuthorization: true\n" if gate else ""
    text = (
        "apiVersion: cloudcore.config.kubeedge.io/v1alpha2\n"
        "kind: CloudCore\n"
        f"{gates}"
        "kubeAPIConfig:\n  kubeConfig: \"\"\n  master: \"\"\n"
        "modules:\n"
        "  cloudHub:\n"
        "    advertiseAddress:\n" + "\n".join(line[4:] for line in rendered.splitlines()) + "\n"
        "    nodeLimit: 1000\n"
        "    tlsCAFile: /etc/kubeedge/ca/rootCA.crt\n"
        "    tlsCertFile: /etc/kubeedge/certs/edge.crt\n"
        "    tlsPrivateKeyFile: /etc/kubeedge/certs/edge.key\n"
        "    unixsocket:\n      address: unix:///var/lib/kubeedge/kubeedge.sock\n      enable: true\n"
        "    websocket:\n      address: 0.0.0.0\n      enable: true\n      port: 10000\n"
        "    quic:\n      address: 0.0.0.0\n      enable: false\n      maxIncomingStreams: 10000\n      port: 10001\n"
        "    https:\n      address: 0.0.0.0\n      enable: true\n      port: 10002\n"
        "  cloudStream:\n"
        f"    enable: {str(cloud_stream).lower()}\n"
        "    streamPort: 10003\n    tunnelPort: 10004\n"
        "  dynamicController:\n"
        f"    enable: {str(dynamic).lower()}\n"
        "  router:\n    enable: false\n"
        "  iptablesManager:\n    enable: true\n    mode: external\n")
    return served({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cloudcore", "namespace": "kubeedge",
                                "labels": {"k8s-app": "kubeedge", "kubeedge": "cloudcore"}},
                   "data": {"cloudcore.yaml": text}})


def edgemesh_pod(node: str = EDGE) -> Obj:
    return served({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "edgemesh-agent-x7k2p", "namespace": "kubeedge",
                     "labels": {"k8s-app": "kubeedge", "kubeedge": "edgemesh-agent"}},
        "spec": {"nodeName": node, "hostNetwork": True,
                 "containers": [{"name": "edgemesh-agent", "image": "kubeedge/edgemesh-agent:v1.14.0"}]},
        "status": {"phase": "Running", "containerStatuses": [running("edgemesh-agent",
                                                                      "kubeedge/edgemesh-agent:v1.14.0")]}})


def kubernetes_service(edgemesh_label: bool = False) -> Obj:
    labels = {"component": "apiserver", "provider": "kubernetes"}
    if edgemesh_label:
        labels["service.edgemesh.kubeedge.io/service-proxy-name"] = ""
    return served({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "kubernetes", "namespace": "default", "labels": labels},
                   "spec": {"clusterIP": "10.233.0.1", "clusterIPs": ["10.233.0.1"], "type": "ClusterIP",
                            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}})


def prometheus_cr(remote_write: bool = False) -> Obj:
    cr = served(reference("prometheus-prometheus.yaml"))
    if not remote_write:
        # ks-installer deploys the template without enableFeatures (see the reference README)
        cr["spec"].pop("enableFeatures", None)
    return cr


def namespace_object(name: str = KS_NS) -> Obj:
    return served({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name,
                                                          "kubesphere.io/workspace": "system-workspace"}}})


def cluster_configuration(metrics_server: bool = False) -> Obj:
    return served({"apiVersion": "installer.kubesphere.io/v1alpha1", "kind": "ClusterConfiguration",
                   "metadata": {"name": "ks-installer", "namespace": "kubesphere-system",
                                "labels": {"version": "v3.4.1"}},
                   "spec": {"metrics_server": {"enabled": metrics_server},
                            "monitoring": {"node_exporter": {"port": 9100}},
                            "edgeruntime": {"enabled": True, "kubeedge": {"enabled": True, "cloudCore": {
                                "cloudHub": {"advertiseAddress": [CLOUD_IP]}}}}},
                   "status": {"monitoring": {"status": "enabled"}}})


# -- Prometheus answers ------------------------------------------------------------------------------------------


def target(job: str, node: str, health: str, error: str = "", pod: str = "") -> Obj:
    scheme, port = ("https", 9100) if job == "node-exporter" else ("http", PORT)
    labels = {"instance": node, "job": job, "namespace": KS_NS, "pod": pod}
    return {"discoveredLabels": {"__address__": f"{EDGE_IP}:{port}", "__meta_kubernetes_pod_node_name": node},
            "labels": labels, "scrapePool": f"serviceMonitor/{KS_NS}/{job}/0",
            "scrapeUrl": f"{scheme}://{EDGE_IP}:{port}/metrics", "globalUrl": f"{scheme}://{EDGE_IP}:{port}/metrics",
            "lastError": error, "lastScrape": "2024-04-25T09:00:00.123Z", "lastScrapeDuration": 0.012,
            "health": health, "scrapeInterval": "1m", "scrapeTimeout": "10s"}


def sample(metric: Obj, value: str = "1") -> Obj:
    return {"metric": metric, "value": [NOW, value]}


# -- one cluster along the original setup journey -----------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """The state of a KubeSphere 3.4.1 cluster with one Jetson edge node (KUBEEDGE.md §1 steps)."""

    kubeedge: str = "1.15.1"
    edge_stream: bool = False  # step 2: edgecore edgeStream on (tunnel connects)
    affinity_patched: bool = False  # step 4: node-exporter may run on edge nodes
    dynamic_controller: bool = False  # step 6: cloudcore dynamicController on
    meta_server: bool = False  # step 7: edgecore metaServer on, clusterDNS/clusterDomain set
    edgemesh: bool = False  # step 8: EdgeMesh installed
    host_dns: bool = False  # step 9: node-exporter dnsPolicy ClusterFirstWithHostNet
    dummy_env: bool = False  # step 10: METASERVER_DUMMY_* in edgecore's environment
    jetson_label: bool = False  # step 13: machine.type=jetson
    jetson_objects: bool = False  # step 14: this project's DaemonSet, Service, ServiceMonitor, PrometheusRule
    gate: bool = False  # 1.17+: featureGates.requireAuthorization on both sides
    edge_gate: Optional[bool] = None  # the edge's gate when it differs from cloudcore's
    proxy_label: bool = False  # the EdgeMesh guide's label on default/kubernetes
    remote_write: bool = False
    prometheus: bool = True

    def everything(self) -> Setup:
        return replace(self, edge_stream=True, affinity_patched=True, dynamic_controller=True, meta_server=True,
                       edgemesh=True, host_dns=True, dummy_env=True, jetson_label=True, jetson_objects=True)

    @property
    def gate_works(self) -> bool:
        return (self.gate and self.kubeedge >= "1.17" and (self.edge_gate is None or self.edge_gate)
                and self.meta_server and self.dynamic_controller)

    @property
    def rbac_proxy(self) -> str:
        """How node-exporter's kube-rbac-proxy fares: crash, dns (running, TokenReview fails) or ok."""
        if self.gate_works:
            return "ok"
        if not self.dummy_env:
            return "crash"
        route = (self.host_dns and self.edgemesh and self.meta_server and self.dynamic_controller
                 and not self.proxy_label)
        return "ok" if route else "dns"


RBAC_PROXY_FATAL = ("F0425 08:55:03.512907       1 main.go:218] cannot find Service Account in pod to build "
                    "in-cluster rest config: unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and "
                    "KUBERNETES_SERVICE_PORT must be defined")
RBAC_PROXY_DNS = ('E0425 09:01:12.004512       1 proxy.go:73] Unable to authenticate the request due to an error: '
                  'Post "https://kubernetes.default.svc.cluster.local:443/apis/authentication.k8s.io/v1/tokenreviews": '
                  'dial tcp: lookup kubernetes.default.svc.cluster.local on 127.0.0.53:53: no such host')


def node_exporter_ds(setup: Setup) -> Obj:
    ds = served_daemonset(reference("node-exporter-daemonset.yaml"))
    spec = ds["spec"]["template"]["spec"]
    if setup.affinity_patched:
        del spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    if setup.host_dns:
        spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    return ds


def cluster_facts(setup: Setup) -> ClusterFacts:
    ds = node_exporter_ds(setup)
    version = setup.kubeedge
    nodes = [cloud_node(), edge_node(kubeedge=version, tunnel_port=10350 if setup.edge_stream else 10250,
                                     jetson_label=setup.jetson_label)]
    cloud_pod = pod_from(ds, CLOUD, "q8x4d", [running("node-exporter", "prom/node-exporter:v1.3.1"),
                                               running("kube-rbac-proxy", "kubesphere/kube-rbac-proxy:v0.11.0")],
                         ip=CLOUD_IP)
    pods = [cloud_pod]
    logs: Dict[str, str] = {}
    edge_pod_name = "node-exporter-7x2kq"
    if setup.affinity_patched:
        rbac: Obj
        if setup.rbac_proxy == "crash":
            rbac = crashlooping("kube-rbac-proxy", "kubesphere/kube-rbac-proxy:v0.11.0", edge_pod_name)
            logs[log_key(KS_NS, edge_pod_name, "kube-rbac-proxy", previous=True)] = RBAC_PROXY_FATAL + "\n"
        else:
            rbac = running("kube-rbac-proxy", "kubesphere/kube-rbac-proxy:v0.11.0")
            if setup.rbac_proxy == "dns":
                logs[log_key(KS_NS, edge_pod_name, "kube-rbac-proxy")] = (
                    "I0425 08:59:58.101023       1 main.go:190] Valid token audiences: \n" + RBAC_PROXY_DNS + "\n")
        pods.append(pod_from(ds, EDGE, "7x2kq", [running("node-exporter", "prom/node-exporter:v1.3.1"), rbac]))
    facts = ClusterFacts(
        preset="kubesphere", namespace=KS_NS, nodes=nodes, namespace_object=namespace_object(),
        node_exporter_daemonset=ds, node_exporter_pods=pods, pod_logs=logs,
        cloudcore_configmap=cloudcore_configmap(dynamic=setup.dynamic_controller, gate=setup.gate),
        edgemesh_pods=[edgemesh_pod()] if setup.edgemesh else [],
        kubernetes_service=kubernetes_service(setup.proxy_label),
        prometheuses=[prometheus_cr(setup.remote_write)],
        cluster_configuration=cluster_configuration(),
        metrics_apiservice=None,
    )
    if setup.gate:
        facts.cloudcore_feature_role = served({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                                               "metadata": {"name": "cloudcore-feature",
                                                            "labels": {"rbac/aggregate-to-cloudcore": "true"}}})
    if setup.jetson_objects:
        jds = jetson_daemonset()
        facts.jetson_daemonset = jds
        facts.jetson_service = jetson_service()
        facts.jetson_servicemonitor = jetson_servicemonitor()
        facts.jetson_prometheusrule = jetson_prometheusrule()
        image = jds["spec"]["template"]["spec"]["containers"][0]["image"]
        facts.jetson_pods = [pod_from(jds, EDGE, "m4k9s", [running("exporter", image)])] if setup.jetson_label else []
    else:
        facts.jetson_pods = []
    if setup.prometheus:
        facts.prometheus = prometheus_facts(setup)
    return facts


def prometheus_facts(setup: Setup) -> PrometheusFacts:
    prom = PrometheusFacts(url="http://192.168.10.20:32143", ready=True, version="2.39.1",
                           remote_write_status=204 if setup.remote_write else 404)
    cloud_target = target("node-exporter", CLOUD, "up", pod="node-exporter-q8x4d")
    prom.targets = [cloud_target]
    up = "0"
    if setup.affinity_patched:
        error = {"crash": 'Get "https://192.168.10.31:9100/metrics": dial tcp 192.168.10.31:9100: connect: '
                          "connection refused",
                 "dns": "server returned HTTP status 401 Unauthorized", "ok": ""}[setup.rbac_proxy]
        health = "up" if setup.rbac_proxy == "ok" else "down"
        up = "1" if health == "up" else "0"
        prom.targets.append(target("node-exporter", EDGE, health, error, pod="node-exporter-7x2kq"))
    jetson_up = setup.jetson_objects and setup.jetson_label
    if jetson_up:
        prom.targets.append(target(NAME, EDGE, "up", pod="jetson-exporter-m4k9s"))
    queries = console_queries(EDGE, setup.jetson_label)
    ne = {"instance": EDGE, "job": "node-exporter", "namespace": KS_NS, "pod": "node-exporter-7x2kq"}
    prom.queries = {
        queries["up"]: [sample(dict(ne, __name__="up"), up)] if setup.affinity_patched else [],
        queries["kube_pod_info"]: [sample({"__name__": "kube_pod_info", "node": EDGE, "namespace": KS_NS,
                                           "pod": "node-exporter-7x2kq", "created_by_kind": "DaemonSet",
                                           "created_by_name": "node-exporter", "host_ip": EDGE_IP,
                                           "job": "kube-state-metrics"})] if setup.affinity_patched else [],
        queries["cpu_rule"]: [sample({"node": EDGE, "host_ip": EDGE_IP, "role": ""}, "0.0731")]
        if up == "1" else [],
    }
    if setup.jetson_label:
        jl = {"instance": EDGE, "job": NAME, "namespace": KS_NS, "pod": "jetson-exporter-m4k9s"}
        prom.queries[queries["jetson_up"]] = [sample(dict(jl, __name__="up"))] if jetson_up else []
        prom.queries[queries["jetson_info"]] = [sample(dict(jl, __name__="jetson_info", model="NVIDIA Jetson Xavier NX "
                                                            "Developer Kit", module="p3668-0001", soc="tegra194",
                                                            l4t="35.5.0", jetpack="5.1.3", cuda_arch="7.2"))
                                                ] if jetson_up else []
    return prom


EDGECORE_UNIT = """[Unit]
Description=edgecore.service

[Service]
Type=simple
ExecStart=/usr/local/bin/edgecore
Restart=always
RestartSec=10
Environment="CHECK_EDGECORE_ENVIRONMENT=false"

[Install]
WantedBy=multi-user.target
"""

BLOG_DROPIN = """[Service]
Environment=METASERVER_DUMMY_IP=kubernetes.default.svc.cluster.local
Environment=METASERVER_DUMMY_PORT=443
"""

NV_TEGRA_RELEASE = ("# R35 (release), REVISION: 5.0, GCID: 35550185, BOARD: t186ref, EABI: aarch64, "
                    "DATE: Tue Feb 20 04:46:31 UTC 2024\n# KERNEL_VARIANT: oot\n")


def edge_config_text(setup: Setup) -> str:
    from jetson_exporter.doctor.yamledit import set_values

    edits: List[Tuple[Tuple[str, ...], Any]] = []
    if setup.edge_stream:
        edits.append((("modules", "edgeStream", "enable"), True))
    if setup.meta_server:
        edits.append((("modules", "metaManager", "metaServer", "enable"), True))
        edits.append((("modules", "edged", "tailoredKubeletConfig", "clusterDNS"), ["169.254.96.16"]))
        edits.append((("modules", "edged", "tailoredKubeletConfig", "clusterDomain"), "cluster.local"))
    edge_gate = setup.gate if setup.edge_gate is None else setup.edge_gate
    if edge_gate:
        edits.append((("featureGates", "requireAuthorization"), True))
    text = edgecore_text(setup.kubeedge)
    return set_values(text, edits) if edits else text


def write_edge_root(setup: Setup, root: Path) -> Path:
    """A copy of the edge node's files as `--root` reads them."""
    config = root / "etc/kubeedge/config/edgecore.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(edge_config_text(setup))
    unit = root / "etc/systemd/system/edgecore.service"
    unit.parent.mkdir(parents=True, exist_ok=True)
    unit.write_text(EDGECORE_UNIT)
    if setup.dummy_env:
        dropin = root / "etc/systemd/system/edgecore.service.d/10-metaserver-dummy.conf"
        dropin.parent.mkdir(parents=True, exist_ok=True)
        dropin.write_text(BLOG_DROPIN)
    (root / "etc/nv_tegra_release").write_text(NV_TEGRA_RELEASE)
    net = root / "sys/class/net"
    for name in ("lo", "eth0", "docker0"):
        (net / name).mkdir(parents=True, exist_ok=True)
    if setup.edgemesh:
        (net / "edgemesh0").mkdir()
    if setup.gate_works:
        (net / "edge-dummy0").mkdir()
    return root


# -- local HTTP servers ------------------------------------------------------------------------------------------------

Handler = Callable[[str, str, Dict[str, List[str]], bytes, Dict[str, str]], Tuple[int, str, bytes]]


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 answering with a function (method, path, query, body, headers)."""

    def __init__(self, handler: Handler) -> None:
        outer = self
        self.requests: List[Tuple[str, str, Dict[str, str], bytes]] = []

        class _H(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append((self.command, self.path, headers, body))
                status, ctype, payload = handler(self.command, parts.path, urllib.parse.parse_qs(parts.query),
                                                 body, headers)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _json(status: int, data: Any) -> Tuple[int, str, bytes]:
    return status, "application/json", json.dumps(data).encode()


def _status(code: int, reason: str, message: str) -> Tuple[int, str, bytes]:
    return _json(code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": message, "reason": reason, "code": code})


# (api prefix, plural, namespaced) per kind, as the Kubernetes API lays out its paths
KINDS = {
    "Node": ("/api/v1", "nodes", False),
    "Namespace": ("/api/v1", "namespaces", False),
    "Pod": ("/api/v1", "pods", True),
    "Service": ("/api/v1", "services", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "DaemonSet": ("/apis/apps/v1", "daemonsets", True),
    "ServiceMonitor": ("/apis/monitoring.coreos.com/v1", "servicemonitors", True),
    "PrometheusRule": ("/apis/monitoring.coreos.com/v1", "prometheusrules", True),
    "Prometheus": ("/apis/monitoring.coreos.com/v1", "prometheuses", True),
    "ClusterConfiguration": ("/apis/installer.kubesphere.io/v1alpha1", "clusterconfigurations", True),
    "APIService": ("/apis/apiregistration.k8s.io/v1", "apiservices", False),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
}


def _selector_matches(selector: str, labels: Dict[str, str]) -> bool:
    for term in filter(None, [t.strip() for t in _split_selector(selector)]):
        if " in (" in term:
            key, values = term.split(" in (", 1)
            if labels.get(key.strip()) not in [v.strip() for v in values.rstrip(")").split(",")]:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key) != value:
                return False
        elif term not in labels:
            return False
    return True


def _split_selector(selector: str) -> List[str]:
    out, depth, cur = [], 0, ""
    for ch in selector:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [*out, cur]


class FakeKubeAPI:
    """Answers like the Kubernetes API for the paths the doctor reads and patches."""

    def __init__(self) -> None:
        self.objects: Dict[Tuple[str, str, str, str], Obj] = {}  # (prefix, plural, namespace, name) -> object
        self.logs: Dict[Tuple[str, str, str, bool], str] = {}
        self.forbidden: List[str] = []  # path prefixes answered 403
        self.refuse_patch: List[str] = []  # path prefixes whose PATCH is answered 403
        self.unauthorized = False
        self.server = LocalServer(self.handle)

    def add(self, kind: str, obj: Obj) -> None:
        prefix, plural, namespaced = KINDS[kind]
        meta = obj["metadata"]
        self.objects[(prefix, plural, meta.get("namespace", "") if namespaced else "", meta["name"])] = obj

    def add_facts(self, facts: ClusterFacts) -> None:
        for node in facts.nodes or []:
            self.add("Node", node)
        for kind, obj in (("Namespace", facts.namespace_object), ("DaemonSet", facts.node_exporter_daemonset),
                          ("ConfigMap", facts.cloudcore_configmap), ("Service", facts.kubernetes_service),
                          ("DaemonSet", facts.jetson_daemonset), ("Service", facts.jetson_service),
                          ("ServiceMonitor", facts.jetson_servicemonitor),
                          ("PrometheusRule", facts.jetson_prometheusrule),
                          ("ClusterConfiguration", facts.cluster_configuration),
                          ("APIService", facts.metrics_apiservice), ("ClusterRole", facts.cloudcore_feature_role)):
            if obj is not None:
                self.add(kind, obj)
        for pod in (facts.node_exporter_pods or []) + (facts.edgemesh_pods or []) + (facts.jetson_pods or []):
            self.add("Pod", pod)
        for prom in facts.prometheuses or []:
            self.add("Prometheus", prom)
        for key, text in facts.pod_logs.items():
            parts = key.split("/")
            self.logs[(parts[0], parts[1], parts[2], len(parts) == 4)] = text

    def get(self, kind: str, namespace: str, name: str) -> Obj:
        prefix, plural, namespaced = KINDS[kind]
        return self.objects[(prefix, plural, namespace if namespaced else "", name)]

    def handle(self, method: str, path: str, query: Dict[str, List[str]], body: bytes,
               headers: Dict[str, str]) -> Tuple[int, str, bytes]:
        if self.unauthorized:
            return _status(401, "Unauthorized", "Unauthorized")
        for prefix in self.forbidden:
            if path.startswith(prefix):
                return _status(403, "Forbidden", f'{path} is forbidden: User "doctor" cannot get this resource')
        for prefix in self.refuse_patch:
            if method == "PATCH" and path.startswith(prefix):
                return _status(403, "Forbidden", f'{path} is forbidden: User "doctor" cannot patch this resource')
        if path.endswith("/log"):
            parts = path.split("/")  # /api/v1/namespaces/NS/pods/POD/log
            previous = query.get("previous", ["false"])[0].lower() == "true"  # clients send true or True
            text = self.logs.get((parts[4], parts[6], query.get("container", [""])[0], previous))
            if text is None:
                return _status(400, "BadRequest", "previous terminated container not found")
            return 200, "text/plain", text.encode()
        for (prefix, plural, namespace, name), obj in self.objects.items():
            base = f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"
            if path == f"{base}/{name}":
                if method == "PATCH":
                    if headers.get("content-type") != "application/json-patch+json":
                        return _status(415, "UnsupportedMediaType", headers.get("content-type", ""))
                    patched = apply_patch(obj, json.loads(body))
                    self.objects[(prefix, plural, namespace, name)] = patched
                    return _json(200, patched)
                return _json(200, obj)
        for kind, (prefix, plural, namespaced) in KINDS.items():
            namespace = None
            if path == f"{prefix}/{plural}":
                namespace = ""
            elif namespaced and path.startswith(f"{prefix}/namespaces/") and path.endswith(f"/{plural}"):
                namespace = path[len(f"{prefix}/namespaces/"):-len(f"/{plural}")]
                if "/" in namespace:
                    continue
            if namespace is None:
                continue
            selector = query.get("labelSelector", [""])[0]
            items = [copy.deepcopy(o) for (p, pl, ns, _), o in self.objects.items()
                     if p == prefix and pl == plural and (not namespace or ns == namespace)
                     and _selector_matches(selector, o["metadata"].get("labels", {}))]
            for item in items:  # list items carry no kind/apiVersion, like the real API
                item.pop("kind", None)
                item.pop("apiVersion", None)
            return _json(200, {"kind": f"{kind}List", "apiVersion": "v1", "metadata": {"resourceVersion": "99"},
                               "items": items})
        return _status(404, "NotFound", f"{path} not found")

    def kubeconfig(self, directory: Path) -> Path:
        path = directory / "kubeconfig"
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.server.url}}],
            "users": [{"name": "doctor", "user": {"token": "SECRET-TOKEN-DO-NOT-PRINT"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "doctor"}}]}))
        return path

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def fake_kube() -> Iterator[FakeKubeAPI]:
    api = FakeKubeAPI()
    try:
        yield api
    finally:
        api.close()


class FakePrometheus:
    """Answers like Prometheus 2.39's HTTP API (and KubeSphere's query endpoint) from recorded facts."""

    def __init__(self, facts: PrometheusFacts, ready: bool = True) -> None:
        self.facts = facts
        self.ready = ready
        self.server = LocalServer(self.handle)

    def handle(self, method: str, path: str, query: Dict[str, List[str]], body: bytes,
               headers: Dict[str, str]) -> Tuple[int, str, bytes]:
        if path == "/-/ready":
            return (200, "text/plain", b"Prometheus Server is Ready.\n") if self.ready else \
                (503, "text/plain", b"Service Unavailable")
        if path == "/api/v1/status/buildinfo":
            return _json(200, {"status": "success", "data": {"version": "2.39.1", "revision": "dcd6af9e"}})
        if path == "/api/v1/targets":
            return _json(200, {"status": "success", "data": {"activeTargets": self.facts.targets or [],
                                                              "droppedTargets": []}})
        if path == "/api/v1/query":
            expr = query.get("query", [""])[0]
            return _json(200, {"status": "success", "data": {"resultType": "vector",
                                                              "result": self.facts.queries.get(expr, [])}})
        if path == "/api/v1/write" and method == "POST":
            if self.facts.remote_write_status == 404:
                return 404, "text/plain", (b"remote write receiver needs to be enabled with "
                                           b"--web.enable-remote-write-receiver\n")
            return 400, "text/plain", b"snappy: corrupt input\n"
        if path == "/kapis/monitoring.kubesphere.io/v1alpha3/targets/query":
            if headers.get("authorization") != "Bearer ks-token":
                return 401, "text/plain", b"Unauthorized"
            expr = query.get("expr", [""])[0]
            result = [{"metric": {}, "value": [NOW, "1"]}] if expr == "vector(1)" else self.facts.queries.get(expr, [])
            return _json(200, {"data": {"resultType": "vector", "result": result}})
        return 404, "text/plain", b"404 page not found\n"

    def close(self) -> None:
        self.server.close()


def run_doctor(argv: List[str]) -> Tuple[int, str]:
    """`jetson-exporter doctor ARGV` in-process: (exit code, stdout)."""
    import io

    from jetson_exporter.doctor.cli import main

    out = io.StringIO()
    code = main(argv, stdout=out)
    return code, out.getvalue()


def ids_of(findings: List[Any], severities: Tuple[str, ...] = ("warn", "error", "skip")) -> List[str]:
    return sorted({f.id for f in findings if f.severity in severities})


@pytest.fixture(autouse=True)
def _no_kube_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never see the developer's kubeconfig or an in-cluster environment."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    os.environ.pop("KUBERNETES_SERVICE_PORT", None)


@pytest.fixture
def kit() -> Any:
    """This module: the builders above, for tests (pytest's importlib mode cannot import conftest)."""
    import sys

    return sys.modules[__name__]

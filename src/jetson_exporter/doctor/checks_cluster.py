"""Cluster checks (C1-C13 of KUBEEDGE.md §6): pure functions from ClusterFacts to findings."""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from jetson_exporter.deploy.conventions import (
    EDGE_ROLE_LABEL,
    JOB,
    NAME,
    NODE_LABEL_KEY,
    NODE_LABEL_VALUE,
    PORT,
    PORT_NAME,
    PRESETS,
    SELECTOR_LABELS,
)
from jetson_exporter.doctor import advice
from jetson_exporter.doctor.facts import ClusterFacts, Obj, PrometheusFacts, log_key
from jetson_exporter.doctor.kube import (
    Version,
    as_dict,
    as_list,
    container_state,
    container_statuses,
    describe_pod_state,
    dig,
    format_version,
    is_edge,
    json_pointer,
    kubeedge_version_of,
    label_selector_matches,
    labels_of,
    last_termination,
    looks_like_jetson,
    name_of,
    namespace_of,
    pod_healthy,
    pods_on,
    ref,
    runs_kubeedge,
    scheduling_blockers,
)
from jetson_exporter.doctor.model import ERROR, INFO, OK, SKIP, WARN, Finding, Fix, ObjectPatch
from jetson_exporter.doctor.yamlparse import parse_yaml

NODE_EXPORTER_JOB = "node-exporter"
RBAC_PROXY = "kube-rbac-proxy"
HOSTNET_DNS = "ClusterFirstWithHostNet"
REMOTE_WRITE_FEATURE = "remote-write-receiver"

# Log lines of kube-rbac-proxy (client-go) and what they mean.
_MUST_BE_DEFINED = re.compile(r"KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined")
_DNS_FAILURE = re.compile(r"lookup \S+ on \S+: (no such host|server misbehaving|i/o timeout)|no such host")
_DIAL_FAILURE = re.compile(r"dial tcp \S*: (connect: connection refused|i/o timeout|connect: no route to host)"
                           r"|context deadline exceeded")
_AUTH_FAILURE = re.compile(r"Unauthorized|x509: |certificate signed by unknown authority")


def promql_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def console_queries(node: str, jetson: bool, node_exporter_ds: str = NODE_EXPORTER_JOB) -> Dict[str, str]:
    """What the KubeSphere console's node pages need for one node (KUBEEDGE.md §3.5), as PromQL."""
    n = promql_str(node)
    queries = {
        "up": f'up{{job="{NODE_EXPORTER_JOB}",instance={n}}}',
        "kube_pod_info": f'kube_pod_info{{node={n},created_by_kind="DaemonSet",'
                         f'created_by_name={promql_str(node_exporter_ds)}}}',
        "cpu_rule": f"node:node_cpu_utilisation:avg1m{{node={n}}}",
    }
    if jetson:
        queries["jetson_up"] = f'up{{job="{JOB}",instance={n}}}'
        queries["jetson_info"] = f"jetson_info{{instance={n}}}"
    return queries


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class ClusterView:
    """Facts plus what every check derives from them (edge nodes, versions, parsed cloudcore config)."""

    def __init__(self, facts: ClusterFacts, only_nodes: Sequence[str] = ()) -> None:
        self.facts = facts
        self.preset: Dict[str, Any] = dict(PRESETS.get(facts.preset, PRESETS["kubesphere"]))
        nodes = [n for n in facts.nodes or [] if isinstance(n, dict)]
        self.all_nodes = nodes
        self.only = set(only_nodes)
        picked = [n for n in nodes if not self.only or name_of(n) in self.only]
        self.nodes = picked
        self.edge_nodes = [n for n in picked if is_edge(n)]
        self.kubeedge_nodes = [n for n in picked if runs_kubeedge(n)]
        self.jetson_nodes = [n for n in picked if labels_of(n).get(NODE_LABEL_KEY) == NODE_LABEL_VALUE]
        self.cloudcore: Optional[Dict[str, Any]] = None
        self.cloudcore_problem = self._parse_cloudcore()

    @property
    def jetsons_expected(self) -> bool:
        """Jetson nodes are labelled, or L4T kernels show there are some to label."""
        return bool(self.jetson_nodes) or any(looks_like_jetson(n) for n in self.nodes)

    @property
    def gate_route_everywhere(self) -> bool:
        """Every edge node can use the 1.17 InClusterConfig route (cloud gate on, all nodes 1.17+)."""
        return bool(self.cloud_gate) and all(advice.band(v) == ">=1.17" for _, v in self.edge_versions())

    def missing(self, *names: str) -> Optional[str]:
        for name in names:
            if name in self.facts.errors:
                return self.facts.errors[name]
        return None

    def version(self, node: Obj) -> Optional[Version]:
        return kubeedge_version_of(node)

    def edge_versions(self) -> List[Tuple[str, Optional[Version]]]:
        return [(name_of(n), kubeedge_version_of(n)) for n in self.edge_nodes]

    @property
    def cloud_gate(self) -> Optional[bool]:
        if self.cloudcore is None:
            return None
        return dig(self.cloudcore, "featureGates", "requireAuthorization") is True

    def _parse_cloudcore(self) -> Optional[str]:
        where = f"configmap {advice.CLOUDCORE_NAMESPACE}/{advice.CLOUDCORE_CONFIGMAP}"
        if "cloudcore_configmap" in self.facts.errors:
            return self.facts.errors["cloudcore_configmap"]
        cm = self.facts.cloudcore_configmap
        if cm is None:
            return f"{where} not found (cloudcore installed another way? KubeSphere and the KubeEdge chart create it)"
        data = as_dict(cm.get("data"))
        if advice.CLOUDCORE_KEY not in data:
            keys = ", ".join(sorted(data)) or "none"
            return f"{where} has no key {advice.CLOUDCORE_KEY} (keys: {keys})"
        parsed, problem = parse_yaml(str(data[advice.CLOUDCORE_KEY]), f"{advice.CLOUDCORE_KEY} in {where}")
        if problem:
            return problem
        if not isinstance(parsed, dict):
            return f"{advice.CLOUDCORE_KEY} in {where} is not a mapping"
        self.cloudcore = parsed
        return None


def _skip(check: str, subject: str, what: str, reason: str) -> Finding:
    return Finding(check, SKIP, subject, f"could not check {what}: {reason}")


def _node_subject(node: Obj) -> str:
    return f"node/{name_of(node)}"


# -- C1 edge nodes --------------------------------------------------------------------------------


def check_edge_nodes(view: ClusterView) -> List[Finding]:
    check = "C1.edge-nodes"
    reason = view.missing("nodes")
    if reason:
        return [_skip(check, "cluster", "the nodes", reason)]
    out: List[Finding] = []
    for node in view.kubeedge_nodes:
        if not is_edge(node):
            out.append(Finding(
                check, ERROR, _node_subject(node),
                "the node runs KubeEdge but lacks the edge role label, so edge workloads and "
                "node-exporter's edge handling skip it",
                evidence=f"kubeletVersion {dig(node, 'status', 'nodeInfo', 'kubeletVersion')}; "
                         f"no label {EDGE_ROLE_LABEL}",
                fix=Fix(f"label the node {EDGE_ROLE_LABEL}=",
                        commands=(f"kubectl label node {name_of(node)} {EDGE_ROLE_LABEL}=",),
                        patches=(_label_patch(node, "v1", "Node", {EDGE_ROLE_LABEL: ""}),))))
    for node in view.edge_nodes:
        version = view.version(node)
        kubelet = dig(node, "status", "nodeInfo", "kubeletVersion")
        if version is None:
            out.append(Finding(check, INFO, _node_subject(node),
                               "edge node, KubeEdge version not found in its kubeletVersion: fixes below "
                               "assume 1.15/1.16", evidence=f"kubeletVersion {kubelet}"))
        elif advice.band(version) == "<=1.14":
            out.append(Finding(check, WARN, _node_subject(node),
                               f"edge node on KubeEdge {format_version(version)}, which gives pods no "
                               "KUBERNETES_SERVICE_HOST/PORT at all (kubeedge#5152)",
                               evidence=f"kubeletVersion {kubelet}",
                               fix=Fix("upgrade edgecore to KubeEdge 1.15 or later")))
        else:
            out.append(Finding(check, OK, _node_subject(node),
                               f"edge node on KubeEdge {format_version(version)} (fixes for {advice.band(version)})",
                               evidence=f"kubeletVersion {kubelet}"))
    if not view.edge_nodes and not [n for n in view.kubeedge_nodes if not is_edge(n)]:
        out.append(Finding(check, WARN, "cluster", "no KubeEdge edge node found, so there is no edge to check",
                           evidence=f"{len(view.nodes)} nodes, none with label {EDGE_ROLE_LABEL} or a "
                                    "kubeedge kubeletVersion"))
    return out


# -- C2 edgeStream tunnel ---------------------------------------------------------------------------


def check_tunnel(view: ClusterView) -> List[Finding]:
    check = "C2.edge-stream"
    reason = view.missing("nodes")
    if reason:
        return [_skip(check, "cluster", "the edge tunnel", reason)]
    out = []
    for node in view.edge_nodes:
        port = dig(node, "status", "daemonEndpoints", "kubeletEndpoint", "Port")
        evidence = f"status.daemonEndpoints.kubeletEndpoint.Port: {port}"
        if port in (None, 0, 10250):
            out.append(Finding(
                check, WARN, _node_subject(node),
                "edgeStream never connected to cloudcore: no `kubectl logs`/`exec` and no edged metrics for "
                "this node (node-exporter and the Jetson exporter are scraped directly, not through it)",
                evidence=evidence,
                fix=Fix("on the node set modules.edgeStream.enable: true (server <cloudcore>:10004, or 30004 "
                        "behind KubeSphere's NodePorts) and restart edgecore; keep cloudcore's cloudStream on",
                        commands=(f"{advice.EDGE_DOCTOR_FIX}   # on {name_of(node)}",),
                        then=(advice.RESTART_EDGECORE,))))
        else:
            out.append(Finding(check, OK, _node_subject(node), "edgeStream tunnel connected", evidence=evidence))
    return out


# -- C3 cloudcore ---------------------------------------------------------------------------------------


def check_cloudcore(view: ClusterView) -> List[Finding]:
    subject = f"configmap/{advice.CLOUDCORE_NAMESPACE}/{advice.CLOUDCORE_CONFIGMAP}"
    if not view.edge_nodes and not view.kubeedge_nodes:
        return []
    if view.cloudcore_problem:
        return [_skip("C3.cloudcore", subject, "cloudcore's settings", view.cloudcore_problem)]
    cfg = view.cloudcore or {}
    out: List[Finding] = []

    dynamic = dig(cfg, "modules", "dynamicController", "enable")
    if dynamic is True:
        out.append(Finding("C3.dynamic-controller", OK, subject, "dynamicController is on",
                           evidence="modules.dynamicController.enable: true"))
    else:
        out.append(Finding(
            "C3.dynamic-controller", ERROR, subject,
            "cloudcore's dynamicController is off, so the edge metaServer cannot list or watch and "
            "EdgeMesh and in-cluster clients on the edge get nothing",
            evidence=f"modules.dynamicController.enable: {_compact(dynamic)}",
            fix=advice.cloudcore_edit_fix(("modules", "dynamicController", "enable"), True,
                                          "set modules.dynamicController.enable: true and restart cloudcore")))

    stream = dig(cfg, "modules", "cloudStream", "enable")
    if stream is True:
        out.append(Finding("C3.cloud-stream", OK, subject, "cloudStream is on",
                           evidence="modules.cloudStream.enable: true"))
    else:
        out.append(Finding(
            "C3.cloud-stream", WARN, subject,
            "cloudcore's cloudStream is off, so edge nodes have no log/exec/edged-metrics tunnel",
            evidence=f"modules.cloudStream.enable: {_compact(stream)}",
            fix=advice.cloudcore_edit_fix(("modules", "cloudStream", "enable"), True,
                                          "set modules.cloudStream.enable: true and restart cloudcore")))

    addresses = dig(cfg, "modules", "cloudHub", "advertiseAddress")
    good = [a for a in as_list(addresses) if isinstance(a, str) and a.strip()]
    if good and len(good) == len(as_list(addresses)):
        out.append(Finding("C3.advertise-address", OK, subject, f"cloudHub advertises {', '.join(good)}",
                           evidence=f"modules.cloudHub.advertiseAddress: {_compact(addresses)}"))
    else:
        out.append(Finding(
            "C3.advertise-address", ERROR, subject,
            "cloudHub.advertiseAddress is empty or has an empty entry, which makes cloudcore exit at start "
            "(KubeSphere's sample ships [\"\"])",
            evidence=f"modules.cloudHub.advertiseAddress: {_compact(addresses)}",
            fix=Fix("set the address edge nodes reach cloudcore on (ClusterConfiguration "
                    "edgeruntime.kubeedge.cloudCore.cloudHub.advertiseAddress in KubeSphere)",
                    commands=("kubectl -n kubesphere-system edit clusterconfiguration ks-installer",
                              f"kubectl -n {advice.CLOUDCORE_NAMESPACE} edit configmap "
                              f"{advice.CLOUDCORE_CONFIGMAP}   # modules.cloudHub.advertiseAddress: [<IP>]"),
                    then=(advice.RESTART_CLOUDCORE,))))

    out.extend(_check_gate(view, subject))
    return out


def _check_gate(view: ClusterView, subject: str) -> List[Finding]:
    check = "C3.require-authorization"
    gate = view.cloud_gate
    versions = view.edge_versions()
    new = [n for n, v in versions if advice.band(v) == ">=1.17"]
    old = [n for n, v in versions if advice.band(v) in ("<=1.14", "1.15-1.16")]
    evidence = f"featureGates.requireAuthorization: {_compact(gate)}"
    out: List[Finding] = []
    if gate:
        if old:
            out.append(Finding(check, WARN, subject,
                               "the requireAuthorization gate is on, but these edge nodes run KubeEdge older than "
                               f"1.17, which ignores it: {', '.join(old)}", evidence=evidence,
                               fix=Fix("upgrade those nodes to 1.17+, or give them METASERVER_DUMMY_* (E4)")))
        else:
            out.append(Finding(check, OK, subject, "requireAuthorization gate on (every edge node must have it "
                               "on too: `doctor --edge` checks E5 there)", evidence=evidence))
        out.extend(_check_feature_role(view))
    else:
        text = "requireAuthorization gate off: edge pods get the API address only from METASERVER_DUMMY_* (E4)"
        if new:
            text += f"; 1.17+ nodes ({', '.join(new)}) could use the gate on both sides instead"
        out.append(Finding(check, OK if not new else INFO, subject, text, evidence=evidence))
    return out


def _check_feature_role(view: ClusterView) -> List[Finding]:
    check = "C3.cloudcore-rbac"
    subject = f"clusterrole/{advice.CLOUDCORE_FEATURE_ROLE}"
    log_line = next((line for line in (view.facts.cloudcore_logs or "").splitlines()
                     if 'cannot list resource "serviceaccounts"' in line), None)
    fix = Fix(f"apply the chart's {advice.CLOUDCORE_FEATURE_ROLE} ClusterRole and restart cloudcore",
              commands=(f"kubectl apply -f - <<EOF\n{advice.cloudcore_feature_role_yaml()}EOF",),
              then=(advice.RESTART_CLOUDCORE,))
    if log_line:
        return [Finding(check, ERROR, subject, "cloudcore lacks the RBAC the requireAuthorization gate needs",
                        evidence=log_line.strip(), fix=fix)]
    reason = view.missing("cloudcore_feature_role")
    if reason:
        return [_skip(check, subject, "cloudcore's gate RBAC", reason)]
    if view.facts.cloudcore_feature_role is None:
        return [Finding(check, ERROR, subject, "the requireAuthorization gate is on but the "
                        f"{advice.CLOUDCORE_FEATURE_ROLE} ClusterRole does not exist, so cloudcore cannot list "
                        "serviceaccounts", evidence=f"clusterrole {advice.CLOUDCORE_FEATURE_ROLE}: not found",
                        fix=fix)]
    return [Finding(check, OK, subject, f"{advice.CLOUDCORE_FEATURE_ROLE} ClusterRole present")]


# -- C4 node-exporter scheduling ----------------------------------------------------------------------------

_REQUIRED = ("spec", "template", "spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution")


def edge_affinity_patch(ds: Obj) -> Optional[Tuple[Tuple[Dict[str, Any], ...], str]]:
    """JSON patch removing the `edge DoesNotExist` term that keeps a DaemonSet off edge nodes."""
    terms = as_list(dig(ds, *_REQUIRED, "nodeSelectorTerms"))
    for i, term in enumerate(terms):
        exprs = as_list(as_dict(term).get("matchExpressions"))
        for j, expr in enumerate(exprs):
            if as_dict(expr).get("key") == EDGE_ROLE_LABEL and as_dict(expr).get("operator") == "DoesNotExist":
                field = f"{'.'.join(_REQUIRED)}.nodeSelectorTerms[{i}].matchExpressions[{j}]"
                evidence = f"{field}: {_compact(expr)}"
                if len(exprs) > 1 or as_dict(term).get("matchFields"):
                    path = json_pointer(*_REQUIRED, "nodeSelectorTerms", i, "matchExpressions", j)
                    value: Any = expr
                elif len(terms) > 1:
                    path = json_pointer(*_REQUIRED, "nodeSelectorTerms", i)
                    value = term
                else:
                    path = json_pointer(*_REQUIRED)
                    value = dig(ds, *_REQUIRED)
                return ({"op": "test", "path": path, "value": value}, {"op": "remove", "path": path}), evidence
    return None


def check_node_exporter_scheduling(view: ClusterView) -> List[Finding]:
    if not view.edge_nodes:
        return []
    reason = view.missing("node_exporter_daemonset")
    if reason:
        return [_skip("C4.node-exporter-affinity", "daemonset/node-exporter", "node-exporter's scheduling", reason)]
    ds = view.facts.node_exporter_daemonset
    if ds is None:
        return [Finding("C4.node-exporter-affinity", ERROR, "daemonset/node-exporter",
                        f"no node-exporter DaemonSet in {view.preset['namespace']}: the cluster's monitoring is "
                        "not installed, so no node gets CPU or memory data",
                        fix=Fix("enable monitoring (KubeSphere: ClusterConfiguration spec.monitoring) or "
                                "install node-exporter"))]
    subject = f"daemonset/{ref(ds)}"
    out: List[Finding] = []
    found = edge_affinity_patch(ds)
    if found:
        ops, evidence = found
        out.append(Finding(
            "C4.node-exporter-affinity", ERROR, subject,
            "node-exporter's required node affinity excludes edge nodes (`node-role.kubernetes.io/edge "
            "DoesNotExist`, ks-installer PR #1295), so edge nodes get no CPU or memory data",
            evidence=evidence,
            fix=Fix("remove the edge DoesNotExist term from the DaemonSet's required node affinity",
                    patches=(ObjectPatch("apps/v1", "DaemonSet", namespace_of(ds), name_of(ds), ops),),
                    note=advice.KS_REAPPLY_NOTE)))
    else:
        out.append(Finding("C4.node-exporter-affinity", OK, subject, "no affinity term excludes edge nodes"))

    reason = view.missing("node_exporter_pods")
    pods = view.facts.node_exporter_pods or []
    template = as_dict(dig(ds, "spec", "template", "spec"))
    for node in view.edge_nodes:
        if reason:
            out.append(_skip("C4.node-exporter-scheduled", _node_subject(node), "node-exporter pods", reason))
            continue
        mine = pods_on(pods, name_of(node))
        if mine:
            out.append(Finding("C4.node-exporter-scheduled", OK, _node_subject(node),
                               f"node-exporter pod {name_of(mine[0])} is scheduled here"))
            continue
        blockers = scheduling_blockers(template, node)
        out.append(Finding(
            "C4.node-exporter-scheduled", ERROR, _node_subject(node),
            "no node-exporter pod runs on this edge node" + (" because of the DaemonSet's scheduling rules"
                                                              if blockers else ""),
            evidence="; ".join(blockers) or "DaemonSet allows the node; no pod created yet (node NotReady?)",
            fix=Fix("fix C4.node-exporter-affinity above" if found else "check `kubectl describe daemonset "
                    f"-n {namespace_of(ds)} {name_of(ds)}` events")))
    return out


# -- C5 kube-rbac-proxy and the other containers -------------------------------------------------------------


def _logs(view: ClusterView, pod: Obj, container: str) -> List[str]:
    lines: List[str] = []
    for previous in (True, False):
        text = view.facts.pod_logs.get(log_key(namespace_of(pod), name_of(pod), container, previous))
        if text:
            lines.extend(text.splitlines())
    return lines


def _first(lines: Sequence[str], pattern: re.Pattern[str]) -> Optional[str]:
    for line in reversed(lines):
        if pattern.search(line):
            return line.strip()
    return None


def _rbac_proxy_diagnosis(view: ClusterView, node: Obj, pod: Obj, status: Obj,
                          lines: List[str]) -> Optional[Finding]:
    subject = f"pod/{ref(pod)}"
    message = str(last_termination(status).get("message") or "")
    texts = [message, *lines] if message else lines
    version = view.version(node)
    hit = _first(texts, _MUST_BE_DEFINED)
    if hit:
        return Finding("C5.kube-rbac-proxy", ERROR, subject,
                       f"kube-rbac-proxy on {name_of(node)} crashes: the pod's KUBERNETES_SERVICE_HOST/PORT are "
                       f"empty on KubeEdge {format_version(version)}, so it cannot build its in-cluster config",
                       evidence=hit, fix=advice.service_host_fix(version))
    hit = _first(texts, _DNS_FAILURE)
    if hit:
        return Finding("C5.kube-rbac-proxy", ERROR, subject,
                       "kube-rbac-proxy cannot resolve the API server's name, so every scrape is refused",
                       evidence=hit,
                       fix=Fix("give the pod cluster DNS on the edge: dnsPolicy ClusterFirstWithHostNet (C6), "
                               f"EdgeMesh (C7) and clusterDNS {advice.EDGEMESH_DNS_IP} in edgecore (E3)"))
    hit = _first(texts, _DIAL_FAILURE)
    if hit:
        return Finding("C5.kube-rbac-proxy", ERROR, subject,
                       "kube-rbac-proxy cannot connect to the API address it was given, so TokenReview fails and "
                       "every scrape is refused", evidence=hit,
                       fix=Fix("make the address reachable from the edge: EdgeMesh proxying the `kubernetes` "
                               "Service (C7), cloudcore dynamicController (C3) and the edge metaServer (E3)"))
    hit = _first(texts, _AUTH_FAILURE)
    if hit:
        return Finding("C5.kube-rbac-proxy", ERROR, subject,
                       "kube-rbac-proxy reaches an API endpoint that rejects its token or certificate",
                       evidence=hit,
                       fix=Fix("with the 1.17 gate on: check kubeedge#5606/#6625 (token audience, second node); "
                               "otherwise point METASERVER_DUMMY_* at the real API through EdgeMesh (E4)"))
    return None


def check_node_exporter_containers(view: ClusterView) -> List[Finding]:
    check = "C5.kube-rbac-proxy"
    ds = view.facts.node_exporter_daemonset
    if not view.edge_nodes or ds is None or view.facts.node_exporter_pods is None:
        return []
    out: List[Finding] = []
    for node in view.edge_nodes:
        for pod in pods_on(view.facts.node_exporter_pods, name_of(node)):
            subject = f"pod/{ref(pod)}"
            statuses = container_statuses(pod)
            found: Optional[Finding] = None
            if RBAC_PROXY in statuses:
                found = _rbac_proxy_diagnosis(view, node, pod, statuses[RBAC_PROXY],
                                              _logs(view, pod, RBAC_PROXY))
            if found is None and not pod_healthy(pod):
                broken = [(n, s) for n, s in statuses.items()
                          if container_state(s)[0] != "running" or s.get("ready") is not True]
                evidence = describe_pod_state(pod)
                if broken:
                    name, status = broken[0]
                    tail = _logs(view, pod, name)
                    term = last_termination(status)
                    if term.get("message") or tail:
                        evidence += f"; {name}: " + str(term.get("message") or tail[-1]).strip()
                found = Finding(check, ERROR, subject,
                                f"node-exporter's pod on {name_of(node)} is not running and ready", evidence=evidence,
                                fix=Fix(f"kubectl -n {namespace_of(pod)} describe pod {name_of(pod)}; "
                                        "see the container's logs"))
            out.append(found or Finding(check, OK, subject, f"node-exporter's pod runs and is ready on {name_of(node)}",
                                        evidence=describe_pod_state(pod)))
    return out


# -- C6 dnsPolicy of hostNetwork DaemonSets -----------------------------------------------------------------


def check_dns_policy(view: ClusterView) -> List[Finding]:
    check = "C6.dns-policy"
    out: List[Finding] = []
    if not view.edge_nodes:
        return out
    for ds in (view.facts.node_exporter_daemonset, view.facts.jetson_daemonset):
        if ds is None:
            continue
        spec = as_dict(dig(ds, "spec", "template", "spec"))
        if spec.get("hostNetwork") is not True:
            continue
        policy = spec.get("dnsPolicy")
        subject = f"daemonset/{ref(ds)}"
        evidence = f"spec.template.spec.hostNetwork: true, dnsPolicy: {policy or '<unset: ClusterFirst>'}"
        if policy == HOSTNET_DNS:
            out.append(Finding(check, OK, subject, f"hostNetwork pods use {HOSTNET_DNS}", evidence=evidence))
            continue
        patch = ObjectPatch("apps/v1", "DaemonSet", namespace_of(ds), name_of(ds),
                            ({"op": "add", "path": "/spec/template/spec/dnsPolicy", "value": HOSTNET_DNS},))
        note = advice.KS_REAPPLY_NOTE if name_of(ds) != NAME else ""
        # With the 1.17 gate on everywhere, kube-rbac-proxy dials 169.254.30.10 and needs no DNS.
        needed = name_of(ds) == NAME or not view.gate_route_everywhere
        out.append(Finding(
            check, WARN if needed else INFO, subject,
            "a hostNetwork pod without ClusterFirstWithHostNet gets the host's resolv.conf (127.0.0.53 on "
            "Ubuntu/L4T), so it cannot resolve Service names through EdgeMesh (edgemesh#338)",
            evidence=evidence,
            fix=Fix(f"set spec.template.spec.dnsPolicy: {HOSTNET_DNS}", patches=(patch,), note=note)))
    return out


# -- C7 EdgeMesh ---------------------------------------------------------------------------------------------


def check_edgemesh(view: ClusterView) -> List[Finding]:
    if not view.edge_nodes:
        return []
    out: List[Finding] = []
    reason = view.missing("edgemesh_pods")
    for node in view.edge_nodes:
        if reason:
            out.append(_skip("C7.edgemesh-agent", _node_subject(node), "EdgeMesh", reason))
            continue
        agents = pods_on(view.facts.edgemesh_pods or [], name_of(node))
        running = [p for p in agents if dig(p, "status", "phase") == "Running"]
        version = view.version(node)
        if running:
            out.append(Finding("C7.edgemesh-agent", OK, _node_subject(node),
                               f"EdgeMesh agent {name_of(running[0])} runs here"))
            continue
        needed = advice.band(version) != ">=1.17" or not view.cloud_gate
        why = ("service DNS (169.254.96.16) and the ClusterIP proxy that the METASERVER_DUMMY_* route to "
               "kubernetes.default.svc needs" if needed else "service DNS and ClusterIP proxying on the edge")
        out.append(Finding(
            "C7.edgemesh-agent", WARN if needed else INFO, _node_subject(node),
            f"no running EdgeMesh agent on this edge node, so it has no {why}",
            evidence=(describe_pod_state(agents[0]) if agents else "no pod labelled kubeedge=edgemesh-agent here"),
            fix=Fix("install EdgeMesh (its prerequisites: C3 dynamicController, E3 metaServer and clusterDNS)",
                    commands=(advice.INSTALL_EDGEMESH,))))

    reason = view.missing("kubernetes_service")
    svc = view.facts.kubernetes_service
    check = "C7.kubernetes-service-label"
    if reason:
        out.append(_skip(check, "service/default/kubernetes", "the kubernetes Service", reason))
    elif svc is not None:
        labels = labels_of(svc)
        if advice.EDGEMESH_PROXY_LABEL in labels:
            key = advice.EDGEMESH_PROXY_LABEL
            patch = ObjectPatch("v1", "Service", "default", "kubernetes", (
                {"op": "test", "path": json_pointer("metadata", "labels", key), "value": labels[key]},
                {"op": "remove", "path": json_pointer("metadata", "labels", key)}))
            out.append(Finding(
                check, WARN, "service/default/kubernetes",
                "EdgeMesh ignores the `kubernetes` Service (the label the EdgeMesh guide adds), so "
                "kubernetes.default.svc from METASERVER_DUMMY_IP (E4) resolves to nothing on the edge (inference, "
                "KUBEEDGE.md §2.3)", evidence=f"metadata.labels.{key}: {_compact(labels[key])}",
                fix=Fix("remove the label (only when edge pods reach the API through EdgeMesh)",
                        commands=(f"kubectl label service kubernetes -n default {key}-",), patches=(patch,))))
        else:
            out.append(Finding(check, OK, "service/default/kubernetes",
                               "the `kubernetes` Service is proxied by EdgeMesh (no service-proxy-name label)"))
    return out


# -- C8 this project's objects ------------------------------------------------------------------------------------


def _label_patch(obj: Obj, api_version: str, kind: str, wanted: Dict[str, str]) -> ObjectPatch:
    labels = as_dict(dig(obj, "metadata", "labels"))
    if not labels and "labels" not in as_dict(obj.get("metadata")):
        ops: Tuple[Dict[str, Any], ...] = ({"op": "add", "path": "/metadata/labels", "value": dict(wanted)},)
    else:
        ops = tuple({"op": "add", "path": json_pointer("metadata", "labels", k), "value": v}
                    for k, v in wanted.items())
    return ObjectPatch(api_version, kind, namespace_of(obj), name_of(obj), ops)


def _apply_command(view: ClusterView) -> str:
    """The deploy issue's renderer, for the preset and namespace the doctor looked in."""
    preset = view.facts.preset
    namespace = view.facts.namespace
    extra = f" --namespace {namespace}" if namespace and namespace != view.preset.get("namespace") else ""
    return f"jetson-exporter manifests --preset {preset}{extra} | kubectl apply -f -"


def check_jetson_nodes(view: ClusterView) -> List[Finding]:
    check = "C8.node-label"
    reason = view.missing("nodes")
    if reason:
        return [_skip(check, "cluster", "Jetson node labels", reason)]
    out: List[Finding] = []
    for node in view.nodes:
        labelled = labels_of(node).get(NODE_LABEL_KEY) == NODE_LABEL_VALUE
        kernel = dig(node, "status", "nodeInfo", "kernelVersion")
        if labelled:
            out.append(Finding(check, OK, _node_subject(node), f"labelled {NODE_LABEL_KEY}={NODE_LABEL_VALUE}",
                               evidence=f"kernelVersion {kernel}"))
        elif looks_like_jetson(node):
            out.append(Finding(
                check, WARN, _node_subject(node),
                f"the node runs an L4T kernel but lacks {NODE_LABEL_KEY}={NODE_LABEL_VALUE}, so the Jetson "
                "exporter is not scheduled on it", evidence=f"kernelVersion {kernel}",
                fix=Fix(f"label the node {NODE_LABEL_KEY}={NODE_LABEL_VALUE}",
                        commands=(f"kubectl label node {name_of(node)} {NODE_LABEL_KEY}={NODE_LABEL_VALUE}",),
                        patches=(_label_patch(node, "v1", "Node", {NODE_LABEL_KEY: NODE_LABEL_VALUE}),))))
    if not out:
        out.append(Finding(check, INFO, "cluster", f"no node labelled {NODE_LABEL_KEY}={NODE_LABEL_VALUE} and no "
                           "L4T kernel seen: no Jetson to check"))
    return out


def _missing_object(view: ClusterView, check: str, kind: str, namespace: str, severity: str = ERROR) -> Finding:
    return Finding(check, severity, f"{kind.lower()}/{namespace}/{NAME}",
                   f"no {kind} {namespace}/{NAME}: render and apply this project's manifests",
                   fix=Fix("apply the rendered manifests (label the Jetsons first, C8.node-label)",
                           commands=(_apply_command(view),)))


def check_jetson_workload(view: ClusterView) -> List[Finding]:
    ns = str(view.preset["namespace"])
    if view.facts.namespace and view.facts.namespace != ns:
        ns = view.facts.namespace
    out: List[Finding] = []
    wanted = view.jetsons_expected
    reason = view.missing("jetson_daemonset")
    ds = view.facts.jetson_daemonset
    if reason:
        out.append(_skip("C8.daemonset", f"daemonset/{ns}/{NAME}", "the Jetson exporter DaemonSet", reason))
    elif ds is None:
        out.append(_missing_object(view, "C8.daemonset", "DaemonSet", ns, ERROR if wanted else INFO))
    else:
        out.append(Finding("C8.daemonset", OK, f"daemonset/{ref(ds)}", "Jetson exporter DaemonSet present",
                           evidence=f"nodeSelector {_compact(dig(ds, 'spec', 'template', 'spec', 'nodeSelector'))}"))
        out.extend(_check_jetson_pods(view, ds))
    out.extend(_check_service_and_monitor(view, ns, ds))
    return out


def _check_jetson_pods(view: ClusterView, ds: Obj) -> List[Finding]:
    check = "C8.scheduled"
    reason = view.missing("jetson_pods")
    out: List[Finding] = []
    template = as_dict(dig(ds, "spec", "template", "spec"))
    for node in view.jetson_nodes:
        if reason:
            out.append(_skip(check, _node_subject(node), "Jetson exporter pods", reason))
            continue
        mine = pods_on(view.facts.jetson_pods or [], name_of(node))
        if not mine:
            blockers = scheduling_blockers(template, node)
            out.append(Finding(check, ERROR, _node_subject(node), "no Jetson exporter pod on this Jetson node",
                               evidence="; ".join(blockers) or "DaemonSet allows the node; no pod created yet",
                               fix=Fix("make the DaemonSet's nodeSelector/tolerations match the node "
                                       "(re-render the manifests)", commands=(_apply_command(view),))))
        elif not pod_healthy(mine[0]):
            pod = mine[0]
            evidence = describe_pod_state(pod)
            for name, status in container_statuses(pod).items():
                term = last_termination(status)
                tail = _logs(view, pod, name)
                if term.get("message") or tail:
                    evidence += f"; {name}: " + str(term.get("message") or tail[-1]).strip()
                    break
            out.append(Finding(check, ERROR, f"pod/{ref(pod)}", f"the Jetson exporter on {name_of(node)} is not "
                               "running and ready", evidence=evidence,
                               fix=Fix(f"kubectl -n {namespace_of(pod)} logs {name_of(pod)}")))
        else:
            out.append(Finding(check, OK, f"pod/{ref(mine[0])}", f"Jetson exporter runs on {name_of(node)}",
                               evidence=describe_pod_state(mine[0])))
    return out


def _service_port_names(svc: Obj) -> Dict[str, Obj]:
    return {str(p.get("name")): p for p in as_list(dig(svc, "spec", "ports")) if isinstance(p, dict)}


def _check_service_and_monitor(view: ClusterView, ns: str, ds: Optional[Obj]) -> List[Finding]:
    out: List[Finding] = []
    wanted = view.jetsons_expected
    svc = view.facts.jetson_service
    reason = view.missing("jetson_service")
    if reason:
        out.append(_skip("C8.service", f"service/{ns}/{NAME}", "the Jetson exporter Service", reason))
    elif svc is None:
        out.append(_missing_object(view, "C8.service", "Service", ns, ERROR if wanted else INFO))
    else:
        out.append(_check_service(view, svc, ds))

    sm = view.facts.jetson_servicemonitor
    reason = view.missing("jetson_servicemonitor")
    if reason:
        out.append(_skip("C8.servicemonitor", f"servicemonitor/{ns}/{NAME}", "the ServiceMonitor", reason))
    elif sm is None:
        out.append(_missing_object(view, "C8.servicemonitor", "ServiceMonitor", ns, ERROR if wanted else INFO))
    else:
        out.append(_check_monitor(view, sm, svc))
        out.append(_check_selected(view, sm, "C8.servicemonitor-selected", "serviceMonitorSelector",
                                   "serviceMonitorNamespaceSelector", "ServiceMonitor"))

    rule = view.facts.jetson_prometheusrule
    reason = view.missing("jetson_prometheusrule")
    if reason:
        out.append(_skip("C8.prometheusrule", f"prometheusrule/{ns}/{NAME}", "the PrometheusRule", reason))
    elif rule is None:
        out.append(_missing_object(view, "C8.prometheusrule", "PrometheusRule", ns, WARN if wanted else INFO))
    else:
        out.append(_check_selected(view, rule, "C8.prometheusrule", "ruleSelector", "ruleNamespaceSelector",
                                   "PrometheusRule"))
    return out


def _check_service(view: ClusterView, svc: Obj, ds: Optional[Obj]) -> Finding:
    check, subject = "C8.service", f"service/{ref(svc)}"
    selector = {str(k): str(v) for k, v in as_dict(dig(svc, "spec", "selector")).items()}
    ports = _service_port_names(svc)
    if ds is not None:
        pod_labels = {str(k): str(v) for k, v in as_dict(dig(ds, "spec", "template", "metadata", "labels")).items()}
        if not selector or any(pod_labels.get(k) != v for k, v in selector.items()):
            fixable = all(pod_labels.get(k) == v for k, v in SELECTOR_LABELS.items())
            return Finding(check, ERROR, subject, "the Service's selector does not match the DaemonSet's pods, so "
                           "it has no endpoints and Prometheus discovers no target",
                           evidence=f"spec.selector {_compact(selector)}; pod labels {_compact(pod_labels)}",
                           fix=Fix(f"select the pods by {_compact(SELECTOR_LABELS)}", patches=(
                               ObjectPatch("v1", "Service", namespace_of(svc), name_of(svc),
                                           ({"op": "add", "path": "/spec/selector",
                                             "value": dict(SELECTOR_LABELS)},)),) if fixable else ()))
    if PORT_NAME not in ports:
        return Finding(check, ERROR, subject, f"the Service has no port named `{PORT_NAME}`, which the "
                       "ServiceMonitor scrapes by name", evidence=f"spec.ports {_compact(list(ports.values()))}",
                       fix=Fix("re-render and apply the manifests", commands=(_apply_command(view),)))
    port = ports[PORT_NAME]
    return Finding(check, OK, subject, f"Service selects the exporter pods on port {PORT_NAME}",
                   evidence=f"port {port.get('port')} -> {port.get('targetPort', port.get('port'))}")


def _check_monitor(view: ClusterView, sm: Obj, svc: Optional[Obj]) -> Finding:
    check, subject = "C8.servicemonitor", f"servicemonitor/{ref(sm)}"
    endpoints = [as_dict(e) for e in as_list(dig(sm, "spec", "endpoints"))]
    if svc is None:
        return Finding(check, ERROR, subject, "the ServiceMonitor has no Service to select (see C8.service)")
    selector = as_dict(dig(sm, "spec", "selector"))
    svc_labels = labels_of(svc)
    if not label_selector_matches(selector, svc_labels) or not selector:
        fixable = all(svc_labels.get(k) == v for k, v in SELECTOR_LABELS.items())
        return Finding(check, ERROR, subject, "the ServiceMonitor's selector does not match the Service's labels",
                       evidence=f"spec.selector {_compact(selector)}; Service labels {_compact(svc_labels)}",
                       fix=Fix(f"select the Service by {_compact(SELECTOR_LABELS)}", patches=(
                           ObjectPatch("monitoring.coreos.com/v1", "ServiceMonitor", namespace_of(sm), name_of(sm),
                                       ({"op": "add", "path": "/spec/selector",
                                         "value": {"matchLabels": dict(SELECTOR_LABELS)}},)),) if fixable else ()))
    ns_sel = as_dict(dig(sm, "spec", "namespaceSelector"))
    if ns_sel and not ns_sel.get("any") and namespace_of(svc) not in as_list(ns_sel.get("matchNames")):
        return Finding(check, ERROR, subject, "the ServiceMonitor's namespaceSelector leaves out the Service's "
                       "namespace", evidence=f"spec.namespaceSelector {_compact(ns_sel)}",
                       fix=Fix("re-render and apply the manifests", commands=(_apply_command(view),)))
    names = _service_port_names(svc)
    for i, endpoint in enumerate(endpoints):
        port = endpoint.get("port")
        if port is not None and port not in names:
            target = PORT_NAME if PORT_NAME in names else next(
                (n for n, p in names.items() if p.get("port") == PORT), None)
            patches: Tuple[ObjectPatch, ...] = ()
            if target:
                path = json_pointer("spec", "endpoints", i, "port")
                patches = (ObjectPatch("monitoring.coreos.com/v1", "ServiceMonitor", namespace_of(sm), name_of(sm),
                                       ({"op": "test", "path": path, "value": port},
                                        {"op": "replace", "path": path, "value": target})),)
            return Finding(check, ERROR, subject, "the ServiceMonitor's endpoint port is not the name of a "
                           "Service port (it must be the port's name, not its number)",
                           evidence=f"spec.endpoints[{i}].port: {_compact(port)}; Service port names "
                                    f"{_compact(sorted(names))}",
                           fix=Fix(f"set spec.endpoints[{i}].port: {target or PORT_NAME}", patches=patches))
    if not endpoints:
        return Finding(check, ERROR, subject, "the ServiceMonitor has no endpoints",
                       fix=Fix("re-render and apply the manifests", commands=(_apply_command(view),)))
    return Finding(check, OK, subject, "ServiceMonitor selects the Service and scrapes it by port name",
                   evidence=f"endpoints {_compact([e.get('port') for e in endpoints])}")


def _pick_prometheus(view: ClusterView) -> List[Obj]:
    proms = [p for p in view.facts.prometheuses or [] if isinstance(p, dict)]
    preferred = [p for p in proms if name_of(p) == view.preset.get("prometheus")]
    return preferred + [p for p in proms if p not in preferred]


def _namespace_labels(view: ClusterView, ns: str) -> Dict[str, str]:
    labels = {"kubernetes.io/metadata.name": ns}
    if view.facts.namespace_object is not None and name_of(view.facts.namespace_object) == ns:
        labels.update(labels_of(view.facts.namespace_object))
    return labels


def _selection(prom: Obj, obj: Obj, sel_field: str, ns_field: str, ns_labels: Dict[str, str]) -> Optional[str]:
    """None when the Prometheus selects the object, else why not."""
    spec = as_dict(prom.get("spec"))
    selector = spec.get(sel_field)
    if selector is None:
        return f"{sel_field} is null (selects nothing)"
    if not label_selector_matches(as_dict(selector), labels_of(obj)):
        return f"{sel_field} {_compact(selector)} does not match labels {_compact(labels_of(obj))}"
    ns_selector = spec.get(ns_field)
    if ns_selector is None:
        if namespace_of(obj) != namespace_of(prom):
            return f"{ns_field} is null (only its own namespace {namespace_of(prom)})"
    elif not label_selector_matches(as_dict(ns_selector), ns_labels):
        return f"{ns_field} {_compact(ns_selector)} does not match namespace {namespace_of(obj)}"
    return None


def _check_selected(view: ClusterView, obj: Obj, check: str, sel_field: str, ns_field: str, kind: str) -> Finding:
    subject = f"{kind.lower()}/{ref(obj)}"
    reason = view.missing("prometheuses")
    if reason:
        return _skip(check, subject, "which Prometheus selects it", reason)
    proms = _pick_prometheus(view)
    if not proms:
        return Finding(check, WARN, subject, "no Prometheus custom resource found, so nothing loads this "
                       f"{kind} (is prometheus-operator installed?)")
    ns_labels = _namespace_labels(view, namespace_of(obj))
    for prom in proms:
        if _selection(prom, obj, sel_field, ns_field, ns_labels) is None:
            return Finding(check, OK, subject, f"selected by Prometheus {ref(prom)}",
                           evidence=f"{sel_field} {_compact(dig(prom, 'spec', sel_field))}")
    prom = proms[0]
    why = _selection(prom, obj, sel_field, ns_field, ns_labels) or ""
    selector = as_dict(dig(prom, "spec", sel_field))
    wanted = {str(k): str(v) for k, v in as_dict(selector.get("matchLabels")).items()}
    patches: Tuple[ObjectPatch, ...] = ()
    if wanted and not selector.get("matchExpressions") and why.startswith(sel_field + " "):
        patches = (_label_patch(obj, "monitoring.coreos.com/v1", kind, wanted),)
    return Finding(check, ERROR, subject, f"Prometheus {ref(prom)} does not select this {kind}, so it is never "
                   "loaded" + (" (KubeSphere's needs both prometheus: k8s and role: alert-rules)"
                               if kind == "PrometheusRule" and view.facts.preset == "kubesphere" else ""),
                   evidence=why,
                   fix=Fix(f"add the labels {_compact(wanted)}" if wanted else "change the selector or namespace",
                           patches=patches))


# -- C9 / C10 / C12 / C13: what Prometheus sees ----------------------------------------------------------------------


def _prom_not_checked(check: str) -> Finding:
    return Finding(check, INFO, "prometheus", "not checked: pass --prometheus URL (or --kubesphere URL with "
                   "--token-file) to see what Prometheus scrapes")


def check_prometheus(view: ClusterView) -> List[Finding]:
    prom = view.facts.prometheus
    if prom is None:
        return [_prom_not_checked("C13.prometheus")]
    if prom.ready:
        version = f" (Prometheus {prom.version})" if prom.version else ""
        return [Finding("C13.prometheus", OK, prom.url, f"Prometheus answers{version}", evidence=f"via {prom.via}")]
    reason = prom.errors.get("ready", "no answer")
    return [Finding("C13.prometheus", ERROR, prom.url or "prometheus",
                    "the Prometheus API does not answer, so scrape health and console data cannot be checked",
                    evidence=reason,
                    fix=Fix("check the URL (KubeSphere: NodePort to prometheus-k8s:9090, or "
                            "ks-apiserver with a token), or reach it with `kubectl -n kubesphere-monitoring-system "
                            "port-forward svc/prometheus-k8s 9090`"))]


def classify_scrape_error(error: str) -> Tuple[str, Fix]:
    low = error.lower()
    if re.search(r"\b40[13]\b", error) or "unauthorized" in low or "forbidden" in low:
        return ("the exporter refuses Prometheus' token: kube-rbac-proxy cannot reach the API server for "
                "TokenReview", Fix("fix C5.kube-rbac-proxy (API access from the edge pod)"))
    if any(s in low for s in ("context deadline exceeded", "no route to host", "i/o timeout",
                              "network is unreachable")):
        return ("Prometheus has no network path to the edge node (NAT, firewall, no route): KUBEEDGE.md §4",
                Fix("give Prometheus a route (VPN/overlay such as WireGuard, Tailscale, EdgeMesh CNI), or push "
                    "from the edge with a Prometheus agent remote-writing to the cloud (needs C12)"))
    if "connection refused" in low:
        return ("nothing listens on the scrape port on the node: the pod is not running or listens elsewhere",
                Fix("fix the pod (C4/C5 for node-exporter, C8 for the Jetson exporter)"))
    return ("the scrape fails", Fix("see the error; `curl` the scrapeUrl from a pod in the cloud"))


def check_scrapes(view: ClusterView) -> List[Finding]:
    check = "C9.scrape"
    prom = view.facts.prometheus
    if prom is None:
        return [_prom_not_checked(check)] if view.edge_nodes else []
    if not prom.ready:
        return [_skip(check, "prometheus", "scrape health", "Prometheus does not answer (C13)")]
    out: List[Finding] = []
    jetson_names = {name_of(n) for n in view.jetson_nodes}
    for node in view.edge_nodes:
        jobs = [NODE_EXPORTER_JOB] + ([JOB] if name_of(node) in jetson_names else [])
        for job in jobs:
            out.append(_check_target(view, prom, name_of(node), job))
    return out


def _check_target(view: ClusterView, prom: PrometheusFacts, node: str, job: str) -> Finding:
    check = "C9.scrape"
    subject = f"node/{node} job={job}"
    if prom.targets is None:
        # ks-apiserver's query endpoint has no targets API: fall back to `up`.
        query = console_queries(node, job == JOB)["jetson_up" if job == JOB else "up"]
        if f"query:{query}" in prom.errors:
            return _skip(check, subject, "scrape health", prom.errors[f"query:{query}"])
        if "targets" in prom.errors and query not in prom.queries:
            return _skip(check, subject, "scrape health", prom.errors["targets"])
        result = prom.queries.get(query)
        if not result:
            return Finding(check, ERROR, subject, f"Prometheus has no {job} target for this node",
                           evidence=f"{query}: no series",
                           fix=Fix("fix C4 (node-exporter)" if job == NODE_EXPORTER_JOB else "fix C8"))
        sample = as_list(result[0].get("value"))
        if sample and str(sample[-1]) == "1":
            return Finding(check, OK, subject, "target up", evidence=f"{query} = 1")
        return Finding(check, ERROR, subject, "target down (the targets API would show why: use --prometheus)",
                       evidence=f"{query} = 0")
    matches = [t for t in prom.targets if as_dict(t.get("labels")).get("job") == job
               and as_dict(t.get("labels")).get("instance") == node]
    if not matches:
        return Finding(check, ERROR, subject, f"Prometheus has no {job} target for this node",
                       evidence=f"no active target with job={job}, instance={node} among {len(prom.targets)}",
                       fix=Fix("fix C4 (node-exporter scheduling)" if job == NODE_EXPORTER_JOB
                               else "fix C8 (Jetson exporter objects)"))
    down = [t for t in matches if t.get("health") != "up"]
    if not down:
        return Finding(check, OK, subject, "target up", evidence=str(matches[0].get("scrapeUrl", "")))
    target = down[0]
    error = str(target.get("lastError") or "")
    diagnosis, fix = classify_scrape_error(error)
    return Finding(check, ERROR, subject, f"target {target.get('health')}: {diagnosis}",
                   evidence=f"{target.get('scrapeUrl')}: {error or 'no error recorded yet'}", fix=fix)


def check_console_data(view: ClusterView) -> List[Finding]:
    check = "C10.console-data"
    prom = view.facts.prometheus
    if prom is None or not view.edge_nodes:
        return []
    if not prom.ready:
        return [_skip(check, "prometheus", "console data", "Prometheus does not answer (C13)")]
    ds_name = name_of(view.facts.node_exporter_daemonset) or NODE_EXPORTER_JOB
    jetson_names = {name_of(n) for n in view.jetson_nodes}
    out: List[Finding] = []
    for node in view.edge_nodes:
        name = name_of(node)
        queries = console_queries(name, name in jetson_names, ds_name)
        failed = [q for q in queries.values() if f"query:{q}" in prom.errors]
        if failed:
            out.append(_skip(check, f"node/{name}", "console data", prom.errors[f"query:{failed[0]}"]))
            continue
        empty = [k for k, q in queries.items() if not prom.queries.get(q)]
        evidence = "; ".join(f"{q}: {len(prom.queries.get(q) or [])} series" for q in queries.values())
        if not empty:
            out.append(Finding(check, OK, f"node/{name}", "the console's node metrics have data", evidence=evidence))
            continue
        if "up" in empty or "jetson_up" in empty:
            why = "no scrape target (see C9)"
            fix = Fix("fix C9 first")
        elif "kube_pod_info" in empty:
            why = ("kube-state-metrics does not list node-exporter's pod on this node, and the recording rules "
                   "join on it")
            fix = Fix("check kube-state-metrics runs (pinned to the cloud, kubeedge#4131) and lists edge pods")
        elif "cpu_rule" in empty:
            why = ("the recording rules give nothing: node-exporter series lack the namespace/pod labels or "
                   "job=\"node-exporter\"")
            fix = Fix("keep node-exporter's own ServiceMonitor (job, namespace and pod labels intact)")
        else:
            why = "the Jetson exporter is scraped but serves no jetson_info (wrong exporter on the port?)"
            fix = Fix("curl the node's :9998/metrics (run `doctor --edge` there)")
        out.append(Finding(check, ERROR, f"node/{name}", f"the console shows no data for this node: {why}",
                           evidence=evidence, fix=fix))
    return out


def check_metrics_server(view: ClusterView) -> List[Finding]:
    check = "C11.metrics-server"
    if view.facts.preset != "kubesphere" or not view.edge_nodes:
        return []
    api = view.facts.metrics_apiservice
    enabled = dig(view.facts.cluster_configuration, "spec", "metrics_server", "enabled")
    available = None
    for cond in as_list(dig(api, "status", "conditions")):
        if as_dict(cond).get("type") == "Available":
            available = as_dict(cond).get("status") == "True"
    state = "missing" if api is None else ("Available" if available else "unavailable")
    evidence = (f"ClusterConfiguration spec.metrics_server.enabled: {_compact(enabled)}; "
                f"APIService v1beta1.metrics.k8s.io: {state}")
    if "metrics_apiservice" in view.facts.errors and "cluster_configuration" in view.facts.errors:
        return [_skip(check, "cluster", "the metrics-server fallback", view.facts.errors["metrics_apiservice"])]
    if api is not None and available:
        return [Finding(check, OK, "cluster", "metrics-server answers: the console falls back to it for edge "
                        "CPU/memory", evidence=evidence)]
    if api is not None:
        return [Finding(check, WARN, "cluster", "the metrics.k8s.io APIService is registered but unavailable",
                        evidence=evidence, fix=Fix("check the metrics-server pod (hostNetwork, "
                                                   "--kubelet-insecure-tls) and its logs"))]
    return [Finding(check, INFO, "cluster", "no metrics-server: the console has no fallback for edge CPU/memory "
                    "when Prometheus has none (optional)", evidence=evidence,
                    fix=Fix("enable metrics_server in the ClusterConfiguration, then restart ks-apiserver",
                            commands=("kubectl -n kubesphere-system edit clusterconfiguration ks-installer   "
                                      "# spec.metrics_server.enabled: true",
                                      "kubectl -n kubesphere-system rollout restart deploy ks-apiserver")))]


def check_remote_write(view: ClusterView) -> List[Finding]:
    check = "C12.remote-write"
    proms = _pick_prometheus(view)
    if not proms or not view.edge_nodes:
        return []
    prom = proms[0]
    features = [str(f) for f in as_list(dig(prom, "spec", "enableFeatures"))]
    on = REMOTE_WRITE_FEATURE in features or dig(prom, "spec", "enableRemoteWriteReceiver") is True
    status = view.facts.prometheus.remote_write_status if view.facts.prometheus else None
    evidence = f"spec.enableFeatures: {_compact(features)}" + (
        f"; POST /api/v1/write -> {status}" if status is not None else "")
    subject = f"prometheus/{ref(prom)}"
    if on and status != 404:
        return [Finding(check, OK, subject, "remote-write receiver on: edges behind NAT can push", evidence=evidence)]
    path = "/spec/enableFeatures" + ("/-" if features else "")
    value: Any = REMOTE_WRITE_FEATURE if features else [REMOTE_WRITE_FEATURE]
    patch = ObjectPatch("monitoring.coreos.com/v1", "Prometheus", namespace_of(prom), name_of(prom),
                        ({"op": "add", "path": path, "value": value},))
    return [Finding(check, INFO, subject, "remote-write receiver off: only needed to push from edges Prometheus "
                    "cannot reach (KubeSphere 3.4.1 deploys it off)", evidence=evidence,
                    fix=Fix(f"add {REMOTE_WRITE_FEATURE} to spec.enableFeatures", commands=(patch.kubectl(),),
                            note="ks-installer may re-render the Prometheus CR on upgrade"))]


CLUSTER_CHECKS: Tuple[Callable[[ClusterView], List[Finding]], ...] = (
    check_edge_nodes,
    check_tunnel,
    check_cloudcore,
    check_node_exporter_scheduling,
    check_node_exporter_containers,
    check_dns_policy,
    check_edgemesh,
    check_jetson_nodes,
    check_jetson_workload,
    check_prometheus,
    check_scrapes,
    check_console_data,
    check_metrics_server,
    check_remote_write,
)


def run_cluster_checks(facts: ClusterFacts, only_nodes: Sequence[str] = ()) -> List[Finding]:
    view = ClusterView(facts, only_nodes)
    findings: List[Finding] = []
    for check in CLUSTER_CHECKS:
        findings.extend(check(view))
    return findings

"""Edge checks (E1-E7 of KUBEEDGE.md §6, plus X1 across cloud and edge): pure functions over EdgeFacts."""

from __future__ import annotations

import ipaddress
import json
import shlex
from typing import Any, Callable, Dict, List, Optional, Tuple

from jetson_exporter.doctor import advice
from jetson_exporter.doctor.facts import ClusterFacts, EdgeFacts
from jetson_exporter.doctor.kube import Version, as_dict, as_list, dig, format_version, parse_version
from jetson_exporter.doctor.model import EDGECORE_DOC, ERROR, INFO, OK, SKIP, WARN, Finding, Fix, YamlEdit
from jetson_exporter.readers.board import jetpack_for

DUMMY_VARS = ("METASERVER_DUMMY_IP", "METASERVER_DUMMY_PORT")
STREAM_PORTS = ("10004", "30004")


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def parse_unit_environment(unit_files: Dict[str, str]) -> Dict[str, str]:
    """`Environment=` assignments of a unit and its drop-ins, in systemd's order (unit, then drop-ins by name)."""
    main = [p for p in unit_files if not p.endswith(".conf")]
    dropins = sorted((p for p in unit_files if p.endswith(".conf")), key=lambda p: p.rsplit("/", 1)[-1])
    env: Dict[str, str] = {}
    for path in main + dropins:
        section = ""
        for raw in unit_files[path].splitlines():
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
                continue
            if section != "Service" or not line.startswith("Environment="):
                continue
            value = line[len("Environment="):].strip()
            if not value:
                env.clear()  # an empty assignment resets the list
                continue
            try:
                words = shlex.split(value)
            except ValueError:
                words = value.split()
            for word in words:
                key, sep, val = word.partition("=")
                if sep:
                    env[key] = val
    return env


class EdgeView:
    def __init__(self, facts: EdgeFacts) -> None:
        self.facts = facts
        self.config = facts.edgecore_config if isinstance(facts.edgecore_config, dict) else None
        self.version, self.version_source = self._version()

    def _version(self) -> Tuple[Optional[Version], str]:
        version = parse_version(self.facts.kubeedge_version)
        if version is not None:
            return version, self.facts.kubeedge_version_source or "reported"
        declared = parse_version(str(dig(self.config, "edgecoreVersion") or ""))
        if declared is not None:
            return declared, "edgecoreVersion in edgecore.yaml"
        if dig(self.config, "modules", "metaManager", "metaServer", "dummyServer") is not None:
            return (1, 17, 0), "inferred: metaServer.dummyServer exists from 1.17"
        return None, ""

    @property
    def node_name(self) -> str:
        return str(dig(self.config, "modules", "edged", "tailoredKubeletFlag", "hostnameOverride")
                   or dig(self.config, "modules", "edged", "hostnameOverride") or "")

    @property
    def gate(self) -> bool:
        return dig(self.config, "featureGates", "requireAuthorization") is True

    @property
    def tailored(self) -> bool:
        """Kubelet-style edged config (1.12+): clusterDNS is a list under tailoredKubeletConfig."""
        edged = as_dict(dig(self.config, "modules", "edged"))
        return "tailoredKubeletConfig" in edged or (self.version is not None and self.version[:2] >= (1, 12))

    def dns_path(self, key: str) -> Tuple[str, ...]:
        if self.tailored:
            return ("modules", "edged", "tailoredKubeletConfig", key)
        return ("modules", "edged", key)

    @property
    def subject(self) -> str:
        return self.facts.edgecore_path


def _skip_config(check: str, view: EdgeView) -> Finding:
    reason = view.facts.errors.get("edgecore", "edgecore.yaml was not read")
    return Finding(check, SKIP, view.subject, f"could not check: {reason}")


def _edit_fix(summary: str, *edits: YamlEdit, restart: str = advice.RESTART_EDGECORE) -> Fix:
    return Fix(summary=summary, commands=(f"sudoedit {advice.EDGECORE_CONFIG}   # "
                                          + ", ".join(e.describe() for e in edits),),
               edits=edits, then=(restart,))


def check_config(view: EdgeView) -> List[Finding]:
    check = "E0.edgecore-config"
    if view.config is not None:
        return [Finding(check, OK, view.subject, "edgecore.yaml read", evidence=f"kind: {view.config.get('kind')}")]
    reason = view.facts.errors.get("edgecore", "not read")
    if "does not exist" in reason:
        fix = Fix("join the node with keadm (it writes the file), or pass --edgecore-config FILE if it lives "
                  "elsewhere")
    else:
        fix = Fix("fix the file at the place shown (backups from `doctor --edge --fix` sit beside it as "
                  "edgecore.yaml.bak-*)")
    return [Finding(check, ERROR, view.subject, f"edgecore's configuration cannot be used: {reason}", fix=fix)]


def check_service(view: EdgeView) -> List[Finding]:
    check = "E1.edgecore-service"
    facts = view.facts
    if not facts.live:
        return [Finding(check, INFO, "edgecore.service", "not checked: reading a copy under --root")]
    if facts.service_state is None:
        return [Finding(check, SKIP, "edgecore.service", "could not check: "
                        + facts.errors.get("service", "systemctl did not answer"))]
    if facts.service_state == "active":
        return [Finding(check, OK, "edgecore.service", "edgecore is running", evidence="systemctl is-active: active")]
    return [Finding(check, ERROR, "edgecore.service", "edgecore is not running, so the node is offline",
                    evidence=f"systemctl is-active: {facts.service_state}" + _journal_hint(facts),
                    fix=Fix("read the journal, fix the cause, start it",
                            commands=("sudo journalctl -u edgecore -n 100 --no-pager",
                                      "sudo systemctl restart edgecore")))]


def _journal_hint(facts: EdgeFacts) -> str:
    lines = facts.journal or []
    return f"; journal: {lines[-1]}" if lines else ""


def check_edge_stream(view: EdgeView) -> List[Finding]:
    check = "E2.edge-stream"
    if view.config is None:
        return [_skip_config(check, view)]
    enable = dig(view.config, "modules", "edgeStream", "enable")
    server = str(dig(view.config, "modules", "edgeStream", "server") or "")
    evidence = f"modules.edgeStream.enable: {_compact(enable)}, server: {server or '<unset>'}"
    if enable is not True:
        return [Finding(check, WARN, view.subject,
                        "edgeStream is off: no `kubectl logs`/`exec` for this node's pods and no edged metrics "
                        "tunnel", evidence=evidence,
                        fix=_edit_fix("set modules.edgeStream.enable: true and restart edgecore",
                                      YamlEdit(EDGECORE_DOC, ("modules", "edgeStream", "enable"), True)))]
    port = server.rpartition(":")[2]
    if port not in STREAM_PORTS:
        return [Finding(check, WARN, view.subject,
                        "edgeStream points at an unusual port: cloudcore's tunnel listens on 10004 (30004 behind "
                        "KubeSphere's NodePorts)", evidence=evidence,
                        fix=Fix("set modules.edgeStream.server to <cloudcore address>:10004 (or :30004)",
                                then=(advice.RESTART_EDGECORE,)))]
    return [Finding(check, OK, view.subject, "edgeStream on", evidence=evidence)]


def check_meta_server(view: EdgeView) -> List[Finding]:
    if view.config is None:
        return [_skip_config("E3.meta-server", view)]
    out: List[Finding] = []
    enable = dig(view.config, "modules", "metaManager", "metaServer", "enable")
    evidence = f"modules.metaManager.metaServer.enable: {_compact(enable)}"
    if enable is True:
        out.append(Finding("E3.meta-server", OK, view.subject, "metaServer on", evidence=evidence))
    else:
        out.append(Finding(
            "E3.meta-server", ERROR, view.subject,
            "the metaServer is off, so EdgeMesh and in-cluster clients on this node have no API to talk to",
            evidence=evidence,
            fix=_edit_fix("set modules.metaManager.metaServer.enable: true and restart edgecore",
                          YamlEdit(EDGECORE_DOC, ("modules", "metaManager", "metaServer", "enable"), True))))

    path = view.dns_path("clusterDNS")
    dns = dig(view.config, *path)
    servers = [str(s) for s in as_list(dns)] if view.tailored else [
        s.strip() for s in str(dns or "").split(",") if s.strip()]
    evidence = f"{'.'.join(path)}: {_compact(dns)}"
    missing_dns = [line for line in view.facts.journal or [] if "MissingClusterDNS" in line]
    if missing_dns:
        evidence += f"; journal: {missing_dns[-1]}"
    if advice.EDGEMESH_DNS_IP in servers:
        out.append(Finding("E3.cluster-dns", OK, view.subject,
                           f"clusterDNS includes EdgeMesh's {advice.EDGEMESH_DNS_IP}", evidence=evidence))
    else:
        value: Any = [advice.EDGEMESH_DNS_IP, *servers] if view.tailored else advice.EDGEMESH_DNS_IP
        out.append(Finding(
            "E3.cluster-dns", ERROR, view.subject,
            "clusterDNS lacks EdgeMesh's DNS address, so ClusterFirst pods fall back to the host's resolv.conf "
            "(MissingClusterDNS, kubeedge#4334) and cannot resolve Service names",
            evidence=evidence,
            fix=_edit_fix(f"set {'.'.join(path)} to {_compact(value)} and restart edgecore",
                          YamlEdit(EDGECORE_DOC, path, value))))

    path = view.dns_path("clusterDomain")
    domain = dig(view.config, *path)
    if domain:
        out.append(Finding("E3.cluster-domain", OK, view.subject, f"clusterDomain {domain}",
                           evidence=f"{'.'.join(path)}: {domain}"))
    else:
        out.append(Finding("E3.cluster-domain", WARN, view.subject,
                           "clusterDomain is unset, which EdgeMesh needs for Service names like "
                           "kubernetes.default.svc.cluster.local", evidence=f"{'.'.join(path)}: <unset>",
                           fix=_edit_fix(f"set {'.'.join(path)}: cluster.local and restart edgecore",
                                         YamlEdit(EDGECORE_DOC, path, "cluster.local"))))

    probe = view.facts.probes.get("metaserver")
    if probe is None:
        out.append(Finding("E3.meta-server-endpoint", INFO, "metaServer", "not checked: "
                           + ("reading a copy under --root (pass --metaserver-url to probe)" if not view.facts.live
                              else "no probe made")))
    elif probe.ok:
        out.append(Finding("E3.meta-server-endpoint", OK, probe.url, "the metaServer answers", evidence=probe.detail))
    else:
        out.append(Finding("E3.meta-server-endpoint", ERROR if enable is True else WARN, probe.url,
                           "the metaServer does not answer with a ServiceList",
                           evidence=probe.error or f"HTTP {probe.status}: {probe.detail}",
                           fix=Fix("turn it on (E3.meta-server), turn on cloudcore's dynamicController (C3), restart "
                                   "edgecore", then=(advice.RESTART_EDGECORE,))))

    if "edgemesh0" in view.facts.interfaces:
        if view.facts.interfaces["edgemesh0"]:
            out.append(Finding("E3.edgemesh-interface", OK, "edgemesh0", "EdgeMesh's bridge edgemesh0 exists"))
        else:
            gate_route = view.gate and advice.band(view.version) == ">=1.17"
            out.append(Finding("E3.edgemesh-interface", INFO if gate_route else WARN, "edgemesh0",
                               "no edgemesh0 interface: the EdgeMesh agent is not running on this node"
                               + (" (the 1.17 gate route does not need it for API access)" if gate_route else ""),
                               evidence="/sys/class/net/edgemesh0 missing",
                               fix=Fix("install EdgeMesh (cluster side, C7)", commands=(advice.INSTALL_EDGEMESH,))))
    return out


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def check_dummy_env(view: EdgeView) -> List[Finding]:
    check = "E4.dummy-env"
    facts = view.facts
    if view.config is None and not facts.unit_files and facts.process_environment is None:
        return [_skip_config(check, view)]  # no edgecore here at all
    unit_env = parse_unit_environment(facts.unit_files)
    if facts.process_environment is not None:
        env, source = facts.process_environment, "the running edgecore's environment"
    elif facts.unit_environment is not None:
        env, source = facts.unit_environment, "systemctl show edgecore"
    else:
        env, source = unit_env, "edgecore.service and its drop-ins"
    shown = ", ".join(f"{k}={env.get(k, '<unset>')}" for k in DUMMY_VARS)
    evidence = f"{source}: {shown}"
    which = advice.band(view.version)
    subject = "edgecore.service"
    if view.config is not None and view.gate and which == ">=1.17":
        in_unit = [k for k in DUMMY_VARS if unit_env.get(k)]
        if in_unit:
            return [Finding(check, WARN, subject, "the requireAuthorization gate is on, so edgecore sets "
                            "METASERVER_DUMMY_* itself; the systemd values compete with it (use one mechanism)",
                            evidence=f"unit files: {', '.join(f'{k}={unit_env[k]}' for k in in_unit)}",
                            fix=Fix(f"remove the Environment= lines ({advice.DROPIN_PATH} or {advice.EDGECORE_UNIT})",
                                    then=(advice.RELOAD_RESTART_EDGECORE,)))]
        return [Finding(check, OK, subject, "the 1.17 gate is on: edgecore provides METASERVER_DUMMY_* itself "
                        f"({advice.DUMMY_IP_117}:{advice.METASERVER_PORT})", evidence=evidence)]
    if which == "<=1.14":
        return [Finding(check, WARN, subject, f"KubeEdge {format_version(view.version)} never gives pods "
                        "KUBERNETES_SERVICE_HOST/PORT (kubeedge#5152)", evidence=evidence,
                        fix=Fix("upgrade edgecore to 1.15 or later"))]
    if all(env.get(k) for k in DUMMY_VARS):
        host = env["METASERVER_DUMMY_IP"]
        if not _is_ip(host) and facts.interfaces.get("edgemesh0") is False:
            return [Finding(check, WARN, subject, f"pods get KUBERNETES_SERVICE_HOST={host}, a name that resolves "
                            "only through EdgeMesh, which is not running here", evidence=evidence,
                            fix=Fix("install EdgeMesh (C7)", commands=(advice.INSTALL_EDGEMESH,)))]
        return [Finding(check, OK, subject, "edgecore gives pods KUBERNETES_SERVICE_HOST/PORT", evidence=evidence)]
    if facts.process_environment is not None and all(unit_env.get(k) for k in DUMMY_VARS):
        return [Finding(check, ERROR, subject, "the unit sets METASERVER_DUMMY_* but the running edgecore does not "
                        "have them: it was not restarted since", evidence=evidence,
                        fix=Fix("reload systemd and restart edgecore", commands=(advice.RELOAD_RESTART_EDGECORE,)))]
    prefix = "" if which != "unknown" else "KubeEdge version unknown; assuming 1.15/1.16: "
    return [Finding(check, ERROR, subject,
                    prefix + "edgecore has no METASERVER_DUMMY_IP/PORT, so every pod on this node gets empty "
                    "KUBERNETES_SERVICE_HOST/PORT and in-cluster clients (kube-rbac-proxy) crash (kubeedge#6051)",
                    evidence=evidence, fix=advice.dummy_env_fix(view.version, on_edge=True))]


def check_gate(view: EdgeView) -> List[Finding]:
    check = "E5.require-authorization"
    if view.config is None:
        return [_skip_config(check, view)]
    which = advice.band(view.version)
    gate_value = dig(view.config, "featureGates", "requireAuthorization")
    evidence = f"featureGates.requireAuthorization: {_compact(gate_value)}"
    if not view.gate:
        text = "requireAuthorization gate off: pods reach the API through METASERVER_DUMMY_* (E4)"
        return [Finding(check, OK, view.subject, text, evidence=evidence)]
    if which in ("<=1.14", "1.15-1.16"):
        return [Finding(check, WARN, view.subject, f"the gate is on but KubeEdge {format_version(view.version)} "
                        "ignores it (InClusterConfig arrived in 1.17)", evidence=evidence,
                        fix=Fix("upgrade to 1.17+, or use E4's systemd variables"))]
    problems = []
    if view.facts.interfaces.get("edge-dummy0") is False:
        problems.append("no edge-dummy0 interface")
    probe = view.facts.probes.get("metaserver_dummy")
    if probe is not None and not probe.ok:
        problems.append(f"{probe.url}: {probe.error or f'HTTP {probe.status}'}")
    if problems:
        return [Finding(check, ERROR, view.subject, "the gate is on but edgecore's InClusterConfig endpoint "
                        f"({advice.DUMMY_IP_117}:{advice.METASERVER_PORT}) is not up",
                        evidence=evidence + "; " + "; ".join(problems),
                        fix=Fix("turn the gate on in cloudcore too, apply its ClusterRole, turn on the metaServer, "
                                "and restart both sides", commands=advice.gate_fix(on_edge=True).commands,
                                then=(advice.RESTART_CLOUDCORE, advice.RESTART_EDGECORE)))]
    return [Finding(check, OK, view.subject, "gate on: edgecore serves in-cluster clients on "
                    f"{advice.DUMMY_IP_117}:{advice.METASERVER_PORT} (cloudcore must have it on too)",
                    evidence=evidence)]


def _probe_finding(view: EdgeView, check: str, key: str, what: str, fix: Fix) -> Finding:
    probe = view.facts.probes.get(key)
    if probe is None:
        where = "reading a copy under --root (pass the URL to probe)" if not view.facts.live else "no probe made"
        return Finding(check, INFO, what, f"not checked: {where}")
    if probe.ok:
        return Finding(check, OK, probe.url, f"{what} answers", evidence=probe.detail)
    return Finding(check, ERROR, probe.url, f"{what} does not answer on this node",
                   evidence=probe.error or f"HTTP {probe.status}: {probe.detail}", fix=fix)


def check_exporters(view: EdgeView) -> List[Finding]:
    facts = view.facts
    out = [
        _probe_finding(view, "E6.node-exporter", "node_exporter", "node-exporter",
                       Fix("check node-exporter's pod on this node (cluster checks C4, C5)")),
        _probe_finding(view, "E6.jetson-exporter", "jetson_exporter", "the Jetson exporter",
                       Fix("check the jetson-exporter pod on this node (cluster check C8) or run "
                           "`jetson-exporter --once` here")),
    ]
    if facts.jtop_socket:
        out.append(Finding("E6.jtop", OK, "/run/jtop.sock", "jtop socket present (only needed with --source jtop)"))
    elif facts.jtop_socket is False:
        out.append(Finding("E6.jtop", INFO, "/run/jtop.sock", "no jtop socket: fine for the default sysfs source; "
                           "--source jtop needs `pip3 install jetson-stats` and jtop.service"))
    if facts.l4t_release:
        jetpack = jetpack_for(facts.l4t_release)
        out.append(Finding("E6.l4t", OK, "/etc/nv_tegra_release", f"L4T {facts.l4t_release}"
                           + (f" (JetPack {jetpack})" if jetpack else "")))
    else:
        out.append(Finding("E6.l4t", WARN, "/etc/nv_tegra_release",
                           "no L4T release found: this is not a Jetson, so the Jetson exporter has nothing to read",
                           evidence=facts.errors.get("l4t", "file missing")))
    return out


def check_version(view: EdgeView) -> List[Finding]:
    check = "E7.kubeedge-version"
    if view.version is None:
        return [Finding(check, INFO, "edgecore", "KubeEdge version unknown: fixes assume 1.15/1.16 "
                        "(pass --kubeedge-version)", evidence=view.facts.errors.get("version", ""))]
    return [Finding(check, OK, "edgecore", f"KubeEdge {format_version(view.version)} "
                    f"(fixes for {advice.band(view.version)})", evidence=view.version_source)]


EDGE_CHECKS: Tuple[Callable[[EdgeView], List[Finding]], ...] = (
    check_config,
    check_version,
    check_service,
    check_edge_stream,
    check_meta_server,
    check_dummy_env,
    check_gate,
    check_exporters,
)


def run_edge_checks(facts: EdgeFacts) -> List[Finding]:
    view = EdgeView(facts)
    findings: List[Finding] = []
    for check in EDGE_CHECKS:
        findings.extend(check(view))
    return findings


def run_cross_checks(cluster: ClusterFacts, edge: EdgeFacts) -> List[Finding]:
    """X1: checks that need both sides' facts (recorded facts of one cluster and one of its nodes)."""
    from jetson_exporter.doctor.checks_cluster import ClusterView

    view = EdgeView(edge)
    cloud = ClusterView(cluster)
    if view.config is None or cloud.cloudcore is None:
        return []
    cloud_gate, edge_gate = bool(cloud.cloud_gate), view.gate
    evidence = (f"cloudcore featureGates.requireAuthorization: {cloud_gate}; "
                f"edgecore ({view.node_name or 'node'}): {edge_gate}")
    if cloud_gate == edge_gate:
        return [Finding("X1.gate-alignment", OK, view.node_name or "edge", "cloudcore and edgecore agree on the "
                        "requireAuthorization gate", evidence=evidence)]
    # A choice between two mechanisms (and E4 may already offer the other one): commands, never automatic.
    gate = advice.gate_fix(on_edge=True)
    fix = Fix("turn the gate on here too (1.17+, with metaServer on and the cloudcore-feature ClusterRole), "
              "or off in cloudcore and use METASERVER_DUMMY_* (E4)" if cloud_gate else
              "turn the gate off on this node (E4's variables then give pods the API address), or on in "
              "cloudcore with its ClusterRole", commands=gate.commands, then=gate.then, note=gate.note)
    return [Finding("X1.gate-alignment", ERROR, view.node_name or "edge",
                    "the requireAuthorization gate differs between cloudcore and this edge node; it must be the "
                    "same on both sides (kubeedge#5586, #5608)", evidence=evidence, fix=fix)]

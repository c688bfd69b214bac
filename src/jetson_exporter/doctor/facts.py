"""What the gatherers collect: plain data shaped like the API objects and files they came from.

Facts are JSON-serializable so that a run can be recorded (`--save-facts`) and replayed
(`--facts`): a bug report, a README example and a test fixture are the same thing. A fact that
could not be gathered is `None` with its one-line reason in `errors`; an object that does not
exist is `None` without an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, List, Optional, Tuple, Type, TypeVar

Obj = Dict[str, Any]

FACTS_FORMAT = 1
REDACTED = "<redacted>"

_SECRET_KEY = re.compile(r"^(?:token|password|secret|[a-z]+(?:Token|Password|Secret))$")
_SECRET_LINE = re.compile(
    r"^(?P<head>\s*(?:-\s+)?(?:token|password|secret|[a-z]+(?:Token|Password|Secret))\s*:[ \t]*)"
    r"(?P<value>[^\s#].*?)(?P<tail>\s+#.*)?$"
)


@dataclass
class PrometheusFacts:
    url: str = ""  # without credentials
    via: str = "prometheus"  # "prometheus" (its HTTP API) or "kubesphere" (ks-apiserver's query endpoint)
    ready: Optional[bool] = None
    version: Optional[str] = None
    targets: Optional[List[Obj]] = None  # activeTargets of the jobs the doctor cares about
    queries: Dict[str, List[Obj]] = field(default_factory=dict)  # PromQL -> instant vector
    remote_write_status: Optional[int] = None  # HTTP status of an empty POST /api/v1/write
    errors: Dict[str, str] = field(default_factory=dict)  # "ready", "targets", "query:<promql>", ...


@dataclass
class ClusterFacts:
    preset: str = "kubesphere"
    namespace: str = "kubesphere-monitoring-system"  # where this project's objects live
    nodes: Optional[List[Obj]] = None
    namespace_object: Optional[Obj] = None
    node_exporter_daemonset: Optional[Obj] = None
    node_exporter_pods: Optional[List[Obj]] = None
    pod_logs: Dict[str, str] = field(default_factory=dict)  # log_key(...) -> last lines
    cloudcore_configmap: Optional[Obj] = None
    cloudcore_logs: Optional[str] = None
    cloudcore_feature_role: Optional[Obj] = None
    edgemesh_pods: Optional[List[Obj]] = None
    kubernetes_service: Optional[Obj] = None
    jetson_daemonset: Optional[Obj] = None
    jetson_pods: Optional[List[Obj]] = None
    jetson_service: Optional[Obj] = None
    jetson_servicemonitor: Optional[Obj] = None
    jetson_prometheusrule: Optional[Obj] = None
    prometheuses: Optional[List[Obj]] = None
    cluster_configuration: Optional[Obj] = None
    metrics_apiservice: Optional[Obj] = None
    prometheus: Optional[PrometheusFacts] = None
    errors: Dict[str, str] = field(default_factory=dict)  # fact name -> why it could not be gathered


@dataclass
class Probe:
    """One HTTP request the edge doctor made, and what came back."""

    url: str
    ok: bool = False
    status: Optional[int] = None
    error: Optional[str] = None
    detail: str = ""


@dataclass
class EdgeFacts:
    root: str = "/"
    live: bool = True  # False when reading a copy under --root: no systemctl, journal or default probes
    edgecore_path: str = "/etc/kubeedge/config/edgecore.yaml"
    edgecore_text: Optional[str] = None  # secrets redacted
    edgecore_config: Optional[Obj] = None  # parsed, secrets redacted
    unit_files: Dict[str, str] = field(default_factory=dict)  # edgecore.service and drop-ins, path -> text
    unit_environment: Optional[Dict[str, str]] = None  # `systemctl show edgecore -p Environment` (live)
    process_environment: Optional[Dict[str, str]] = None  # METASERVER_* of the running edgecore
    kubeedge_version: Optional[str] = None
    kubeedge_version_source: str = ""
    service_state: Optional[str] = None  # `systemctl is-active edgecore`
    journal: Optional[List[str]] = None  # edgecore journal lines worth showing
    interfaces: Dict[str, bool] = field(default_factory=dict)  # edgemesh0, edge-dummy0 -> present
    probes: Dict[str, Probe] = field(default_factory=dict)
    jtop_socket: Optional[bool] = None
    l4t_release: Optional[str] = None
    errors: Dict[str, str] = field(default_factory=dict)


def log_key(namespace: str, pod: str, container: str, previous: bool = False) -> str:
    return f"{namespace}/{pod}/{container}" + ("/previous" if previous else "")


T = TypeVar("T")


def _build(cls: Type[T], data: Any) -> T:
    if not isinstance(data, dict):
        raise ValueError(f"expected an object for {cls.__name__}, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in known})


def cluster_from_dict(data: Any) -> ClusterFacts:
    facts = _build(ClusterFacts, data)
    if facts.prometheus is not None:
        facts.prometheus = _build(PrometheusFacts, facts.prometheus)
    return facts


def edge_from_dict(data: Any) -> EdgeFacts:
    facts = _build(EdgeFacts, data)
    facts.probes = {name: _build(Probe, p) for name, p in dict(facts.probes).items()}
    return facts


def dump_facts(cluster: Optional[ClusterFacts], edge: Optional[EdgeFacts]) -> str:
    data: Dict[str, Any] = {"format": FACTS_FORMAT}
    if cluster is not None:
        data["cluster"] = asdict(cluster)
    if edge is not None:
        data["edge"] = asdict(edge)
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def load_facts(text: str) -> Tuple[Optional[ClusterFacts], Optional[EdgeFacts]]:
    """Parse a facts file; raises ValueError with a one-line reason."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict) or not ({"cluster", "edge"} & set(data)):
        raise ValueError('expected an object with "cluster" and/or "edge" (written by --save-facts)')
    try:
        cluster = cluster_from_dict(data["cluster"]) if data.get("cluster") is not None else None
        edge = edge_from_dict(data["edge"]) if data.get("edge") is not None else None
    except TypeError as exc:
        raise ValueError(f"unexpected shape: {exc}") from None
    return cluster, edge


def redact_text(text: str) -> str:
    """Hide the values of token/password/secret keys in YAML text, line by line."""
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        end = line[len(body):]
        match = _SECRET_LINE.match(body)
        if match and match.group("value") not in ('""', "''"):
            body = match.group("head") + REDACTED + (match.group("tail") or "")
        out.append(body + end)
    return "".join(out)


def redact_data(data: Any) -> Any:
    """The same for parsed data: non-empty string values of secret-named keys are replaced."""
    if isinstance(data, dict):
        return {k: (REDACTED if isinstance(k, str) and _SECRET_KEY.match(k) and isinstance(v, str) and v
                    else redact_data(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [redact_data(v) for v in data]
    return data

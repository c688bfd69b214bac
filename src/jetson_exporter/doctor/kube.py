"""Pure helpers over Kubernetes API objects in their JSON form (camelCase, as the API returns them)."""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from jetson_exporter.deploy.conventions import EDGE_ROLE_LABEL

Obj = Dict[str, Any]
Version = Tuple[int, int, int]

_KUBEEDGE_IN_KUBELET = re.compile(r"kubeedge-v?(\d+)\.(\d+)(?:\.(\d+))?")
_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


def dig(obj: Any, *keys: Any) -> Any:
    """obj[k1][k2]...; None as soon as a level is missing or of the wrong type."""
    for key in keys:
        if isinstance(key, int):
            if not isinstance(obj, list) or not -len(obj) <= key < len(obj):
                return None
        elif not isinstance(obj, dict):
            return None
        obj = obj[key] if isinstance(key, int) else obj.get(key)
        if obj is None:
            return None
    return obj


def as_list(value: Any) -> List[Any]:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def name_of(obj: Optional[Obj]) -> str:
    return str(dig(obj, "metadata", "name") or "")


def namespace_of(obj: Optional[Obj]) -> str:
    return str(dig(obj, "metadata", "namespace") or "")


def labels_of(obj: Optional[Obj]) -> Dict[str, str]:
    return {str(k): str(v) for k, v in as_dict(dig(obj, "metadata", "labels")).items()}


def ref(obj: Optional[Obj]) -> str:
    ns = namespace_of(obj)
    return f"{ns}/{name_of(obj)}" if ns else name_of(obj)


def json_pointer(*parts: Any) -> str:
    """RFC 6901 pointer: `~` and `/` inside a key are escaped."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


# -- versions ---------------------------------------------------------------------------------


def parse_version(text: Optional[str]) -> Optional[Version]:
    """`v1.15.1`, `1.17`, `KubeEdge v1.15.1` -> (1, 15, 1)."""
    if not text:
        return None
    match = _VERSION.search(text)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def format_version(version: Optional[Version]) -> str:
    return "unknown" if version is None else ".".join(str(p) for p in version)


def kubeedge_version_of(node: Obj) -> Optional[Version]:
    """KubeEdge version from `status.nodeInfo.kubeletVersion` (e.g. `v1.26.10-kubeedge-v1.15.1`)."""
    kubelet = str(dig(node, "status", "nodeInfo", "kubeletVersion") or "")
    match = _KUBEEDGE_IN_KUBELET.search(kubelet)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def runs_kubeedge(node: Obj) -> bool:
    return "kubeedge" in str(dig(node, "status", "nodeInfo", "kubeletVersion") or "")


def is_edge(node: Obj) -> bool:
    return EDGE_ROLE_LABEL in labels_of(node)


def looks_like_jetson(node: Obj) -> bool:
    """L4T kernels carry a `-tegra` suffix (e.g. 5.10.120-tegra) on arm64."""
    info = as_dict(dig(node, "status", "nodeInfo"))
    return str(info.get("kernelVersion", "")).endswith("-tegra") and info.get("architecture") in (None, "arm64")


# -- selectors ----------------------------------------------------------------------------------


def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key = str(expr.get("key", ""))
    op = str(expr.get("operator", ""))
    values = [str(v) for v in as_list(expr.get("values"))]
    present = key in labels
    if op == "In":
        return present and labels[key] in values
    if op == "NotIn":
        return not present or labels[key] not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and values:
        try:
            have, want = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def label_selector_matches(selector: Optional[Mapping[str, Any]], labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector semantics: `{}` selects everything; the caller decides what null means."""
    if selector is None:
        return False
    for key, value in as_dict(selector.get("matchLabels")).items():
        if labels.get(str(key)) != str(value):
            return False
    return all(_expression_matches(as_dict(e), labels) for e in as_list(selector.get("matchExpressions")))


def node_selector_term_matches(term: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A nodeSelectorTerm; an empty term matches nothing (Kubernetes API semantics)."""
    exprs = as_list(term.get("matchExpressions"))
    fields_ = as_list(term.get("matchFields"))
    if not exprs and not fields_:
        return False
    return all(_expression_matches(as_dict(e), labels) for e in exprs)


def scheduling_blockers(pod_spec: Obj, node: Obj) -> List[str]:
    """Why a pod with this spec cannot run on the node: nodeSelector, required affinity, taints."""
    labels = labels_of(node)
    reasons: List[str] = []
    for key, value in as_dict(pod_spec.get("nodeSelector")).items():
        if labels.get(str(key)) != str(value):
            reasons.append(f"nodeSelector {key}={value} (node has {key}={labels.get(str(key), '<unset>')})")
    terms = as_list(dig(pod_spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                        "nodeSelectorTerms"))
    if terms and not any(node_selector_term_matches(as_dict(t), labels) for t in terms):
        failing = []
        for term in terms:
            for expr in as_list(as_dict(term).get("matchExpressions")):
                if not _expression_matches(as_dict(expr), labels):
                    failing.append(f"{expr.get('key')} {expr.get('operator')}")
        reasons.append("required node affinity " + (", ".join(failing) or "term matches nothing"))
    untolerated = [t for t in as_list(dig(node, "spec", "taints"))
                   if as_dict(t).get("effect") in ("NoSchedule", "NoExecute")
                   and not tolerates(as_list(pod_spec.get("tolerations")), as_dict(t))]
    for taint in untolerated:
        reasons.append(f"taint {taint.get('key')}:{taint.get('effect')} not tolerated")
    return reasons


def tolerates(tolerations: Sequence[Any], taint: Mapping[str, Any]) -> bool:
    for tol in tolerations:
        tol = as_dict(tol)
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        op = tol.get("operator", "Equal")
        if op == "Exists" and (not tol.get("key") or tol.get("key") == taint.get("key")):
            return True
        if op == "Equal" and tol.get("key") == taint.get("key") and (tol.get("value") or "") == (
                taint.get("value") or ""):
            return True
    return False


# -- pods ---------------------------------------------------------------------------------------


def pods_on(pods: Iterable[Obj], node_name: str) -> List[Obj]:
    return [p for p in pods if dig(p, "spec", "nodeName") == node_name]


def container_statuses(pod: Obj) -> Dict[str, Obj]:
    return {str(s.get("name")): s for s in as_list(dig(pod, "status", "containerStatuses")) if isinstance(s, dict)}


def container_state(status: Obj) -> Tuple[str, str]:
    """("running"|"waiting"|"terminated"|"unknown", reason)."""
    state = as_dict(status.get("state"))
    for kind in ("running", "waiting", "terminated"):
        if kind in state:
            return kind, str(as_dict(state[kind]).get("reason") or "")
    return "unknown", ""


def last_termination(status: Obj) -> Obj:
    return as_dict(dig(status, "lastState", "terminated"))


def pod_healthy(pod: Obj) -> bool:
    statuses = container_statuses(pod)
    return bool(statuses) and dig(pod, "status", "phase") == "Running" and all(
        container_state(s)[0] == "running" and s.get("ready") is True for s in statuses.values())


def describe_pod_state(pod: Obj) -> str:
    parts = [str(dig(pod, "status", "phase") or "Unknown")]
    for name, status in container_statuses(pod).items():
        kind, reason = container_state(status)
        restarts = status.get("restartCount", 0)
        parts.append(f"{name}={reason or kind}" + (f" ({restarts} restarts)" if restarts else ""))
    return ", ".join(parts)

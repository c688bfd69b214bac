"""Findings and fixes: what a check returns, what the renderer shows and what the fixer applies."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

OK = "ok"
INFO = "info"
WARN = "warn"
ERROR = "error"
SKIP = "skip"  # the check could not run: a fact was missing (forbidden, unreachable, malformed)

SEVERITIES = (OK, INFO, WARN, ERROR, SKIP)
PROBLEMS = frozenset({WARN, ERROR, SKIP})

EXIT_HEALTHY = 0
EXIT_PROBLEMS = 1
EXIT_CANNOT_RUN = 2

# Documents a YamlEdit can target.
EDGECORE_DOC = "edgecore.yaml"


def configmap_doc(namespace: str, name: str, key: str) -> str:
    """Name of a YAML document kept in a ConfigMap key, e.g. `configmap/kubeedge/cloudcore/cloudcore.yaml`."""
    return f"configmap/{namespace}/{name}/{key}"


def parse_configmap_doc(doc: str) -> Optional[Tuple[str, str, str]]:
    parts = doc.split("/", 3)
    if len(parts) == 4 and parts[0] == "configmap":
        return parts[1], parts[2], parts[3]
    return None


@dataclass(frozen=True)
class ObjectPatch:
    """An RFC 6902 JSON patch for one Kubernetes object (applied with `--fix --yes`)."""

    api_version: str
    kind: str
    namespace: str  # "" for cluster-scoped objects
    name: str
    ops: Tuple[Dict[str, Any], ...]

    @property
    def target(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"

    def kubectl(self) -> str:
        """The same change as a kubectl command a person can run."""
        import json

        ns = f" -n {self.namespace}" if self.namespace else ""
        body = json.dumps(list(self.ops), separators=(",", ":"))
        return f"kubectl{ns} patch {self.kind.lower()} {self.name} --type=json -p '{body}'"


@dataclass(frozen=True)
class YamlEdit:
    """Set one key of a YAML document, keeping every other byte (comments, order, quoting)."""

    document: str  # EDGECORE_DOC or configmap_doc(...)
    path: Tuple[str, ...]
    value: Any  # JSON-compatible: bool, int, str, list of str

    def describe(self) -> str:
        import json

        return f"{'.'.join(self.path)}: {json.dumps(self.value)}"


@dataclass(frozen=True)
class NewFile:
    """A file to create on the edge node (a systemd drop-in); path is absolute on the node."""

    path: str
    content: str


@dataclass(frozen=True)
class Fix:
    summary: str  # what to do, one sentence
    commands: Tuple[str, ...] = ()  # exact commands to run by hand, in order
    patches: Tuple[ObjectPatch, ...] = ()  # cluster changes `--fix --yes` applies
    # YAML document changes (edgecore.yaml: `--edge --fix`; YAML inside a ConfigMap: `--fix --yes`)
    edits: Tuple[YamlEdit, ...] = ()
    files: Tuple[NewFile, ...] = ()  # edge files `--edge --fix` creates
    then: Tuple[str, ...] = ()  # to run after the change (restarts); the doctor never runs these
    note: str = ""  # a caveat, e.g. that ks-installer reverts the patch

    @property
    def automatic(self) -> bool:
        return bool(self.patches or self.edits or self.files)


@dataclass(frozen=True)
class Finding:
    id: str  # check id, e.g. "C4.node-exporter-affinity"
    severity: str
    subject: str  # what it is about: a node, an object, a file
    diagnosis: str  # one sentence
    evidence: str = ""  # the field, log line or answer it saw
    fix: Optional[Fix] = None

    @property
    def problem(self) -> bool:
        return self.severity in PROBLEMS

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        if self.fix is not None:
            data["fix"]["kubectl"] = [p.kubectl() for p in self.fix.patches]
        return data


@dataclass
class Report:
    mode: str  # "cluster", "edge" or "cluster+edge"
    findings: List[Finding] = field(default_factory=list)
    context: Dict[str, str] = field(default_factory=dict)  # shown in the header: preset, namespace, root...

    def counts(self) -> Dict[str, int]:
        counts = {s: 0 for s in SEVERITIES}
        for finding in self.findings:
            counts[finding.severity] += 1
        return counts

    @property
    def healthy(self) -> bool:
        return not any(f.problem for f in self.findings)

    @property
    def exit_code(self) -> int:
        return EXIT_HEALTHY if self.healthy else EXIT_PROBLEMS

    def to_dict(self) -> Dict[str, Any]:
        return {
            "mode": self.mode,
            "healthy": self.healthy,
            "context": dict(self.context),
            "summary": self.counts(),
            "findings": [f.to_dict() for f in self.findings],
        }

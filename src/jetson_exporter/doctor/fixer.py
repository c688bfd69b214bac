"""Turn findings into changes, show each as a diff, and apply them when asked (edge: `--edge --fix`;
cluster: `--fix --yes`).

Planning is pure: findings + facts (+ the current text of edgecore.yaml) -> a list of changes with
their diffs. Applying is the shell: cluster patches through the Kubernetes client, edge files
written after a timestamped backup, or (for recorded facts) the same changes applied to the facts.
The doctor never restarts anything; it prints the restart commands instead.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import yaml

from jetson_exporter.doctor.facts import ClusterFacts, EdgeFacts, Obj, redact_data, redact_text
from jetson_exporter.doctor.jsonpatch import PatchError, apply_patch
from jetson_exporter.doctor.kube import dig, name_of, namespace_of
from jetson_exporter.doctor.model import (
    EDGECORE_DOC,
    Finding,
    NewFile,
    ObjectPatch,
    YamlEdit,
    parse_configmap_doc,
)
from jetson_exporter.doctor.yamlparse import parse_yaml


@dataclass
class Change:
    findings: List[str]  # ids of the findings this change fixes
    target: str  # what changes, for people
    diff: str = ""
    patch: Optional[ObjectPatch] = None  # cluster change
    path: str = ""  # edge file to write (real path, under --root)
    new_text: str = ""
    error: str = ""  # could not plan: shown, never applied
    then: List[str] = field(default_factory=list)
    note: str = ""


def selected(findings: Iterable[Finding], only: Sequence[str] = ()) -> List[Finding]:
    """Problem findings with an automatic fix, optionally limited to ids starting with one of `only`."""
    return [f for f in findings if f.problem and f.fix is not None and f.fix.automatic
            and (not only or any(f.id == o or f.id.startswith(o + ".") for o in only))]


def unified(before: str, after: str, name: str) -> str:
    lines = difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                 fromfile=f"a/{name}", tofile=f"b/{name}")
    out = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return out


def object_yaml(obj: Optional[Obj]) -> str:
    """An object as people read it in a diff: no status, no managedFields."""
    if obj is None:
        return ""
    shown = {k: v for k, v in obj.items() if k != "status"}
    meta = dict(shown.get("metadata") or {})
    for noisy in ("managedFields", "resourceVersion", "uid", "generation", "creationTimestamp"):
        meta.pop(noisy, None)
    if "annotations" in meta:
        meta["annotations"] = {k: v for k, v in meta["annotations"].items()
                               if k != "kubectl.kubernetes.io/last-applied-configuration"}
    shown["metadata"] = meta
    return str(yaml.safe_dump(redact_data(shown), sort_keys=False, default_flow_style=False, width=1000))


# -- where objects live in the facts -------------------------------------------------------------------

_SINGLE_FIELDS = {
    "node_exporter_daemonset": "DaemonSet",
    "jetson_daemonset": "DaemonSet",
    "kubernetes_service": "Service",
    "jetson_service": "Service",
    "cloudcore_configmap": "ConfigMap",
    "jetson_servicemonitor": "ServiceMonitor",
    "jetson_prometheusrule": "PrometheusRule",
}
_LIST_FIELDS = {"nodes": "Node", "prometheuses": "Prometheus"}


def _locate(facts: ClusterFacts, kind: str, namespace: str,
            name: str) -> Optional[Tuple[Obj, Callable[[Obj], None]]]:
    def matches(obj: Any) -> bool:
        return isinstance(obj, dict) and name_of(obj) == name and namespace_of(obj) == namespace

    for attr, attr_kind in _SINGLE_FIELDS.items():
        obj = getattr(facts, attr)
        if attr_kind == kind and matches(obj):
            def set_single(new: Obj, attr: str = attr) -> None:
                setattr(facts, attr, new)
            return obj, set_single
    for attr, attr_kind in _LIST_FIELDS.items():
        items = getattr(facts, attr) or []
        if attr_kind != kind:
            continue
        for i, obj in enumerate(items):
            if matches(obj):
                def set_item(new: Obj, items: List[Obj] = items, i: int = i) -> None:
                    items[i] = new
                return obj, set_item
    return None


# -- planning ----------------------------------------------------------------------------------------------


def plan_cluster(findings: Sequence[Finding], facts: ClusterFacts) -> List[Change]:
    """Cluster changes: JSON patches, and YAML edits of documents kept in ConfigMaps."""
    changes: List[Change] = []
    state: Dict[Tuple[str, str, str], Obj] = {}
    seen: Dict[str, Change] = {}
    doc_edits: Dict[str, List[Tuple[str, YamlEdit]]] = {}
    notes: Dict[str, Tuple[List[str], str]] = {}
    for finding in findings:
        assert finding.fix is not None
        for edit in finding.fix.edits:
            if parse_configmap_doc(edit.document):
                doc_edits.setdefault(edit.document, []).append((finding.id, edit))
                notes[edit.document] = (list(finding.fix.then), finding.fix.note)
        for patch in finding.fix.patches:
            key = json.dumps([patch.kind, patch.namespace, patch.name, list(patch.ops)], sort_keys=True)
            if key in seen:
                if finding.id not in seen[key].findings:
                    seen[key].findings.append(finding.id)
                continue
            change = Change([finding.id], patch.target, patch=patch,
                            then=list(finding.fix.then), note=finding.fix.note)
            seen[key] = change
            ident = (patch.kind, patch.namespace, patch.name)
            found = _locate(facts, *ident)
            before = state.get(ident) or (found[0] if found else None)
            if before is None:
                change.error = f"{patch.target} was not read, so the patch cannot be previewed"
            else:
                try:
                    after = apply_patch(before, patch.ops)
                except PatchError as exc:
                    change.error = f"{patch.target}: {exc}"
                else:
                    state[ident] = after
                    change.diff = unified(object_yaml(before), object_yaml(after), patch.target.replace(" ", "/"))
            changes.append(change)
    for doc, edits in doc_edits.items():
        changes.append(_plan_configmap_doc(doc, edits, facts, *notes[doc]))
    return changes


def _plan_configmap_doc(doc: str, edits: List[Tuple[str, YamlEdit]], facts: ClusterFacts,
                        then: List[str], note: str) -> Change:
    from jetson_exporter.doctor.yamledit import EditError, set_values

    parsed = parse_configmap_doc(doc)
    assert parsed is not None
    namespace, name, key = parsed
    ids = sorted({i for i, _ in edits})
    change = Change(ids, f"ConfigMap {namespace}/{name} ({key})", then=then, note=note)
    found = _locate(facts, "ConfigMap", namespace, name)
    text = dig(found[0], "data", key) if found else None
    if not isinstance(text, str):
        change.error = f"configmap {namespace}/{name} key {key} was not read"
        return change
    unique = list({json.dumps([e.path, e.value]): e for _, e in edits}.values())
    try:
        new_text = set_values(text, [(e.path, e.value) for e in unique])
    except EditError as exc:
        change.error = f"{key} in configmap {namespace}/{name}: {exc}"
        return change
    from jetson_exporter.doctor.kube import json_pointer

    pointer = json_pointer("data", key)
    change.patch = ObjectPatch("v1", "ConfigMap", namespace, name, (
        {"op": "test", "path": pointer, "value": text},
        {"op": "replace", "path": pointer, "value": new_text}))
    change.diff = unified(redact_text(text), redact_text(new_text), f"configmap/{namespace}/{name}/{key}")
    return change


def plan_edge(findings: Sequence[Finding], facts: EdgeFacts, current_text: Optional[str]) -> List[Change]:
    """Edge changes: edits of edgecore.yaml (one change) and new files such as the systemd drop-in."""
    from jetson_exporter.doctor.yamledit import EditError, set_values

    changes: List[Change] = []
    edits: List[Tuple[str, YamlEdit]] = []
    then: List[str] = []
    for finding in findings:
        assert finding.fix is not None
        for edit in finding.fix.edits:
            if edit.document == EDGECORE_DOC:
                edits.append((finding.id, edit))
                then.extend(t for t in finding.fix.then if t not in then)
    if edits:
        ids = sorted({i for i, _ in edits})
        change = Change(ids, facts.edgecore_path, path=facts.edgecore_path, then=then)
        if current_text is None:
            change.error = f"{facts.edgecore_path} could not be read"
        else:
            unique = list({json.dumps([e.path, e.value]): e for _, e in edits}.values())
            try:
                change.new_text = set_values(current_text, [(e.path, e.value) for e in unique])
                change.diff = unified(redact_text(current_text), redact_text(change.new_text), facts.edgecore_path)
            except EditError as exc:
                change.error = f"{facts.edgecore_path}: {exc}"
        changes.append(change)
    for finding in findings:
        assert finding.fix is not None
        for new in finding.fix.files:
            changes.append(_plan_file(finding, new, facts))
    return changes


def host_path(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/")) if root not in ("", "/") else path


def _plan_file(finding: Finding, new: NewFile, facts: EdgeFacts) -> Change:
    assert finding.fix is not None
    real = host_path(facts.root, new.path)
    existing = facts.unit_files.get(real)
    if existing is None and facts.live and os.path.exists(real):
        try:
            with open(real, encoding="utf-8") as fh:
                existing = fh.read()
        except OSError as exc:
            return Change([finding.id], real, error=f"{real}: {exc.strerror}")
    change = Change([finding.id], real, path=real, new_text=new.content, then=list(finding.fix.then),
                    note=finding.fix.note)
    change.diff = unified(existing or "", new.content, real)
    if existing == new.content:
        change.error = f"{real} already has this content (restart edgecore to use it)"
    return change


# -- applying ------------------------------------------------------------------------------------------------


def backup_name(path: str, now: Optional[float] = None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(time.time() if now is None else now))
    return f"{path}.bak-{stamp}"


def write_with_backup(path: str, text: str, now: Optional[float] = None) -> Optional[str]:
    """Back the file up (if it exists), then replace it atomically keeping its mode. Returns the backup path."""
    backup = None
    mode = 0o644
    if os.path.exists(path):
        backup = backup_name(path, now)
        n = 1
        while os.path.exists(backup):
            backup = f"{backup_name(path, now)}.{n}"
            n += 1
        shutil.copy2(path, backup)
        mode = os.stat(path).st_mode & 0o7777
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".doctor-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return backup


def apply_to_cluster_facts(changes: Sequence[Change], facts: ClusterFacts) -> List[str]:
    """Apply planned patches to recorded facts (what `--facts FILE --fix --yes` changes). Returns messages."""
    messages = []
    for change in changes:
        if change.error or change.patch is None:
            continue
        patch = change.patch
        found = _locate(facts, patch.kind, patch.namespace, patch.name)
        if found is None:
            messages.append(f"skipped {patch.target}: not in the facts")
            continue
        obj, setter = found
        try:
            setter(apply_patch(obj, patch.ops))
        except PatchError as exc:
            messages.append(f"failed {patch.target}: {exc}")
            continue
        messages.append(f"patched {patch.target} (recorded facts)")
    return messages


def apply_to_edge_facts(changes: Sequence[Change], facts: EdgeFacts) -> List[str]:
    messages = []
    for change in changes:
        if change.error:
            continue
        if change.path == facts.edgecore_path:
            facts.edgecore_text = change.new_text
            parsed, problem = parse_yaml(change.new_text, facts.edgecore_path)
            facts.edgecore_config = parsed if isinstance(parsed, dict) else None
            if problem:
                facts.errors["edgecore"] = problem
        else:
            facts.unit_files[change.path] = change.new_text
        messages.append(f"wrote {change.path} (recorded facts)")
    return messages


def apply_to_files(changes: Sequence[Change], now: Optional[float] = None) -> List[str]:
    messages = []
    for change in changes:
        if change.error or not change.path:
            continue
        try:
            backup = write_with_backup(change.path, change.new_text, now)
        except OSError as exc:
            messages.append(f"failed {change.path}: {exc.strerror or exc}")
            continue
        messages.append(f"wrote {change.path}" + (f" (backup {backup})" if backup else ""))
    return messages


def restart_commands(changes: Sequence[Change]) -> List[str]:
    out: List[str] = []
    for change in changes:
        if change.error:
            continue
        for command in change.then:
            if command not in out:
                out.append(command)
    # one daemon-reload+restart covers a plain restart of the same service
    if any("daemon-reload" in c and "edgecore" in c for c in out):
        out = [c for c in out if c != "sudo systemctl restart edgecore"]
    return out

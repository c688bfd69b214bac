"""Show a report: a table for people (colour only on a terminal) or JSON for programs."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence, TextIO

from jetson_exporter.doctor.fixer import Change
from jetson_exporter.doctor.model import ERROR, INFO, OK, SKIP, WARN, Report

LABELS = {OK: "ok", INFO: "info", WARN: "WARN", ERROR: "ERROR", SKIP: "SKIP"}
_COLOURS = {OK: "32", INFO: "36", WARN: "33", ERROR: "31", SKIP: "35"}
SUBJECT_WIDTH = 44


def use_colour(stream: TextIO, choice: str = "auto") -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


class _Paint:
    def __init__(self, on: bool) -> None:
        self.on = on

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.on else text


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _indent(text: str, prefix: str, first: str = "") -> List[str]:
    lines = text.splitlines() or [""]
    return [(first or prefix) + lines[0]] + [prefix + line for line in lines[1:]]


def _short(subject: str, namespace: str) -> str:
    """`daemonset/<report namespace>/x` -> `daemonset/x`; the header names the namespace."""
    return subject.replace(f"/{namespace}/", "/", 1) if namespace else subject


def _summary(report: Report) -> str:
    counts = report.counts()
    parts = [f"{counts[OK]} ok"]
    if counts[INFO]:
        parts.append(f"{counts[INFO]} info")
    parts.append(f"{counts[WARN]} warning" + ("" if counts[WARN] == 1 else "s"))
    parts.append(f"{counts[ERROR]} error" + ("" if counts[ERROR] == 1 else "s"))
    if counts[SKIP]:
        parts.append(f"{counts[SKIP]} not checked")
    verdict = "all green" if report.healthy else "problems found"
    return " · ".join(parts) + f" → {verdict} (exit {report.exit_code})"


def render_table(report: Report, colour: bool = False) -> str:
    paint = _Paint(colour)
    header = " · ".join([f"jetson-exporter doctor · {report.mode}",
                         *(f"{k} {v}" for k, v in report.context.items() if v)])
    out = [paint(header, "1"), ""]
    if not report.findings:
        out.append("(no checks ran)")
    check_w = max([len("CHECK")] + [len(f.id) for f in report.findings])
    namespace = report.context.get("namespace", "")
    subject_w = min(SUBJECT_WIDTH, max([len("SUBJECT")] + [len(_short(f.subject, namespace))
                                                           for f in report.findings]))
    out.append(f"{'STATUS':<6}  {'CHECK':<{check_w}}  {'SUBJECT':<{subject_w}}  FINDING")
    pad = " " * 8
    for finding in report.findings:
        label = LABELS[finding.severity]
        status = paint(f"{label:<6}", _COLOURS[finding.severity] + (";1" if finding.problem else ""))
        subject = _short(finding.subject, report.context.get("namespace", ""))
        out.append(f"{status}  {finding.id:<{check_w}}  {_cut(subject, subject_w):<{subject_w}}  "
                   f"{finding.diagnosis}")
        if finding.severity == OK:
            continue
        if finding.evidence:
            out.extend(_indent(finding.evidence, pad + " " * 10, pad + paint("evidence", "2") + "  "))
        fix = finding.fix
        if fix is None:
            continue
        out.extend(_indent(fix.summary, pad + " " * 10, pad + paint("fix", "2") + "       "))
        if not finding.problem:
            continue  # optional advice: the summary is enough here, JSON has the rest
        for command in fix.commands:
            out.extend(_indent(command, pad + " " * 12, pad + " " * 10 + "$ "))
        if fix.automatic and finding.problem:
            how = ("(`--fix` makes this change after a backup, showing the diff)" if finding.id.startswith("E")
                   else "(`--fix` shows this change as a diff; `--fix --yes` applies it)")
            out.append(pad + " " * 10 + paint(how, "2"))
        for command in fix.then:
            out.append(pad + " " * 10 + "then: " + command)
        if fix.note:
            out.extend(_indent(fix.note, pad + " " * 10, pad + paint("note", "2") + "      "))
    out.append("")
    out.append(paint(_summary(report), "1;" + ("32" if report.healthy else "31")))
    return "\n".join(out) + "\n"


def render_changes(changes: Sequence[Change], applied: Optional[Sequence[str]], colour: bool = False) -> str:
    paint = _Paint(colour)
    out: List[str] = []
    if not changes:
        return "Nothing for --fix to change automatically (the table lists any manual steps).\n"
    title = "Changes" if applied is not None else "Planned changes (dry run: cluster patches apply with --yes)"
    out.append(paint(title, "1"))
    for change in changes:
        out.append("")
        out.append(paint(f"── {', '.join(change.findings)}: {change.target}", "1"))
        if change.error:
            out.append(paint(f"   not changed: {change.error}", "33"))
            continue
        for line in change.diff.splitlines():
            if line.startswith("+") and not line.startswith("+++"):
                out.append(paint(line, "32"))
            elif line.startswith("-") and not line.startswith("---"):
                out.append(paint(line, "31"))
            elif line.startswith("@@"):
                out.append(paint(line, "36"))
            else:
                out.append(line)
        if change.note:
            out.append(paint(f"   note: {change.note}", "2"))
    if applied is not None:
        out.append("")
        out.extend(applied or ["nothing applied"])
    return "\n".join(out) + "\n"


def render_then(commands: Sequence[str]) -> str:
    if not commands:
        return ""
    lines = ["", "The doctor restarts nothing. To make the changes take effect, run:"]
    lines.extend(f"  {c}" for c in commands)
    return "\n".join(lines) + "\n"


def render_json(report: Report, changes: Optional[Sequence[Change]] = None,
                applied: Optional[Sequence[str]] = None, then: Sequence[str] = ()) -> str:
    data: Dict[str, Any] = report.to_dict()
    if changes is not None:
        data["changes"] = [
            {"findings": c.findings, "target": c.target, "diff": c.diff, "error": c.error or None,
             "kubectl": c.patch.kubectl() if c.patch is not None else None}
            for c in changes]
        data["applied"] = list(applied) if applied is not None else None
        data["then"] = list(then)
    return json.dumps(data, indent=2) + "\n"

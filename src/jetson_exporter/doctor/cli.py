"""`jetson-exporter doctor`: argument parsing and the order of things (gather, check, show, fix)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Dict, List, Optional, Sequence, TextIO, Tuple

from jetson_exporter.cli import OneLineParser
from jetson_exporter.deploy.conventions import PRESETS
from jetson_exporter.doctor import fixer, render
from jetson_exporter.doctor.checks_cluster import ClusterView, run_cluster_checks
from jetson_exporter.doctor.checks_edge import run_cross_checks, run_edge_checks
from jetson_exporter.doctor.facts import ClusterFacts, EdgeFacts, dump_facts, load_facts
from jetson_exporter.doctor.kube import name_of
from jetson_exporter.doctor.model import EXIT_CANNOT_RUN, Finding, Report

PROG = "jetson-exporter doctor"


class DoctorError(Exception):
    """The doctor itself cannot run: one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=PROG,
        description="Find, explain and fix why an edge node's metrics don't reach Prometheus. Cluster mode "
        "(default) reads the cluster through a kubeconfig or in-cluster config; --edge runs on an edge node. "
        "Read-only unless --fix: on an edge node it edits edgecore.yaml (after a backup); in the cluster it "
        "shows patches, applied with --yes.",
        epilog="Exit codes: 0 all checks passed, 1 problems found (or a check could not run), 2 the doctor could "
        "not run. Every check and its fix per KubeEdge version: docs/DOCTOR.md.",
    )
    mode = parser.add_argument_group("mode")
    mode.add_argument("--edge", action="store_true", help="check this edge node (edgecore, systemd, local endpoints)")
    mode.add_argument("--facts", metavar="FILE", action="append",
                      help="check recorded facts instead of a live cluster or node; repeat to combine a cluster's "
                      "and a node's recording (adds the cross checks)")
    mode.add_argument("--save-facts", metavar="FILE",
                      help="write the facts the final report is based on (secrets redacted) for a bug report "
                      "or a later --facts run")
    cluster = parser.add_argument_group("cluster")
    cluster.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig (default $KUBECONFIG, ~/.kube/config, "
                         "then in-cluster config)")
    cluster.add_argument("--context", metavar="NAME", help="kubeconfig context")
    cluster.add_argument("--preset", choices=sorted(PRESETS), default="kubesphere",
                         help="which monitoring stack the cluster runs (default %(default)s)")
    cluster.add_argument("--namespace", metavar="NS", help="namespace of the jetson-exporter objects and "
                         "node-exporter (default: the preset's)")
    cluster.add_argument("--node", action="append", default=[], metavar="NAME",
                         help="check only these nodes (repeatable)")
    prom = parser.add_argument_group("prometheus (scrape health and console data, cluster mode)")
    where = prom.add_mutually_exclusive_group()
    where.add_argument("--prometheus", metavar="URL", help="Prometheus base URL, e.g. http://<node>:32143")
    where.add_argument("--kubesphere", metavar="URL", help="KubeSphere console/ks-apiserver URL; its query endpoint "
                       "needs --token-file (no targets API: scrape health comes from `up`)")
    prom.add_argument("--token-file", metavar="FILE", help="bearer token for --prometheus or --kubesphere "
                      "(read from a file so that it never shows in `ps`)")
    prom.add_argument("--insecure-skip-tls-verify", action="store_true", help="accept any TLS certificate")
    edge = parser.add_argument_group("edge (with --edge)")
    edge.add_argument("--root", metavar="DIR", help="read the node's files from a copy laid out under DIR "
                      "(DIR/etc/kubeedge/config/edgecore.yaml, DIR/etc/systemd/system/edgecore.service, ...); "
                      "commands and default probes are skipped")
    edge.add_argument("--edgecore-config", metavar="FILE", help="edgecore.yaml in a non-default place")
    edge.add_argument("--kubeedge-version", metavar="VERSION", help="KubeEdge version when `edgecore --version` "
                      "cannot tell (e.g. with --root)")
    edge.add_argument("--metaserver-url", metavar="URL", help="probe this instead of the metaServer in edgecore.yaml")
    edge.add_argument("--node-exporter-url", metavar="URL", help="default http://127.0.0.1:9100/metrics")
    edge.add_argument("--exporter-url", metavar="URL", help="default http://127.0.0.1:9998/metrics")
    fix = parser.add_argument_group("fixing")
    fix.add_argument("--fix", action="store_true", help="show every change that fixes a finding, as a diff; "
                     "with --edge, also make them (edgecore.yaml after a timestamped backup, a systemd drop-in)")
    fix.add_argument("--yes", action="store_true", help="with --fix: apply the cluster patches too. "
                     "Nothing is ever restarted")
    fix.add_argument("--only", action="append", default=[], metavar="ID",
                     help="with --fix: only findings whose id is or starts with ID, e.g. C4 or E3.cluster-dns")
    out = parser.add_argument_group("output")
    out.add_argument("--output", choices=("table", "json"), default="table")
    out.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    out.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                     help="per request (default %(default)s)")
    return parser


# -- gathering --------------------------------------------------------------------------------------------------


def _read_token(path: Optional[str]) -> Optional[str]:
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            token = fh.read().strip()
    except OSError as exc:
        raise DoctorError(f"cannot read --token-file {path}: {exc.strerror or exc}") from None
    if not token:
        raise DoctorError(f"--token-file {path} is empty")
    return token


def _gather_cluster(args: argparse.Namespace) -> Tuple[ClusterFacts, Any]:
    from jetson_exporter.doctor.gather_cluster import ClusterAccessError, ClusterGatherer, connect

    try:
        api_client = connect(args.kubeconfig, args.context)
        facts = ClusterGatherer(api_client, args.preset, args.namespace, args.timeout).gather()
    except ClusterAccessError as exc:
        raise DoctorError(str(exc)) from None
    _gather_prometheus(args, facts)
    return facts, api_client


def _gather_prometheus(args: argparse.Namespace, facts: ClusterFacts) -> None:
    if not (args.prometheus or args.kubesphere):
        return
    from jetson_exporter.doctor.gather_prometheus import HttpClient, gather_prometheus

    token = _read_token(args.token_file)
    if args.kubesphere and not token:
        raise DoctorError("--kubesphere needs --token-file FILE (a token from POST /oauth/token)")
    view = ClusterView(facts, args.node)
    jetson = {name_of(n) for n in view.jetson_nodes}
    nodes = [(name_of(n), name_of(n) in jetson) for n in view.edge_nodes]
    client = HttpClient(args.prometheus or args.kubesphere, token, args.insecure_skip_tls_verify, args.timeout)
    ds = name_of(facts.node_exporter_daemonset) or "node-exporter"
    facts.prometheus = gather_prometheus(client, "kubesphere" if args.kubesphere else "prometheus", nodes, ds)


def _gather_edge(args: argparse.Namespace) -> EdgeFacts:
    from jetson_exporter.doctor.gather_edge import EdgeGatherer

    if args.root and not os.path.isdir(args.root):
        raise DoctorError(f"--root {args.root} is not a directory")
    return EdgeGatherer(root=args.root or "/", edgecore_config=args.edgecore_config,
                        kubeedge_version=args.kubeedge_version, metaserver_url=args.metaserver_url,
                        node_exporter_url=args.node_exporter_url, exporter_url=args.exporter_url,
                        timeout_s=min(args.timeout, 5.0)).gather()


# -- checking ------------------------------------------------------------------------------------------------------


def check(cluster: Optional[ClusterFacts], edge: Optional[EdgeFacts], only_nodes: Sequence[str] = (),
          context: Optional[Dict[str, str]] = None) -> Report:
    """All checks for the facts at hand (pure)."""
    findings: List[Finding] = []
    if cluster is not None:
        findings.extend(run_cluster_checks(cluster, only_nodes))
    if edge is not None:
        findings.extend(run_edge_checks(edge))
    if cluster is not None and edge is not None:
        findings.extend(run_cross_checks(cluster, edge))
    mode = "+".join(m for m, f in (("cluster", cluster), ("edge", edge)) if f is not None)
    return Report(mode=mode, findings=findings, context=dict(context or {}))


def _context(args: argparse.Namespace, cluster: Optional[ClusterFacts],
             edge: Optional[EdgeFacts]) -> Dict[str, str]:
    ctx: Dict[str, str] = {}
    if args.facts:
        ctx["facts"] = ", ".join(args.facts)
    if cluster is not None:
        ctx["preset"] = cluster.preset
        ctx["namespace"] = cluster.namespace
        if cluster.prometheus is not None:
            ctx["prometheus"] = cluster.prometheus.url
    if edge is not None:
        ctx["config"] = edge.edgecore_path
        if edge.root not in ("", "/"):
            ctx["root"] = edge.root
    return ctx


# -- the run ----------------------------------------------------------------------------------------------------------


class _Run:
    def __init__(self, args: argparse.Namespace, stdout: TextIO) -> None:
        self.args = args
        self.stdout = stdout
        self.colour = render.use_colour(stdout, args.color) and args.output == "table"
        self.api_client: Any = None

    def gather(self) -> Tuple[Optional[ClusterFacts], Optional[EdgeFacts]]:
        args = self.args
        if args.facts:
            cluster: Optional[ClusterFacts] = None
            edge: Optional[EdgeFacts] = None
            for path in args.facts:
                try:
                    with open(path, encoding="utf-8") as fh:
                        one_cluster, one_edge = load_facts(fh.read())
                except OSError as exc:
                    raise DoctorError(f"cannot read --facts {path}: {exc.strerror or exc}") from None
                except ValueError as exc:
                    raise DoctorError(f"--facts {path}: {exc}") from None
                cluster = one_cluster or cluster
                edge = one_edge or edge
            if args.edge and edge is None:
                raise DoctorError(f"--facts {', '.join(args.facts)}: no edge facts")
            return (None if args.edge else cluster), edge
        if args.edge:
            return None, _gather_edge(args)
        live, self.api_client = _gather_cluster(args)
        return live, None

    def edge_text(self, edge: EdgeFacts) -> Optional[str]:
        """The real (unredacted) edgecore.yaml for a live fix; the recorded text for --facts."""
        if self.args.facts:
            return edge.edgecore_text
        try:
            with open(edge.edgecore_path, encoding="utf-8") as fh:
                return fh.read()
        except OSError:
            return None

    def run(self) -> int:
        args = self.args
        cluster, edge = self.gather()
        report = check(cluster, edge, args.node, _context(args, cluster, edge))
        if not args.fix:
            self._save(cluster, edge)
            self._show(report)
            return report.exit_code

        chosen = fixer.selected(report.findings, [o for item in args.only for o in item.split(",") if o])
        changes: List[fixer.Change] = []
        if cluster is not None:
            changes.extend(fixer.plan_cluster(chosen, cluster))
        if edge is not None:
            changes.extend(fixer.plan_edge(chosen, edge, self.edge_text(edge)))
        then = fixer.restart_commands(changes)
        # On the node, --fix edits the local files (after a timestamped backup; nothing restarts);
        # cluster patches reach shared objects and are applied only with --yes.
        local_only = args.edge and all(c.patch is None for c in changes)
        if not (args.yes or local_only):
            self._save(cluster, edge)
            self._show(report, changes, None, then)
            return report.exit_code

        applied = self._apply(changes, cluster, edge)
        if args.facts:
            after_cluster, after_edge = cluster, edge
        else:
            after_cluster, after_edge = self.gather()
        after = check(after_cluster, after_edge, args.node, _context(args, after_cluster, after_edge))
        self._save(after_cluster, after_edge)
        self._show(report, changes, applied, then, after)
        return after.exit_code

    def _apply(self, changes: Sequence[fixer.Change], cluster: Optional[ClusterFacts],
               edge: Optional[EdgeFacts]) -> List[str]:
        messages: List[str] = []
        cluster_changes = [c for c in changes if c.patch is not None]
        edge_changes = [c for c in changes if c.patch is None and c.path]
        if self.args.facts:
            if cluster is not None:
                messages.extend(fixer.apply_to_cluster_facts(cluster_changes, cluster))
            if edge is not None:
                messages.extend(fixer.apply_to_edge_facts(edge_changes, edge))
            return messages
        if cluster_changes:
            from jetson_exporter.doctor.gather_cluster import apply_patches

            messages.extend(apply_patches(self.api_client, cluster_changes, self.args.timeout))
        if edge_changes:
            messages.extend(fixer.apply_to_files(edge_changes))
        return messages

    def _save(self, cluster: Optional[ClusterFacts], edge: Optional[EdgeFacts]) -> None:
        if not self.args.save_facts:
            return
        try:
            with open(self.args.save_facts, "w", encoding="utf-8") as fh:
                fh.write(dump_facts(cluster, edge))
        except OSError as exc:
            raise DoctorError(f"cannot write --save-facts {self.args.save_facts}: {exc.strerror or exc}") from None

    def _show(self, report: Report, changes: Optional[Sequence[fixer.Change]] = None,
              applied: Optional[Sequence[str]] = None, then: Sequence[str] = (),
              after: Optional[Report] = None) -> None:
        if self.args.output == "json":
            text = render.render_json(report, changes, applied, then)
            if after is not None:
                import json

                data = json.loads(text)
                data["after"] = after.to_dict()
                text = json.dumps(data, indent=2) + "\n"
            self.stdout.write(text)
            return
        self.stdout.write(render.render_table(report, self.colour))
        if changes is not None:
            self.stdout.write("\n" + render.render_changes(changes, applied, self.colour))
            self.stdout.write(render.render_then(then))
        if after is not None:
            self.stdout.write("\nAfter the changes:\n\n" + render.render_table(after, self.colour))


def main(argv: Sequence[str], stdout: Optional[TextIO] = None) -> int:
    try:
        args = build_parser().parse_args(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_CANNOT_RUN
    if args.yes and not args.fix:
        print(f"{PROG}: error: --yes only makes sense with --fix (see --help)", file=sys.stderr)
        return EXIT_CANNOT_RUN
    try:
        return _Run(args, stdout or sys.stdout).run()
    except DoctorError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except KeyboardInterrupt:
        return 130

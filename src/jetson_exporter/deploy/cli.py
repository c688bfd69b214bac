"""`jetson-exporter manifests`: render the deployment for a cluster, to stdout or a directory.

Bad flags are one line on stderr and exit code 2; everything is rendered before anything is
written, so a bad combination never leaves a partial directory behind.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import Callable, List, NoReturn, Optional, Sequence, Tuple, TypeVar

from jetson_exporter.deploy import conventions, options, render
from jetson_exporter.deploy.options import OptionError, Options

PROG = "jetson-exporter manifests"
T = TypeVar("T")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise OptionError(message)


def _checked(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type that reports OptionError's message as is."""
    def convert(text: str) -> T:
        try:
            return parse(text)
        except OptionError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = parse.__name__.replace("parse_", "")
    return convert


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Render the Kubernetes deployment of the exporter: DaemonSet, Service, ServiceMonitor and "
        "alert rules (pull), or with a Prometheus agent that remote-writes to the cloud (push).",
        epilog="Install on KubeSphere: kubectl label node NODE machine.type=jetson; "
        f"{PROG} --preset kubesphere | kubectl apply -f -",
    )
    what = parser.add_argument_group("what to render (default: the exporter's resources)")
    only = what.add_mutually_exclusive_group()
    only.add_argument("--kubesphere-node-exporter-patch", dest="target", action="store_const",
                      const="node-exporter-patch",
                      help="instead: the patch that lets KubeSphere's node-exporter run on edge nodes, with the "
                      "KubeEdge prerequisites as comments")
    only.add_argument("--remote-write-receiver-patch", dest="target", action="store_const",
                      const="remote-write-receiver-patch",
                      help="instead: the patch that switches on the cloud Prometheus's remote-write receiver")
    only.add_argument("--plain-rules", dest="target", action="store_const", const="plain-rules",
                      help="instead: the alert rules as a Prometheus rules file (installs without the operator)")
    what.add_argument("--output-dir", metavar="DIR",
                      help="write one file per object and a kustomization.yaml into DIR instead of stdout")

    cluster = parser.add_argument_group("cluster")
    cluster.add_argument("--preset", choices=tuple(conventions.PRESETS), default="kubesphere",
                         help="kubesphere: namespace kubesphere-monitoring-system, rules labelled for KubeSphere's "
                         "Prometheus; kube-prometheus: namespace monitoring, labels kube-prometheus-stack selects "
                         "(default %(default)s)")
    cluster.add_argument("--namespace", type=_checked(options.parse_namespace), default=None,
                         help="namespace of the objects (default: the preset's)")
    cluster.add_argument("--image", type=_checked(options.parse_image), default=options.IMAGE,
                         help="exporter image (default %(default)s)")
    cluster.add_argument("--node-selector", type=_checked(options.parse_node_selector),
                         default=Options().node_selector, metavar="KEY=VALUE[,KEY=VALUE]",
                         help="labels of the nodes to run on (default "
                         f"{conventions.NODE_LABEL_KEY}={conventions.NODE_LABEL_VALUE})")
    cluster.add_argument("--profile", choices=options.PROFILES, default="default",
                         help="default (the default): non-root, no debugfs; debugfs: also memory controller, "
                         "engine and GPC clocks and per-process GPU memory, as root")
    cluster.add_argument("--scrape-interval", type=_checked(options.parse_duration), default="1m",
                         metavar="DURATION", help="how often Prometheus (or the agent) scrapes (default %(default)s)")

    push = parser.add_argument_group("push mode (a Prometheus agent beside the exporter remote-writes)")
    push.add_argument("--mode", choices=options.MODES, default="pull",
                      help="pull: the cloud Prometheus scrapes the nodes; push: for nodes it cannot reach "
                      "(default %(default)s)")
    push.add_argument("--remote-write-url", dest="remote_write_urls", action="append", default=[], metavar="URL",
                      type=_checked(options.parse_remote_write_url),
                      help="the cloud Prometheus's /api/v1/write; repeat to write to each replica")
    push.add_argument("--remote-write-username", metavar="USER",
                      help="basic auth user; the password is key `password` of the Secret")
    push.add_argument("--remote-write-bearer-token", action="store_true",
                      help="send the bearer token from key `token` of the Secret")
    push.add_argument("--remote-write-ca", action="store_true",
                      help="verify the remote end with the CA bundle in key `ca.crt` of the Secret")
    push.add_argument("--remote-write-client-cert", action="store_true",
                      help="present the client certificate in keys `tls.crt`/`tls.key` of the Secret")
    push.add_argument("--remote-write-server-name", metavar="NAME", help="TLS server name to verify")
    push.add_argument("--remote-write-secret", type=_checked(options.parse_secret_name),
                      default=conventions.REMOTE_WRITE_SECRET, metavar="NAME",
                      help="the Secret holding the credentials, created by you (default %(default)s)")
    push.add_argument("--external-label", dest="external_labels", action="append", default=[],
                      type=_checked(options.parse_external_label), metavar="NAME=VALUE",
                      help="extra label on every pushed series, e.g. cluster=edge-eu (repeatable)")
    push.add_argument("--push-node-exporter", nargs="?", const="127.0.0.1:9100", default=None,
                      type=_checked(options.parse_address), metavar="HOST:PORT",
                      help="also push the node's node-exporter (default address %(const)s), as job=node-exporter")
    push.add_argument("--agent-image", type=_checked(options.parse_image), default=options.AGENT_IMAGE,
                      help="Prometheus image for the agent (default %(default)s)")
    push.add_argument("--agent-wal-retention", type=_checked(options.parse_duration), default="24h",
                      metavar="DURATION", help="longest link outage the agent's WAL bridges (default %(default)s)")
    return parser


def options_from_args(args: argparse.Namespace) -> Options:
    return options.validate(Options(
        preset=args.preset,
        namespace=args.namespace or "",
        image=args.image,
        node_selector=args.node_selector,
        profile=args.profile,
        mode=args.mode,
        target=args.target or "resources",
        scrape_interval=args.scrape_interval,
        remote_write_urls=tuple(args.remote_write_urls),
        remote_write_username=args.remote_write_username,
        remote_write_bearer_token=args.remote_write_bearer_token,
        remote_write_ca=args.remote_write_ca,
        remote_write_client_cert=args.remote_write_client_cert,
        remote_write_server_name=args.remote_write_server_name,
        remote_write_secret=args.remote_write_secret,
        external_labels=tuple(args.external_labels),
        push_node_exporter=args.push_node_exporter,
        agent_image=args.agent_image,
        agent_wal_retention=args.agent_wal_retention,
    ))


def command_line(argv: Sequence[str]) -> str:
    return "jetson-exporter manifests" + "".join(f" {shlex.quote(arg)}" for arg in argv)


def plan(argv: Sequence[str]) -> Tuple[Options, Optional[str], List[render.RenderedFile]]:
    """Parse and render without writing: (options, output dir or None, files). Raises OptionError."""
    args = build_parser().parse_args(list(argv))
    opts = options_from_args(args)
    if args.output_dir and os.path.exists(args.output_dir) and not os.path.isdir(args.output_dir):
        raise OptionError(f"--output-dir {args.output_dir} exists and is not a directory")
    files = render.render(opts, command_line(argv), directory=args.output_dir)
    return opts, args.output_dir, files


def main(argv: Sequence[str]) -> int:
    try:
        opts, output_dir, files = plan(argv)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except OptionError as exc:
        print(f"{PROG}: error: {exc} (see --help)", file=sys.stderr)
        return 2
    if output_dir is None:
        if opts.target == "resources":
            # A patch in a stream meant for `kubectl apply -f -` would only get in the way.
            held_back = [f.filename for f in files if f.kind == render.PATCH]
            files = [f for f in files if f.kind != render.PATCH]
            if held_back:
                print(f"{PROG}: note: the cloud Prometheus needs its remote-write receiver switched on: "
                      f"render the patch with --remote-write-receiver-patch", file=sys.stderr)
        sys.stdout.write(render.stream(files))
        return 0
    try:
        render.write(output_dir, files)
    except OSError as exc:
        print(f"{PROG}: error: cannot write to {output_dir}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    for rendered in files:
        print(f"wrote {output_dir.rstrip('/')}/{rendered.filename}", file=sys.stderr)
    return 0

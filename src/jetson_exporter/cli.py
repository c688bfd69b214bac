"""Command line: argument parsing and dispatch only.

`jetson-exporter [flags]` serves metrics; `jetson-exporter SUBCOMMAND ...` runs a tool. Each
subcommand lives in its own module with a `main(argv) -> int`, imported only when used so that
the exporter on a board never loads the operator-side dependencies.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import re
import signal
import sys
import threading
import time
from typing import List, NoReturn, Optional, Sequence

from jetson_exporter import __version__
from jetson_exporter.paths import Paths
from jetson_exporter.readers import READERS

PROG = "jetson-exporter"
SOURCES = ("sysfs", "tegrastats", "jtop")

# name -> (module with `main(argv) -> int`, one-line description)
SUBCOMMANDS = {
    "manifests": ("jetson_exporter.deploy.cli", "render Kubernetes/KubeSphere manifests, alerts and dashboards"),
    "doctor": ("jetson_exporter.doctor.cli", "find, explain and fix why edge metrics don't arrive"),
    "simulate": ("jetson_exporter.simulate.cli", "run simulated Jetson boards (no hardware needed)"),
    "top": ("jetson_exporter.view.top", "live fleet table over the Prometheus HTTP API"),
    "tegrastats": ("jetson_exporter.sources.tegrastats_cli", "convert tegrastats logs to OpenMetrics for backfill"),
}

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")


class UsageError(Exception):
    """A bad flag or flag combination: one line, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse with the project's error style: one line on stderr, exit code 2 (not usage + error)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def parse_duration(text: str) -> float:
    """`1s`, `500ms`, `2m`, `1.5` (seconds) -> seconds."""
    m = _DURATION.match(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (use e.g. 1s, 500ms, 2m)")
    value = float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}[m.group(2)]
    if value <= 0:
        raise argparse.ArgumentTypeError(f"duration must be positive, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=PROG,
        description="Prometheus exporter for NVIDIA Jetson boards. Reads the board's own files "
        "(sysfs, procfs, debugfs) and serves metrics on /metrics.",
        epilog="Subcommands: " + "; ".join(f"{name}: {desc}" for name, (_, desc) in SUBCOMMANDS.items())
        + f". Run `{PROG} SUBCOMMAND --help` for each.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    web = parser.add_argument_group("web")
    web.add_argument("--web.listen-address", dest="listen_address", default=":9998", metavar="[HOST]:PORT",
                     help="address to listen on (default %(default)s; 9100 belongs to node_exporter)")
    web.add_argument("--web.telemetry-path", dest="telemetry_path", default="/metrics", metavar="PATH",
                     help="path under which metrics are served (default %(default)s)")
    web.add_argument("--web.config.file", dest="web_config", metavar="FILE",
                     help="exporter-toolkit web config: TLS and basic auth; re-read when it changes")
    web.add_argument("--web.max-requests", dest="max_requests", type=int, default=40, metavar="N",
                     help="scrapes served in parallel; more get 503 (default %(default)s)")
    paths = parser.add_argument_group("paths (all files are read through these)")
    paths.add_argument("--root", metavar="DIR",
                       help="read a host laid out under DIR: sets rootfs=DIR, sysfs=DIR/sys, procfs=DIR/proc, "
                       "debugfs=DIR/sys/kernel/debug (explicit --path.* flags still win)")
    paths.add_argument("--path.sysfs", dest="sysfs", metavar="DIR", help="sysfs mount point (default /sys)")
    paths.add_argument("--path.procfs", dest="procfs", metavar="DIR", help="procfs mount point (default /proc)")
    paths.add_argument("--path.rootfs", dest="rootfs", metavar="DIR",
                       help="host root filesystem, for /etc and /var/lib (default /)")
    paths.add_argument("--path.debugfs", dest="debugfs", metavar="DIR",
                       help="debugfs mount point (default <sysfs>/kernel/debug)")
    sampling = parser.add_argument_group("sampling")
    sampling.add_argument("--source", choices=SOURCES, default="sysfs",
                          help="where readings come from: the board's files (default), a tegrastats stream, "
                          "or an already running jtop service")
    sampling.add_argument("--sampler.interval", dest="interval", type=parse_duration, default=1.0,
                          metavar="DURATION", help="time between readings (default 1s)")
    sampling.add_argument("--sampler.timeout", dest="timeout", type=parse_duration, metavar="DURATION",
                          help="a collector stuck longer than this is reported failed and skipped until it "
                          "returns (default: 2 intervals, at least 2s)")
    collectors = parser.add_argument_group(
        "collectors (sysfs source)",
        "All are on by default. --no-collector.NAME turns one off; naming any with --collector.NAME "
        "turns on only the ones named.")
    for name, cls in READERS.items():
        collectors.add_argument(f"--collector.{name}", dest=f"collector_{name}", action="store_true",
                                default=None, help=f"enable the {name} collector: {cls.description}")
        collectors.add_argument(f"--no-collector.{name}", dest=f"collector_{name}", action="store_false",
                                help=argparse.SUPPRESS)
    tegra = parser.add_argument_group("tegrastats source")
    tegra.add_argument("--tegrastats.path", dest="tegrastats_path", default="tegrastats", metavar="PATH",
                       help="tegrastats binary to run (default %(default)s)")
    tegra.add_argument("--tegrastats.interval", dest="tegrastats_interval", type=parse_duration,
                       metavar="DURATION", help="tegrastats --interval (default: the sampler interval)")
    tegra.add_argument("--tegrastats.file", dest="tegrastats_file", metavar="FILE",
                       help="read lines from a file or FIFO being appended to instead of running tegrastats")
    logs = parser.add_argument_group("logging")
    logs.add_argument("--log.level", dest="log_level", default="info",
                      choices=("debug", "info", "warn", "error"), help="(default %(default)s)")
    parser.add_argument("--once", action="store_true",
                        help="print one full exposition to stdout and exit (debugging, scripts)")
    return parser


def paths_from_args(args: argparse.Namespace) -> Paths:
    base = Paths.under(args.root) if args.root else Paths()
    sysfs = args.sysfs or base.sysfs
    debugfs = args.debugfs or os.path.join(sysfs, "kernel", "debug")
    return Paths(sysfs=sysfs, procfs=args.procfs or base.procfs, rootfs=args.rootfs or base.rootfs,
                 debugfs=debugfs)


def enabled_collectors(args: argparse.Namespace) -> List[str]:
    """Every collector is on unless switched off; naming any with --collector.X enables only those."""
    chosen = {name: getattr(args, f"collector_{name}") for name in READERS}
    explicit_on = [n for n, v in chosen.items() if v is True]
    if explicit_on:
        return [n for n in READERS if chosen[n] is True]
    return [n for n, cls in READERS.items() if chosen[n] is not False and (chosen[n] or cls.default_enabled)]


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level={"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}[level],
        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S%z",
        stream=sys.stderr,
    )


def _make_collectors(args: argparse.Namespace, paths: Paths) -> list:  # type: ignore[type-arg]
    if args.source == "sysfs":
        from jetson_exporter.sources.sysfs import make_readers

        return make_readers(paths, enabled_collectors(args), keep_open=True)
    module = importlib.import_module(f"jetson_exporter.sources.{args.source}")
    collectors = [module.make_collector(args)]
    if args.source == "tegrastats":
        from jetson_exporter.sources.sysfs import make_readers

        # tegrastats does not say which board it runs on: its identity comes from the board's files.
        collectors = [*make_readers(paths, ["board"]), *collectors]
    return collectors


def serve(args: argparse.Namespace) -> int:
    from jetson_exporter.exporter import Exporter
    from jetson_exporter.server import ExporterServer, parse_listen_address
    from jetson_exporter.sources.sysfs import device_detected
    from jetson_exporter.webconfig import WebConfigError, WebConfigWatcher

    log = logging.getLogger("jetson_exporter")
    paths = paths_from_args(args)
    try:
        address = parse_listen_address(args.listen_address)
        web = WebConfigWatcher(args.web_config) if not args.once else None
    except (ValueError, WebConfigError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    try:
        collectors = _make_collectors(args, paths)
    except (ValueError, OSError, ImportError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    detect = (lambda sample: device_detected(sample.snapshot)) if args.source != "jtop" else None
    exporter = Exporter(collectors, args.source, interval_s=args.interval, timeout_s=args.timeout,
                        detect=detect, metrics_path=args.telemetry_path)
    if args.once:
        # Two ticks, so that utilization (a difference between readings) is in the output too.
        exporter.sampler.tick()
        time.sleep(min(args.interval, 0.25))
        exporter.sampler.tick()
        sys.stdout.buffer.write(exporter.exposition_text())
        _close(collectors)
        return 0
    assert web is not None
    try:
        server = ExporterServer(address, exporter, web, metrics_path=args.telemetry_path,
                                max_requests=args.max_requests)
    except OSError as exc:
        print(f"{PROG}: error: cannot listen on {args.listen_address}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # What start-up made (modules, the catalog, readers' plans) lives as long as the process: out
    # of the collector's generations, full collections no longer walk it every time they run.
    gc.freeze()
    exporter.sampler.start()
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    scheme = "https" if web.current.tls else "http"
    log.info("listening on %s://%s:%d%s (source %s, collectors %s)", scheme, address[0] or "*", server.port,
             args.telemetry_path, args.source, ",".join(c.name for c in collectors))
    if detect is not None and exporter.sampler.wait_first(5.0) and not detect(exporter.sampler.latest):
        log.warning("no Jetson detected: looked for %s and %s; exporting what is readable",
                    paths.root("etc", "nv_tegra_release"), paths.device_tree("compatible"))
    # Every scrape supervises the sampler too; this loop only covers long stretches without one.
    while not stop.wait(max(exporter.sampler.timeout_s, 5.0)):
        exporter.sampler.supervise()
    log.info("shutting down")
    server.shutdown()
    server.server_close()
    exporter.sampler.stop()
    _close(collectors)
    return 0


def _close(collectors: Sequence[object]) -> None:
    for collector in collectors:
        close = getattr(collector, "close", None)
        if close is not None:
            close()


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        module_name, _ = SUBCOMMANDS[argv[0]]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            print(f"{PROG}: error: `{argv[0]}` is not available: {exc} "
                  "(operator tools need `pip install 'jetson-exporter[ops]'`)", file=sys.stderr)
            return 2
        return int(module.main(argv[1:]))
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())

"""`jetson-exporter simulate`: simulated Jetson boards served like real ones, no hardware needed."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from typing import List, Optional, Sequence

from jetson_exporter.cli import OneLineParser, parse_duration, setup_logging
from jetson_exporter.simulate.fleet import DEFAULT_PREFIX, Fleet
from jetson_exporter.simulate.models import MODELS
from jetson_exporter.simulate.scenarios import SCENARIOS

PROG = "jetson-exporter simulate"
DEFAULT_PORT = 9998
DEFAULT_HISTORY = 720
# One board shows the newest module first; a fleet takes every model in this order.
MODEL_ORDER = ("agx-orin-jp6", "orin-nano-jp6", "xavier-nx-jp5", "agx-xavier-jp5", "thor-jp7", "nano-jp4",
               "nano-2gb-jp4")


def build_parser() -> argparse.ArgumentParser:
    scenarios = "; ".join(f"{name}: {(factory().description.split(':')[0]).strip()}"
                          for name, factory in SCENARIOS.items())
    parser = OneLineParser(
        prog=PROG,
        description="Run simulated Jetson boards: each writes a live fake device tree and serves it through "
        "the exporter's normal readers on its own port. Ground truth is on each board's /truth page (JSON).",
        epilog=f"Scenarios: {scenarios}.",
    )
    parser.add_argument("--model", action="append", choices=sorted(MODELS), metavar="MODEL",
                        help="board model, repeatable: boards take them in turn (default: agx-orin-jp6 for one "
                        f"board, every model for a fleet); one of {', '.join(sorted(MODELS))}")
    parser.add_argument("--nodes", type=int, default=1, metavar="N",
                        help="number of boards, on consecutive ports (default %(default)s)")
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS), metavar="SCENARIO",
                        help=f"situation, repeatable: boards take them in turn (default waves); one of "
                        f"{', '.join(SCENARIOS)}")
    parser.add_argument("--listen-address", default="127.0.0.1", metavar="HOST",
                        help="address the boards listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, metavar="PORT",
                        help="port of the first board; the next ones follow (default %(default)s; 0: any free port)")
    parser.add_argument("--tick", type=parse_duration, metavar="DURATION",
                        help="time between a board's readings (default 1s for one board, 5s for a fleet)")
    parser.add_argument("--seed", type=int, default=1, metavar="N",
                        help="seed of the boards' randomness: the same seed gives the same fleet (default %(default)s)")
    parser.add_argument("--name-prefix", default=DEFAULT_PREFIX, metavar="TEXT",
                        help="board names are PREFIX-MODEL-NNN (default %(default)s)")
    parser.add_argument("--root", metavar="DIR",
                        help="write the device trees under DIR/<board> and keep them (default: a temporary "
                        "directory removed at exit)")
    parser.add_argument("--targets-file", metavar="FILE",
                        help="write the boards as a Prometheus file_sd JSON file (labels: instance and node = "
                        "the board's name, sim_model, sim_scenario)")
    parser.add_argument("--history", type=int, default=DEFAULT_HISTORY, metavar="N",
                        help="ground-truth records kept per board (default %(default)s)")
    parser.add_argument("--duration", type=parse_duration, metavar="DURATION",
                        help="stop after this long (default: run until interrupted)")
    parser.add_argument("--log.level", dest="log_level", default="info",
                        choices=("debug", "info", "warn", "error"), help="(default %(default)s)")
    return parser


def _check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if args.nodes < 1:
        parser.error(f"--nodes must be at least 1, got {args.nodes}")
    if not 0 <= args.port <= 65535 or (args.port and args.port + args.nodes - 1 > 65535):
        parser.error(f"ports {args.port}..{args.port + args.nodes - 1} are not all valid TCP ports")
    if args.history < 1:
        parser.error(f"--history must be at least 1, got {args.history}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    _check(args, parser)
    setup_logging(args.log_level)
    log = logging.getLogger("jetson_exporter.simulate")
    models: List[str] = args.model or ([MODEL_ORDER[0]] if args.nodes == 1 else list(MODEL_ORDER))
    root = args.root or tempfile.mkdtemp(prefix="jetson-simulate-")
    fleet = Fleet.create(root, args.nodes, models, args.scenario or ["waves"], host=args.listen_address,
                         port=args.port, tick_s=args.tick, seed=args.seed, prefix=args.name_prefix,
                         history=args.history)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.monotonic()
    try:
        try:
            fleet.start()
        except OSError as exc:
            print(f"{PROG}: error: cannot listen on {args.listen_address} (ports from {args.port}): "
                  f"{exc.strerror or exc}", file=sys.stderr)
            return 1
        if args.targets_file:
            fleet.write_targets(args.targets_file)
        for b in fleet.boards:
            print(f"{b.name}\t{b.model.spec.name}\t{b.scenario.name}\t{b.url()}", flush=True)
        log.info("%d simulated board(s) running, a reading every %gs; trees under %s", len(fleet.boards),
                 fleet.tick_s, root)
        deadline = None if args.duration is None else started + args.duration
        while not stop.is_set():
            wait = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
            if wait <= 0 or stop.wait(wait):
                break
        log.info("stopping")
    finally:
        fleet.stop()
        if args.root is None:
            shutil.rmtree(root, ignore_errors=True)
        if args.targets_file and os.path.exists(args.targets_file + ".tmp"):
            os.remove(args.targets_file + ".tmp")
    return 0


if __name__ == "__main__":
    sys.exit(main())

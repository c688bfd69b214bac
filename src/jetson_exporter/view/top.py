"""`jetson-exporter top`: a live fleet table over the Prometheus HTTP API (stdlib only).

Each refresh sends a fixed set of queries (fleet.build_queries: one per column, one range query per
sparkline) whatever the number of boards, in parallel. A failed refresh keeps the last table on
screen, marked stale, under a one-line error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Dict, List, NoReturn, Optional, Sequence, TextIO, Tuple, TypeVar

from jetson_exporter.view import fleet
from jetson_exporter.view.fleet import DOWN, STALE, UP, QuerySet, Row, TrendGrid
from jetson_exporter.view.promapi import KUBESPHERE, PROMETHEUS, Client, PromError, Sample, Series

PROG = "jetson-exporter top"
TOKEN_ENV = "JETSON_TOP_TOKEN"
ABSENT = "\u2013"  # an en dash: absent, never zero
TREND_POINTS = 12
SPARK = "▁▂▃▄▅▆▇█"
SORT_NAMES = tuple(fleet.SORT_KEYS)


class UsageError(Exception):
    """A bad flag or an unusable setting: one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _duration(text: str) -> float:
    try:
        return fleet.duration_seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _prom_duration(text: str) -> str:
    _duration(text)
    return text


def _regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"invalid regular expression {text!r}: {exc}") from None


def _selector(text: str) -> str:
    try:
        return fleet.check_selector(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Live table of every Jetson in Prometheus: model, power mode, up/down/stale, GPU, "
        "temperatures, CPU, RAM, board power and fan, with sparklines. A fixed number of queries per refresh, "
        "whatever the size of the fleet.",
        epilog=f"Keys: s/S next/previous sort column, r reverse, / filter by node (regex), Esc clear filter, q quit. "
        f"The token comes from --token-file or ${TOKEN_ENV} and is never printed.",
    )
    server = parser.add_argument_group("server (one of)")
    where = server.add_mutually_exclusive_group(required=True)
    where.add_argument("--prometheus", metavar="URL",
                       help="Prometheus (or VictoriaMetrics, Thanos ...) base URL, e.g. http://prometheus:9090")
    where.add_argument("--kubesphere", metavar="URL",
                       help="KubeSphere console or ks-apiserver URL: queries go through its authenticated "
                       "/kapis/monitoring.kubesphere.io/v1alpha3/targets/query endpoint (needs a token)")
    server.add_argument("--cluster", metavar="NAME", help="KubeSphere multicluster: query this member cluster")
    server.add_argument("--token-file", metavar="FILE",
                        help=f"bearer token (KubeSphere: from POST /oauth/token); default ${TOKEN_ENV}")
    server.add_argument("--ca-file", metavar="FILE", help="CA bundle to verify an https server")
    server.add_argument("--insecure-skip-tls-verify", action="store_true", help="accept any TLS certificate")
    server.add_argument("--timeout", type=_duration, default=10.0, metavar="DURATION",
                        help="per query (default 10s)")
    what = parser.add_argument_group("what to show")
    what.add_argument("--selector", type=_selector, default="", metavar="MATCHERS",
                      help='extra label matchers for every query, e.g. job="jetson-exporter",cluster="eu"')
    what.add_argument("--filter", type=_regex, metavar="REGEX", help="only nodes whose name matches")
    what.add_argument("--sort", choices=SORT_NAMES, default="node", help="sort column (default %(default)s)")
    what.add_argument("--reverse", action="store_true", help="sort descending")
    what.add_argument("--rate-window", type=_prom_duration, default="5m", metavar="DURATION",
                      help="window of the rates (GPU, CPU, power); at least 4 scrape intervals (default %(default)s)")
    what.add_argument("--lookback", type=_prom_duration, default="15m", metavar="DURATION",
                      help="a node that stopped reporting stays listed as stale this long (default %(default)s)")
    what.add_argument("--stale-after", type=_duration, default=180.0, metavar="DURATION",
                      help="readings older than this mark a node stale (default 3m)")
    what.add_argument("--trend-range", type=_duration, default=1800.0, metavar="DURATION",
                      help=f"time covered by the {TREND_POINTS}-point sparklines (default 30m)")
    what.add_argument("--no-trends", action="store_true", help="no sparklines (and no range queries)")
    how = parser.add_argument_group("how")
    how.add_argument("--interval", type=_duration, default=5.0, metavar="DURATION",
                     help="time between refreshes (default 5s)")
    how.add_argument("--once", action="store_true", help="print one table (or JSON document) and exit")
    how.add_argument("--output", choices=("table", "json"), default="table",
                     help="json: one document per refresh, SI units, null where absent (default table)")
    return parser


# -- fetching ---------------------------------------------------------------------------------------

@dataclass
class Refresh:
    """The answer of one refresh."""

    rows: List[Row]
    time_s: float
    duration_s: float
    queries: int
    grid: Optional[TrendGrid]


class Fetcher:
    """Runs one refresh: every query of the set, in parallel, against one client."""

    def __init__(self, client: Client, queries: QuerySet, *, trend_range_s: Optional[float] = 1800.0,
                 stale_after_s: float = 180.0, workers: int = 8, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.queries = queries if trend_range_s else QuerySet(queries.instant, ())
        self.trend_range_s = trend_range_s
        self.stale_after_s = stale_after_s
        self.clock = clock
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(workers, self.queries.count)),
                                        thread_name_prefix="top-query")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def grid(self, now_s: float) -> Optional[TrendGrid]:
        if not self.trend_range_s or not self.queries.trends:
            return None
        step = max(1.0, math.ceil(self.trend_range_s / TREND_POINTS))
        end = math.floor(now_s)  # the last point is now: a sparkline ends with the table's values
        return TrendGrid(start_s=end - step * (TREND_POINTS - 1), step_s=step, points=TREND_POINTS)

    def refresh(self) -> Refresh:
        """Raises PromError (naming the column) if any query fails."""
        started = time.monotonic()
        now = self.clock()
        grid = self.grid(now)
        before = self.client.requests
        instant: Dict[str, Future[List[Sample]]] = {
            q.key: self._pool.submit(self.client.query, q.expr) for q in self.queries.instant}
        ranges: Dict[str, Future[List[Series]]] = {}
        if grid is not None:
            end = grid.start_s + grid.step_s * (grid.points - 1)
            ranges = {q.key: self._pool.submit(self.client.query_range, q.expr, grid.start_s, end, grid.step_s)
                      for q in self.queries.trends}
        errors: List[PromError] = []
        instant_results = _results(instant, "column", errors)
        range_results = _results(ranges, "trend", errors)
        if errors:
            raise errors[0]
        rows = fleet.build_rows(instant_results, range_results, grid, self.stale_after_s)
        return Refresh(rows, now, time.monotonic() - started, self.client.requests - before, grid)


T = TypeVar("T")


def _results(futures: Dict[str, Future[T]], what: str, errors: List[PromError]) -> Dict[str, T]:
    """The futures' values; a failure is recorded (naming the query) and skipped."""
    values: Dict[str, T] = {}
    for key, future in futures.items():
        try:
            values[key] = future.result()
        except PromError as exc:
            errors.append(PromError(f"{exc} [{what} {key}]", exc.kind))
    return values


# -- the view's state ---------------------------------------------------------------------------------

@dataclass
class View:
    """What is on screen: the last good refresh, the last error, sorting and filtering."""

    source: str
    sort: str = "node"
    reverse: bool = False
    pattern: Optional[re.Pattern[str]] = None
    last: Optional[Refresh] = None
    error: Optional[str] = None
    editing: Optional[str] = None  # the filter being typed, when the prompt is open
    message: Optional[str] = None

    def update(self, fetcher: Fetcher) -> None:
        try:
            self.last = fetcher.refresh()
            self.error = None
        except PromError as exc:
            self.error = str(exc)

    @property
    def stale(self) -> bool:
        return self.error is not None

    def rows(self) -> List[Row]:
        if self.last is None:
            return []
        return fleet.sort_rows(fleet.filter_rows(self.last.rows, self.pattern), self.sort, self.reverse)

    def key(self, data: str) -> bool:
        """Handle typed input; False means quit."""
        self.message = None
        if self.editing is not None:
            return self._edit(data)
        if data.startswith("\x1b") and len(data) > 1:
            return True  # arrow keys and other sequences
        for i, char in enumerate(data):
            if char in "qQ":
                return False
            if char == "s":
                self.sort = SORT_NAMES[(SORT_NAMES.index(self.sort) + 1) % len(SORT_NAMES)]
            elif char == "S":
                self.sort = SORT_NAMES[(SORT_NAMES.index(self.sort) - 1) % len(SORT_NAMES)]
            elif char == "r":
                self.reverse = not self.reverse
            elif char == "/":
                self.editing = self.pattern.pattern if self.pattern else ""
                return self._edit(data[i + 1:])  # what follows in the same read is typed into the prompt
            elif char == "\x1b":
                self.pattern = None
        return True

    def _edit(self, data: str) -> bool:
        assert self.editing is not None
        if data.startswith("\x1b"):
            self.editing = None if len(data) == 1 else self.editing
            return True
        for char in data:
            if char in "\r\n":
                try:
                    self.pattern = re.compile(self.editing) if self.editing else None
                except re.error as exc:
                    self.message = f"invalid regular expression {self.editing!r}: {exc}"
                self.editing = None
                return True
            if char in "\x7f\b":
                self.editing = self.editing[:-1]
            elif char.isprintable():
                self.editing += char
        return True


# -- rendering ------------------------------------------------------------------------------------------

def sparkline(values: Sequence[Optional[float]], low: float, high: float) -> str:
    """One block character per point, scaled to [low, high]; a gap where a point is absent."""
    out = []
    for value in values:
        if value is None:
            out.append(" ")
        elif high <= low:
            out.append(SPARK[len(SPARK) // 2 - 1])
        else:
            level = (min(max(value, low), high) - low) / (high - low)
            out.append(SPARK[min(len(SPARK) - 1, int(level * (len(SPARK) - 1) + 0.5))])
    return "".join(out)


def _pct(value: Optional[float]) -> str:
    return ABSENT if value is None else f"{value * 100:.0f}%"


def _num(value: Optional[float], fmt: str, suffix: str = "") -> str:
    return ABSENT if value is None else f"{value:{fmt}}{suffix}"


def _gib(value: Optional[float]) -> str:
    return ABSENT if value is None else f"{value / 2**30:.1f}"


def _ram(r: Row) -> str:
    if r.ram_used_bytes is None and r.ram_total_bytes is None:
        return ABSENT
    return f"{_gib(r.ram_used_bytes)}/{_gib(r.ram_total_bytes)}G"


def short_model(model: Optional[str]) -> str:
    if not model:
        return ABSENT
    return re.sub(r"^(NVIDIA\s+)?(Jetson\s+)?", "", model).replace(" Developer Kit", " devkit") or model


@dataclass(frozen=True)
class Column:
    title: str
    cell: Callable[[Row], str]
    align: str = ">"
    trend: Optional[str] = None  # a sparkline column for this trend key follows


COLUMNS: Tuple[Column, ...] = (
    Column("NODE", lambda r: r.node, "<"),
    Column("MODEL", lambda r: short_model(r.model), "<"),
    Column("MODE", lambda r: r.power_mode or ABSENT, "<"),
    Column("STATE", lambda r: r.state, "<"),
    Column("GPU", lambda r: _pct(r.gpu_ratio), trend="gpu"),
    Column("GPU°C", lambda r: _num(r.gpu_temp_c, ".1f")),
    Column("MAX°C", lambda r: _num(r.hottest_c, ".1f"), trend="hottest"),
    Column("CPU", lambda r: _pct(r.cpu_ratio), trend="cpu"),
    Column("RAM", _ram),
    Column("POWER", lambda r: _num(r.power_w, ".1f", "W"), trend="power"),
    Column("FAN", lambda r: _pct(r.fan_ratio)),
)


def _trend_scales(rows: Sequence[Row]) -> Dict[str, Tuple[float, float]]:
    """Ratios on 0-1; temperatures between the fleet's extremes; power from 0 to the fleet's peak."""
    def values(key: str) -> List[float]:
        return [v for r in rows for v in r.trends.get(key, ()) if v is not None]

    temps = values("hottest")
    power = values("power")
    return {"gpu": (0.0, 1.0), "cpu": (0.0, 1.0),
            "hottest": (min(temps), max(temps)) if temps else (0.0, 1.0),
            "power": (0.0, max(power)) if power else (0.0, 1.0)}


_STATE_COLOR = {UP: "\x1b[32m", DOWN: "\x1b[31m", STALE: "\x1b[33m"}


def table(rows: Sequence[Row], width: Optional[int] = None, trends: bool = True, color: bool = False) -> List[str]:
    """The table's lines (header first), fitted to `width` columns when given."""
    scales = _trend_scales(rows)
    headers: List[str] = []
    aligns: List[str] = []
    cells: List[List[str]] = [[] for _ in rows]
    spark_cols: List[int] = []
    model_col = -1
    for column in COLUMNS:
        if column.title == "MODEL":
            model_col = len(headers)
        headers.append(column.title)
        aligns.append(column.align)
        for i, r in enumerate(rows):
            cells[i].append(column.cell(r))
        if column.trend and trends:
            spark_cols.append(len(headers))
            headers.append("")
            aligns.append("<")
            low, high = scales[column.trend]
            for i, r in enumerate(rows):
                points = r.trends.get(column.trend)
                cells[i].append(sparkline(points, low, high) if points else " " * TREND_POINTS)
    keep = list(range(len(headers)))
    widths = [max([len(headers[c]), *(len(line[c]) for line in cells)]) for c in keep]

    def total(columns: Sequence[int]) -> int:
        return sum(widths[c] for c in columns) + 2 * (len(columns) - 1)

    if width is not None and total(keep) > width:
        keep = [c for c in keep if c not in spark_cols]
    if width is not None and total(keep) > width and model_col >= 0:
        widths[model_col] = max(len("MODEL"), widths[model_col] - (total(keep) - width))
    lines = []
    for line_cells, state in [(headers, None), *[(c, r.state) for c, r in zip(cells, rows)]]:
        parts = []
        for c in keep:
            text = line_cells[c]
            if len(text) > widths[c]:
                text = text[: widths[c] - 1] + "…"
            padded = f"{text:{aligns[c]}{widths[c]}}"
            if color and state is not None and headers[c] == "STATE":
                padded = f"{_STATE_COLOR.get(state, '')}{padded}\x1b[0m"
            parts.append(padded)
        text = "  ".join(parts).rstrip()
        lines.append(text if width is None or color else text[:width])
    return lines


def _clock(time_s: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(time_s))


def summary(view: View) -> str:
    last = view.last
    if last is None:
        return f"{view.source}  waiting for the first answer"
    counts = {state: sum(1 for r in last.rows if r.state == state) for state in (UP, DOWN, STALE)}
    shown = len(view.rows())
    matching = f" ({shown} match /{view.pattern.pattern}/)" if view.pattern is not None else ""
    return (f"{view.source}  {len(last.rows)} nodes{matching}: {counts[UP]} up, {counts[DOWN]} down, "
            f"{counts[STALE]} stale  ·  {last.queries} queries in {last.duration_s:.2f}s  ·  {_clock(last.time_s)}")


def screen(view: View, width: Optional[int], height: Optional[int], color: bool, trends: bool,
           live: bool) -> List[str]:
    """Everything drawn for one frame (or printed by --once)."""
    lines = [summary(view)]
    if view.error is not None:
        since = f"showing data from {_clock(view.last.time_s)}" if view.last else "no data yet"
        lines.append(f"! {view.error}  ({since}, stale)")
    if live:
        arrow = " (reversed)" if view.reverse else ""
        if view.editing is not None:
            lines.append(f"filter (regex on node, Enter to apply, Esc to cancel): /{view.editing}")
        else:
            shown = f"/{view.pattern.pattern}/" if view.pattern else ABSENT
            lines.append(view.message or f"sort: {view.sort}{arrow}  filter: {shown}  "
                         "keys: s sort  r reverse  / filter  Esc clear  q quit")
    lines.append("")
    rows = view.rows()
    body = table(rows, width, trends, color)
    if live and height is not None and len(lines) + len(body) > height:
        hidden = len(lines) + len(body) - height + 1
        body = [*body[:max(1, len(body) - hidden)], f"… {hidden} more (use / to filter)"]
    lines.extend(body)
    if width is not None:
        lines = [line if "\x1b" in line else line[:width] for line in lines]
    return lines


def document(view: View) -> Dict[str, object]:
    """The --output json document of the current view."""
    last = view.last
    grid = last.grid if last else None
    return {
        "source": view.source,
        "time": last.time_s if last else None,
        "queries": last.queries if last else None,
        "refresh_seconds": last.duration_s if last else None,
        "stale": view.stale,
        "error": view.error,
        "trend": {"start": grid.start_s, "step_seconds": grid.step_s, "points": grid.points} if grid else None,
        "nodes": [fleet.row_document(r) for r in view.rows()],
    }


# -- the command --------------------------------------------------------------------------------------

def _token(path: Optional[str]) -> Optional[str]:
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                token = fh.read().strip()
        except OSError as exc:
            raise UsageError(f"cannot read --token-file {path}: {exc.strerror or exc}") from None
        if not token:
            raise UsageError(f"--token-file {path} is empty")
        return token
    return os.environ.get(TOKEN_ENV, "").strip() or None


def make_client(args: argparse.Namespace) -> Client:
    token = _token(args.token_file)
    if args.kubesphere and not token:
        raise UsageError(f"--kubesphere needs a token: --token-file FILE or ${TOKEN_ENV} (from POST /oauth/token)")
    if args.cluster and not args.kubesphere:
        raise UsageError("--cluster goes with --kubesphere")
    try:
        return Client(args.kubesphere or args.prometheus, dialect=KUBESPHERE if args.kubesphere else PROMETHEUS,
                      cluster=args.cluster, token=token, timeout_s=args.timeout,
                      insecure=args.insecure_skip_tls_verify, ca_file=args.ca_file)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:  # an unreadable --ca-file
        raise UsageError(f"cannot use --ca-file {args.ca_file}: {exc.strerror or exc}") from None


def main(argv: Sequence[str]) -> int:
    try:
        args = build_parser().parse_args(list(argv))
        client = make_client(args)
        queries = fleet.build_queries(args.selector, args.rate_window, args.lookback)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except (UsageError, ValueError) as exc:
        print(f"{PROG}: error: {exc} (see --help)", file=sys.stderr)
        return 2
    fetcher = Fetcher(client, queries, trend_range_s=None if args.no_trends else args.trend_range,
                      stale_after_s=args.stale_after)
    view = View(source=client.where, sort=args.sort, reverse=args.reverse, pattern=args.filter)
    try:
        if args.once:
            return _once(view, fetcher, args.output, sys.stdout, trends=not args.no_trends)
        if args.output == "json" or not sys.stdout.isatty():
            return _stream(view, fetcher, args.interval, args.output, sys.stdout, trends=not args.no_trends)
        return _live(view, fetcher, args.interval, trends=not args.no_trends)
    except KeyboardInterrupt:
        return 0
    finally:
        fetcher.close()


def _print(view: View, output: str, out: TextIO, trends: bool) -> None:
    if output == "json":
        out.write(json.dumps(document(view), allow_nan=False) + "\n")
    else:
        tty = out.isatty()
        width = shutil.get_terminal_size().columns if tty else None
        color = tty and not os.environ.get("NO_COLOR")
        out.write("\n".join(screen(view, width, None, color, trends, live=False)) + "\n")
    out.flush()


def _once(view: View, fetcher: Fetcher, output: str, out: TextIO, trends: bool) -> int:
    view.update(fetcher)
    if view.error is not None:
        print(f"{PROG}: error: {view.error}", file=sys.stderr)
        return 1
    _print(view, output, out, trends)
    return 0


def _stream(view: View, fetcher: Fetcher, interval_s: float, output: str, out: TextIO, trends: bool) -> int:
    """Not a terminal (or JSON): one table or document per refresh, errors on stderr."""
    while True:
        started = time.monotonic()
        view.update(fetcher)
        if view.error is not None:
            print(f"{PROG}: error: {view.error}", file=sys.stderr)
        _print(view, output, out, trends)
        time.sleep(max(0.0, interval_s - (time.monotonic() - started)))  # the refresh cadence itself


def _live(view: View, fetcher: Fetcher, interval_s: float, trends: bool) -> int:
    """Full-screen redraw with ANSI sequences; keys read in cbreak mode when stdin is a terminal."""
    import select
    import termios
    import tty

    out = sys.stdout
    fd = sys.stdin.fileno() if sys.stdin.isatty() else None
    saved = termios.tcgetattr(fd) if fd is not None else None
    color = not os.environ.get("NO_COLOR")
    out.write("\x1b[?1049h\x1b[?25l")  # alternate screen, hidden cursor
    try:
        if fd is not None:
            tty.setcbreak(fd)
        due = 0.0
        drawn_size = None
        dirty = True
        while True:
            if time.monotonic() >= due:
                view.update(fetcher)
                due = time.monotonic() + interval_s
                dirty = True
            size = shutil.get_terminal_size()
            if dirty or size != drawn_size:
                lines = screen(view, size.columns, size.lines, color, trends, live=True)
                out.write("\x1b[H\x1b[2J" + "\r\n".join(lines))
                out.flush()
                drawn_size, dirty = size, False
            wait = min(0.5, max(0.0, due - time.monotonic()))  # wake up for resizes too
            if fd is None:
                time.sleep(wait)
                continue
            ready, _, _ = select.select([fd], [], [], wait)
            if ready:
                data = os.read(fd, 64).decode("utf-8", "replace")
                if not view.key(data):
                    return 0
                dirty = True
    finally:
        if fd is not None and saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        out.write("\x1b[?25h\x1b[?1049l")
        out.flush()

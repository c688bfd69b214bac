"""`jetson-exporter tegrastats FILE`: a tegrastats log -> OpenMetrics, for backfilling Prometheus
with `promtool tsdb create-blocks-from openmetrics`.

Every log line becomes one sample set stamped with the line's own time (or `--start` plus
`--interval` steps for logs without timestamps). The lines go through the same Sampler as the
live exporter, with its clock set to each line's time, so counters (GPU busy seconds, energy
joules, engine active seconds) are integrated along the log exactly as a live exporter would.
Bad lines are skipped with a warning naming the line; every good line is still converted.

OpenMetrics wants a family's samples together and each series' points together, in time order,
so samples are grouped that way (in memory, then in a temporary file for long logs) while the log
is read; the document is written to stdout at the end, finished by `# EOF`.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
from datetime import datetime, timedelta, timezone, tzinfo
from typing import IO, BinaryIO, Dict, Iterable, List, NoReturn, Optional, Sequence, Set, Tuple
from zoneinfo import ZoneInfo

from jetson_exporter.catalog import CATALOG
from jetson_exporter.cli import OneLineParser, UsageError, parse_duration
from jetson_exporter.exposition import Series, build_series
from jetson_exporter.sampler import Sampler
from jetson_exporter.snapshot import Snapshot
from jetson_exporter.sources.tegrastats import MAX_LINE_BYTES, LineSplitter, decode_line
from jetson_exporter.sources.tegrastats_parser import parse_line, stamp_time

PROG = "jetson-exporter tegrastats"
_READ_CHUNK = 1 << 20
_SPILL_SAMPLES = 500_000  # buffered samples (about 30 MB) above this go to temporary files
# Metrics about the converter itself (collector health, sample timestamps) are not the board's history.
_SELF_PREFIX = "jetson_exporter_"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=PROG,
        description="Convert a tegrastats log to OpenMetrics on stdout, one sample set per line, for "
        "`promtool tsdb create-blocks-from openmetrics`. Counters (GPU busy seconds, energy joules, engine "
        "active seconds) are integrated along the log.",
        epilog="Lines are stamped with their own `MM-DD-YYYY HH:MM:SS` (JetPack 5 and later), read in --timezone; "
        "lines without one follow the previous line by --interval, the first at --start. Lines that are not "
        "tegrastats output, too long, cut off, or not later than the line before are skipped with a warning.",
    )
    parser.add_argument("file", metavar="FILE", help="tegrastats log (`tegrastats --logfile`), or - for stdin")
    parser.add_argument("--start", metavar="TIME",
                        help="time of the first line for logs without timestamps (L4T 28, JetPack 4): "
                        "ISO 8601 (2024-07-09T13:31:31Z), MM-DD-YYYY HH:MM:SS, or Unix seconds; "
                        "without a zone it is read in --timezone")
    parser.add_argument("--interval", metavar="DURATION", default="1s",
                        help="time between lines, as given to `tegrastats --interval` (default %(default)s)")
    parser.add_argument("--timezone", metavar="ZONE", default="UTC",
                        help="the board's time zone, in which tegrastats writes its timestamps: an IANA name "
                        "(Europe/Berlin) or an offset (+02:00) (default %(default)s)")
    parser.add_argument("--label", dest="labels", action="append", default=[], metavar="NAME=VALUE",
                        help="add a label to every series, e.g. --label instance=orin-01:9998 --label job=jetson, "
                        "so that backfilled history joins the live series (repeatable)")
    parser.add_argument("--max-warnings", dest="max_warnings", type=int, default=20, metavar="N",
                        help="print at most N warnings, then only a count (0: all; default %(default)s)")
    return parser


# -- flag values ---------------------------------------------------------------------------------

def parse_timezone(text: str) -> tzinfo:
    """`UTC`, an IANA name, or a fixed offset `+02:00` / `-0530`."""
    if text.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    if text[:1] in "+-":
        digits = text[1:].replace(":", "")
        if len(digits) == 4 and digits.isdigit() and int(digits[:2]) < 24 and int(digits[2:]) < 60:
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            return timezone(-offset if text[0] == "-" else offset)
        raise UsageError(f"invalid --timezone {text!r} (use an IANA name such as Europe/Berlin, or +HH:MM)")
    try:
        return ZoneInfo(text)
    except Exception:
        raise UsageError(f"unknown --timezone {text!r} (use an IANA name such as Europe/Berlin, or +HH:MM; "
                         "IANA names need the system tz database or the tzdata package)") from None


def parse_start(text: str, tz: tzinfo) -> float:
    """`--start`: Unix seconds, ISO 8601, or tegrastats' own `MM-DD-YYYY HH:MM:SS`."""
    text = text.strip()
    try:
        seconds: Optional[float] = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        return seconds if math.isfinite(seconds) else _bad_start(text)
    parts = text.split()
    if len(parts) == 2:
        stamp = stamp_time(parts[0], parts[1], tz)
        if stamp is not None:
            return stamp
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
    except ValueError:
        _bad_start(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp()


_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*$")


def parse_labels(items: Sequence[str]) -> Tuple[Tuple[str, str], ...]:
    """`--label NAME=VALUE` flags; a name the metrics already use (`rail`, `cpu`, ...) is refused."""
    taken = {label for metric in CATALOG for label in metric.labels}
    labels: Dict[str, str] = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not equals or not _LABEL_NAME.match(name) or name.startswith("__"):
            raise UsageError(f"invalid --label {item!r} (use NAME=VALUE, e.g. instance=orin-01:9998)")
        if name in taken:
            raise UsageError(f"--label {name}: the exporter's metrics use this label already")
        labels[name] = value
    return tuple(labels.items())


def _bad_start(text: str) -> NoReturn:
    raise UsageError(f"invalid --start {text!r} (use e.g. 2024-07-09T13:31:31Z, '07-09-2024 13:31:31' or "
                     "Unix seconds)")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- OpenMetrics output --------------------------------------------------------------------------

def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _om_value(value: float) -> str:
    value = float(value)
    if math.isfinite(value):
        return repr(value)
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")


def _om_timestamp(ts: float) -> str:
    return str(int(ts)) if ts == int(ts) else repr(round(ts, 3))


class _Series:
    """One series' points: lines in memory, and earlier chunks in the spill file."""

    __slots__ = ("chunks", "lines", "prefix")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix  # `name{labels} `
        self.lines: List[str] = []
        self.chunks: List[Tuple[int, int]] = []  # (offset, length) in the spill file


class OpenMetricsSpool:
    """Timestamped samples arranged as OpenMetrics wants them: a family's series together, each
    series' points together and in time order. Kept in memory up to a limit, then in one
    temporary file; written out as one document."""

    def __init__(self, labels: Sequence[Tuple[str, str]] = (), spill_samples: int = _SPILL_SAMPLES) -> None:
        self.labels = [(name, _escape_label(value)) for name, value in labels]  # added to every series
        self.spill_samples = spill_samples
        self.samples = 0
        self._meta: Dict[str, str] = {}  # family -> its HELP/TYPE/UNIT lines; insertion order is output order
        self._series: Dict[str, Dict[Tuple[str, ...], _Series]] = {}  # family -> label values -> points
        self._buffered = 0
        self._spill_file: Optional[IO[bytes]] = None

    def add(self, series: Iterable[Series], ts: float) -> None:
        stamp = " " + _om_timestamp(ts) + "\n"
        for spec, samples in series:
            known = self._series.get(spec.family)
            if known is None:
                meta = (f"# HELP {spec.family} {_escape_help(spec.help)}\n"
                        f"# TYPE {spec.family} {spec.kind}\n")
                if spec.unit:
                    meta += f"# UNIT {spec.family} {spec.unit}\n"
                self._meta[spec.family] = meta
                known = self._series[spec.family] = {}
            for label_values, value in samples:
                points = known.get(label_values)
                if points is None:
                    labels = ",".join([f'{k}="{_escape_label(v)}"' for k, v in zip(spec.labels, label_values)]
                                      + [f'{k}="{v}"' for k, v in self.labels])
                    points = known[label_values] = _Series(f"{spec.name}{{{labels}}} " if labels else f"{spec.name} ")
                text = repr(value)
                if text[-1] in "fn":  # inf, -inf, nan
                    text = _om_value(value)
                points.lines.append(points.prefix + text + stamp)
            self._buffered += len(samples)
            self.samples += len(samples)
        if self._buffered > self.spill_samples:
            self._spill()

    def _spill(self) -> None:
        if self._spill_file is None:
            self._spill_file = tempfile.TemporaryFile(prefix="jetson-exporter-om-")  # noqa: SIM115
        spill = self._spill_file
        for family in self._series.values():
            for points in family.values():
                if points.lines:
                    data = "".join(points.lines).encode()
                    points.chunks.append((spill.tell(), len(data)))
                    spill.write(data)
                    points.lines.clear()
        self._buffered = 0

    def write(self, out: BinaryIO) -> None:
        spill = self._spill_file
        for name, meta in self._meta.items():
            out.write(meta.encode())
            for points in self._series[name].values():
                for offset, length in points.chunks:
                    assert spill is not None
                    spill.seek(offset)
                    out.write(spill.read(length))
                out.write("".join(points.lines).encode())
        out.write(b"# EOF\n")

    def close(self) -> None:
        if self._spill_file is not None:
            self._spill_file.close()
            self._spill_file = None


# -- the conversion ------------------------------------------------------------------------------

class _OneLine:
    """A collector that hands the sampler the line being converted."""

    name = "tegrastats"
    errors: List[str] = []

    def __init__(self) -> None:
        self.snapshot = Snapshot()

    def read(self) -> Snapshot:
        return self.snapshot


class NeedStart(Exception):
    """A line without a timestamp and no --start to place it."""


class Converter:
    """Feeds log lines through the parser and a Sampler on the lines' clock into a spool."""

    def __init__(self, spool: OpenMetricsSpool, *, tz: tzinfo, interval_s: float, start: Optional[float],
                 warn: WarningPrinter) -> None:
        self.spool = spool
        self.tz = tz
        self.interval_s = interval_s
        self.start = start
        self.warn = warn
        self.converted = 0
        self.skipped = 0
        self.first_ts: Optional[float] = None
        self.last_ts: Optional[float] = None
        self._last_line = 0
        self._last_stamp: Optional[str] = None
        self._last_fields = 0
        self._seen_unknown: Set[str] = set()
        self._now = 0.0
        self._line = _OneLine()
        self.sampler = Sampler([self._line], interval_s=interval_s, clock=self._clock, wall_clock=self._clock)

    def _clock(self) -> float:
        return self._now

    def _skip(self, lineno: int, message: str) -> None:
        self.skipped += 1
        self.warn(lineno, message)

    def line(self, lineno: int, raw: Optional[bytes], cut_off: bool = False) -> None:
        """Convert one line; `cut_off` marks a last line that has no line end."""
        if raw is None:
            self._skip(lineno, f"longer than {MAX_LINE_BYTES // 1024} KiB, not a tegrastats line: skipped")
            return
        text = decode_line(raw)
        if not text.strip():
            return
        parsed = parse_line(text, self.tz)
        if parsed.fields == 0:
            self._skip(lineno, f"not a tegrastats line: {text[:60]!r}: skipped")
            return
        if cut_off and parsed.fields < self._last_fields:
            self._skip(lineno, f"cut off (no line end, fewer fields than line {self._last_line}): skipped")
            return
        new = [t for t in parsed.unknown if t not in self._seen_unknown]
        if new:
            self._seen_unknown.update(new)
            more = parsed.unknown_count - len(parsed.unknown)
            self.warn(lineno, "skipped unknown tokens: " + " ".join(repr(t) for t in new)
                      + (f" and {more} more" if more > 0 else ""))
        ts = self._time(lineno, parsed.timestamp, parsed.stamp)
        if ts is None:
            return
        self._now = ts
        self._line.snapshot = parsed.snapshot
        sample = self.sampler.tick()
        assert sample is not None
        series = [entry for entry in build_series(sample, source="tegrastats", detected=None)
                  if not entry[0].name.startswith(_SELF_PREFIX)]
        self.spool.add(series, ts)
        self.converted += 1
        self._last_fields = parsed.fields
        if self.first_ts is None:
            self.first_ts = ts

    def _time(self, lineno: int, own: Optional[float], stamp: Optional[str]) -> Optional[float]:
        """The line's time, or None (with a warning) if it does not come after the line before."""
        last = self.last_ts
        if own is None:
            if last is not None:
                ts = last + self.interval_s
            elif self.start is not None:
                ts = self.start
            else:
                raise NeedStart(lineno)
        else:
            assert stamp is not None
            ts = own
            if last is not None and ts <= last:
                resolved = self._resolve(own, stamp)
                if resolved is None:
                    self._skip(lineno, f"timestamp {stamp} is not after line {self._last_line}'s "
                               f"({self._last_stamp or _iso(last)}): skipped")
                    return None
                ts = resolved
            self._last_stamp = stamp
        self.last_ts = ts
        self._last_line = lineno
        return ts

    def _resolve(self, own: float, stamp: str) -> Optional[float]:
        """A stamp not after the previous line's: several lines within one second (tegrastats
        --interval below 1000 ms) follow each other by --interval; the hour repeated when daylight
        saving time ends is its second occurrence. Anything else goes backwards."""
        last = self.last_ts
        assert last is not None
        if stamp == self._last_stamp and last + self.interval_s < own + 1.0:
            return last + self.interval_s
        date, time_ = stamp.split()
        second = stamp_time(date, time_, self.tz, fold=1)
        if second is not None and second > last:
            return second
        return None


class WarningPrinter:
    """`jetson-exporter tegrastats: warning: FILE:LINE: message`, the first N of them."""

    def __init__(self, source: str, limit: int, stream: IO[str]) -> None:
        self.source = source
        self.limit = limit
        self.stream = stream
        self.count = 0

    def __call__(self, lineno: int, message: str) -> None:
        self.count += 1
        if self.limit <= 0 or self.count <= self.limit:
            print(f"{PROG}: warning: {self.source}:{lineno}: {message}", file=self.stream)

    @property
    def hidden(self) -> int:
        return max(self.count - self.limit, 0) if self.limit > 0 else 0


def convert(stream: BinaryIO, out: BinaryIO, converter: Converter) -> int:
    """Read every line of `stream` into `converter`, then write the document to `out`; returns
    the number of lines read."""
    splitter = LineSplitter()
    lineno = 0
    while True:
        data = stream.read(_READ_CHUNK)
        if not data:
            break
        for raw in splitter.feed(data):
            lineno += 1
            converter.line(lineno, raw)
    rest = splitter.rest()
    if rest != b"":
        lineno += 1
        converter.line(lineno, rest, cut_off=True)
    converter.spool.write(out)
    return lineno


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    try:
        tz = parse_timezone(args.timezone)
        start = parse_start(args.start, tz) if args.start is not None else None
        try:
            interval_s = parse_duration(args.interval)
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"--interval: {exc}") from None
        labels = parse_labels(args.labels)
        if args.max_warnings < 0:
            raise UsageError("--max-warnings must be 0 or more")
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    source = "stdin" if args.file == "-" else args.file
    try:
        stream: BinaryIO = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
    except OSError as exc:
        print(f"{PROG}: error: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    warn = WarningPrinter(source, args.max_warnings, sys.stderr)
    spool = OpenMetricsSpool(labels)
    converter = Converter(spool, tz=tz, interval_s=interval_s, start=start, warn=warn)
    try:
        lines = convert(stream, sys.stdout.buffer, converter)
        sys.stdout.buffer.flush()
    except NeedStart as exc:
        print(f"{PROG}: error: {source}:{exc.args[0]}: the line has no timestamp (L4T 28 and JetPack 4 logs "
              "have none): give the time of the first line with --start", file=sys.stderr)
        return 2
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):  # the reader went away (`| head`): nothing more to say
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # and no flush error at exit
            return 1
        print(f"{PROG}: error: reading {source} or writing the output: {exc.strerror or exc}", file=sys.stderr)
        return 1
    finally:
        spool.close()
        if stream is not sys.stdin.buffer:
            stream.close()
    if warn.hidden:
        print(f"{PROG}: {warn.hidden} more warnings not shown (--max-warnings 0 shows all)", file=sys.stderr)
    if converter.converted == 0:
        what = "is empty" if lines == 0 else "has no tegrastats lines"
        print(f"{PROG}: error: {source} {what}: nothing converted", file=sys.stderr)
        return 1
    assert converter.first_ts is not None and converter.last_ts is not None
    print(f"{PROG}: {source}: {converter.converted} lines converted, {converter.skipped} skipped; "
          f"{spool.samples} samples from {_iso(converter.first_ts)} to {_iso(converter.last_ts)}", file=sys.stderr)
    return 0

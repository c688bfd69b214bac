"""`jetson-exporter tegrastats FILE`: a log becomes valid OpenMetrics with one timestamped sample
set per line, counters integrated along the log, and a warning naming each line it skips."""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path
from subprocess import CompletedProcess
from typing import Callable, Dict, List, Tuple

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from jetson_exporter.cli import main as cli_main
from jetson_exporter.sources import tegrastats_cli

Series = Tuple[str, Tuple[Tuple[str, str], ...]]
Sample = Callable[..., str]
Convert = Callable[..., "CompletedProcess[bytes]"]


def utc(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


def series(text: str) -> Dict[Series, List[Tuple[float, float]]]:
    """Parse the output with prometheus_client's strict OpenMetrics parser: series -> [(time, value)]."""
    out: Dict[Series, List[Tuple[float, float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            assert s.timestamp is not None, s
            out.setdefault((s.name, tuple(sorted(s.labels.items()))), []).append((float(s.timestamp), s.value))
    return out


def values(out: Dict[Series, List[Tuple[float, float]]], name: str, **labels: str) -> List[float]:
    return [v for _, v in out[(name, tuple(sorted(labels.items())))]]


def times(out: Dict[Series, List[Tuple[float, float]]], name: str, **labels: str) -> List[float]:
    return [t for t, _ in out[(name, tuple(sorted(labels.items())))]]


def run(args: List[str], capsysbinary: pytest.CaptureFixture[bytes]) -> Tuple[int, str, List[str]]:
    code = cli_main(["tegrastats", *args])
    captured = capsysbinary.readouterr()
    return code, captured.out.decode(), captured.err.decode().splitlines()


def write(tmp_path: Path, content: bytes, name: str = "tegrastats.log") -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


# -- a real log ------------------------------------------------------------------------------------

def test_real_log_converts_to_valid_openmetrics_with_the_lines_own_times(
        fixture_path: Callable[[str], Path], capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    code, text, err = run([str(fixture_path("agx-orin-jp6.log"))], capsysbinary)
    assert code == 0, err
    assert text.endswith("# EOF\n")
    out = series(text)
    t0 = utc("2026-05-09 18:42:06")
    assert times(out, "jetson_power_watts", rail="VIN_SYS_5V0") == [t0, t0 + 1, t0 + 2]
    assert values(out, "jetson_power_watts", rail="VIN_SYS_5V0") == [4.707, 4.607, 4.707]
    assert values(out, "jetson_cpu_utilization_ratio", cpu="7") == [0.1, 0.4, 0.7]
    assert values(out, "jetson_engine_utilization_ratio", engine="NVENC") == [0.79, 0.78, 0.78]
    assert values(out, "jetson_engine_frequency_hertz", engine="NVENC") == [166e6, 166e6, 179e6]
    assert values(out, "jetson_temperature_celsius", zone="tj") == [52.562, 52.343, 52.156]
    assert values(out, "jetson_memory_used_bytes") == [18207 * 2**20, 18202 * 2**20, 18203 * 2**20]
    assert not any(name.startswith("jetson_exporter_") for name, _ in out)  # the converter is not the board
    assert err == ["jetson-exporter tegrastats: " + str(fixture_path("agx-orin-jp6.log")) +
                   ": 3 lines converted, 0 skipped; " + f"{sum(len(v) for v in out.values())} samples "
                   "from 2026-05-09T18:42:06Z to 2026-05-09T18:42:08Z"]


def test_counters_are_integrated_along_the_log(
        fixture_path: Callable[[str], Path], capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    _, text, _ = run([str(fixture_path("agx-orin-jp6.log"))], capsysbinary)
    out = series(text)
    # Trapezoids between lines one second apart.
    assert values(out, "jetson_energy_joules_total", rail="VDD_GPU_SOC") == pytest.approx([0, 2.412, 4.824])
    assert values(out, "jetson_energy_joules_total", rail="VIN_SYS_5V0") == pytest.approx(
        [0, (4.707 + 4.607) / 2, 4.707 + 4.607])
    board = [2.412 + 1.607 + 4.707, 2.412 + 1.607 + 4.607, 2.412 + 1.607 + 4.707]
    assert values(out, "jetson_board_power_watts") == pytest.approx(board)
    assert values(out, "jetson_board_energy_joules_total") == pytest.approx(
        [0, (board[0] + board[1]) / 2, (board[0] + board[1]) / 2 + (board[1] + board[2]) / 2])
    assert values(out, "jetson_engine_active_seconds_total", engine="NVENC") == [0, 1, 2]
    assert values(out, "jetson_engine_active_seconds_total", engine="NVDEC") == [0, 0, 0]
    assert values(out, "jetson_gpu_busy_seconds_total") == [0, 0, 0]


def test_gpu_busy_seconds_follow_the_load(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    log = b"".join(f"07-09-2024 13:31:{s:02d} RAM 1/2MB GR3D_FREQ {p}%@[918,918]\n".encode()
                   for s, p in ((0, 0), (1, 50), (2, 100), (3, 100)))
    _, text, _ = run([write(tmp_path, log)], capsysbinary)
    assert values(series(text), "jetson_gpu_busy_seconds_total") == pytest.approx([0, 0.25, 1.0, 2.0])


def test_a_gap_in_the_log_is_not_integrated(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """The board was off (or tegrastats was): no energy is invented across the gap."""
    log = b"".join(f"07-09-2024 13:{m:02d}:{s:02d} RAM 1/2MB VDD_IN 1000mW/1000mW\n".encode()
                   for m, s in ((31, 0), (31, 1), (45, 0), (45, 1)))
    _, text, _ = run([write(tmp_path, log)], capsysbinary)
    assert values(series(text), "jetson_energy_joules_total", rail="VDD_IN") == pytest.approx([0, 1, 1, 2])


# -- time ------------------------------------------------------------------------------------------

def test_logs_without_timestamps_use_start_and_interval(
        sample: Sample, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    log = (sample("TX1", "first of two") + "\n" + sample("TX1", "second of two") + "\n").encode()
    code, text, err = run([write(tmp_path, log), "--start", "2024-07-09T13:31:31Z", "--interval", "5s"],
                          capsysbinary)
    assert code == 0, err
    out = series(text)
    assert times(out, "jetson_gpu_utilization_ratio") == [utc("2024-07-09 13:31:31"), utc("2024-07-09 13:31:36")]
    assert values(out, "jetson_gpu_utilization_ratio") == [0.03, 0.39]
    assert values(out, "jetson_gpu_busy_seconds_total") == pytest.approx([0, (0.03 + 0.39) / 2 * 5])


@pytest.mark.parametrize("start", ["1720531891", "07-09-2024 13:31:31", "2024-07-09T15:31:31+02:00",
                                   "2024-07-09 13:31:31"])
def test_start_formats(start: str, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    code, text, err = run([write(tmp_path, b"RAM 1/2MB\n"), "--start", start], capsysbinary)
    assert code == 0, err
    assert times(series(text), "jetson_memory_total_bytes") == [utc("2024-07-09 13:31:31")]


def test_no_timestamp_and_no_start_is_a_clear_error(
        sample: Sample, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    path = write(tmp_path, b"garbage\n" + sample("TX1", "first of two").encode() + b"\n")
    code, text, err = run([path], capsysbinary)
    assert code == 2 and text == ""
    assert err[-1] == (f"jetson-exporter tegrastats: error: {path}:2: the line has no timestamp (L4T 28 and "
                       "JetPack 4 logs have none): give the time of the first line with --start")


def test_timestamps_are_read_in_the_boards_time_zone(
        tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    path = write(tmp_path, b"07-09-2024 13:31:31 RAM 1/2MB\n")
    for zone, expected in (("Europe/Berlin", "2024-07-09 11:31:31"), ("+05:30", "2024-07-09 08:01:31"),
                           ("UTC", "2024-07-09 13:31:31")):
        code, text, err = run([path, "--timezone", zone], capsysbinary)
        assert code == 0, err
        assert times(series(text), "jetson_memory_total_bytes") == [utc(expected)], zone


def test_several_lines_within_one_second_follow_each_other_by_the_interval(
        tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """`tegrastats --interval 500` stamps two lines with each second."""
    log = b"".join(f"07-09-2024 13:31:{s} RAM {u}/2MB\n".encode() for s, u in ((31, 1), (31, 2), (32, 3), (32, 4)))
    code, text, err = run([write(tmp_path, log), "--interval", "500ms"], capsysbinary)
    assert code == 0 and len(err) == 1
    t0 = utc("2024-07-09 13:31:31")
    assert times(series(text), "jetson_memory_used_bytes") == [t0, t0 + 0.5, t0 + 1, t0 + 1.5]


def test_the_hour_repeated_when_daylight_saving_time_ends_is_kept(
        tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    # Europe/Berlin, 2024-10-27: 02:00-02:59 happens twice (CEST, then CET).
    log = b"".join(f"10-27-2024 {t} RAM 1/2MB\n".encode() for t in ("02:59:58", "02:59:59", "02:00:00", "02:00:01"))
    code, text, err = run([write(tmp_path, log), "--timezone", "Europe/Berlin"], capsysbinary)
    assert code == 0, err
    assert times(series(text), "jetson_memory_total_bytes") == [
        utc("2024-10-27 00:59:58"), utc("2024-10-27 00:59:59"), utc("2024-10-27 01:00:00"), utc("2024-10-27 01:00:01")]


# -- flags -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("flags,message", [
    (["--interval", "soon"], "--interval: invalid duration 'soon'"),
    (["--timezone", "Mars/Olympus_Mons"], "unknown --timezone 'Mars/Olympus_Mons'"),
    (["--timezone", "+25:00"], "invalid --timezone '+25:00'"),
    (["--start", "yesterday"], "invalid --start 'yesterday'"),
    (["--max-warnings", "-1"], "--max-warnings must be 0 or more"),
])
def test_bad_flags_exit_2_with_one_line(flags: List[str], message: str, tmp_path: Path,
                                        capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    code, text, err = run([write(tmp_path, b"RAM 1/2MB\n"), *flags], capsysbinary)
    assert code == 2 and text == "" and len(err) == 1
    assert err[0].startswith("jetson-exporter tegrastats: error: " + message), err


def test_unknown_flag_and_missing_file_argument_exit_2(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    for argv in (["--bogus", "x"], []):
        with pytest.raises(SystemExit) as exit_info:
            cli_main(["tegrastats", *argv])
        assert exit_info.value.code == 2
        err = capsysbinary.readouterr().err.decode().splitlines()
        assert err[-1].startswith("jetson-exporter tegrastats: error: ") and err[-1].endswith("(see --help)")


def test_a_missing_file_is_a_one_line_error(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    code, text, err = run([str(tmp_path / "nope.log")], capsysbinary)
    assert code == 1 and text == ""
    assert err == [f"jetson-exporter tegrastats: error: cannot read {tmp_path / 'nope.log'}: No such file or directory"]


def test_stdin(fixture_path: Callable[[str], Path], convert: Convert) -> None:
    result = convert(["-"], stdin=fixture_path("agx-orin-jp6.log").read_bytes())
    assert result.returncode == 0, result.stderr
    out = series(result.stdout.decode())
    assert len(times(out, "jetson_memory_used_bytes")) == 3
    assert b"stdin: 3 lines converted" in result.stderr


def test_spilled_output_is_the_same_document(fixture_path: Callable[[str], Path]) -> None:
    """Long logs go through a temporary file; the document does not change."""
    documents = []
    for spill_samples in (10**9, 10):
        spool = tegrastats_cli.OpenMetricsSpool(spill_samples=spill_samples)
        converter = tegrastats_cli.Converter(spool, tz=timezone.utc, interval_s=1.0, start=None,
                                             warn=tegrastats_cli.WarningPrinter("test", 0, io.StringIO()))
        out = io.BytesIO()
        with open(fixture_path("agx-orin-jp6.log"), "rb") as log:
            tegrastats_cli.convert(log, out, converter)
        assert (spool._spill_file is not None) == (spill_samples == 10)
        spool.close()
        documents.append(out.getvalue())
    assert documents[0] == documents[1]


def test_labels_for_every_series(fixture_path: Callable[[str], Path],
                                 capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """Backfilled history joins the live series when it carries their target labels."""
    code, text, err = run([str(fixture_path("agx-orin-jp6.log")), "--label", "instance=orin-01:9998",
                           "--label", "job=jetson"], capsysbinary)
    assert code == 0, err
    out = series(text)
    assert all(dict(labels).get("instance") == "orin-01:9998" and dict(labels).get("job") == "jetson"
               for _, labels in out)
    assert values(out, "jetson_power_watts", rail="VIN_SYS_5V0", instance="orin-01:9998", job="jetson") == [
        4.707, 4.607, 4.707]
    for bad, message in (("rail=x", "--label rail: the exporter's metrics use this label already"),
                         ("no-equals", "invalid --label 'no-equals'"), ("__name__=x", "invalid --label")):
        code, _, err = run([str(fixture_path("agx-orin-jp6.log")), "--label", bad], capsysbinary)
        assert code == 2 and err[0].startswith("jetson-exporter tegrastats: error: " + message), err


def test_label_values_are_escaped() -> None:
    import dataclasses

    from jetson_exporter.catalog import BY_NAME

    spool = tegrastats_cli.OpenMetricsSpool()
    spec = dataclasses.replace(BY_NAME["jetson_power_watts"], help='Power "drawn"\\ here.')
    spool.add([(spec, [(('odd"rail\\name\n',), 1.5)])], 1720531891.25)
    buffer = io.BytesIO()
    spool.write(buffer)
    text = buffer.getvalue().decode()
    assert 'jetson_power_watts{rail="odd\\"rail\\\\name\\n"} 1.5 1720531891.25\n' in text
    parsed = series(text)
    assert parsed[("jetson_power_watts", (("rail", 'odd"rail\\name\n'),))] == [(1720531891.25, 1.5)]


def test_module_runs_as_subcommand(fixture_path: Callable[[str], Path], convert: Convert) -> None:
    result = convert([str(fixture_path("agx-orin-jp6.log"))])
    assert result.returncode == 0 and result.stdout.endswith(b"# EOF\n")

"""Bad logs: truncated lines, binary garbage, non-UTF-8 bytes, a 1 MB line, an empty file,
timestamps going backwards. No crash, a clear warning naming the line, every good line converted."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, List, Tuple

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from jetson_exporter.cli import main as cli_main

PREFIX = "jetson-exporter tegrastats: "
GARBAGE = bytes(b for b in range(256) if b != ord("\n"))
Sample = Callable[..., str]


def run(args: List[str], capsysbinary: pytest.CaptureFixture[bytes]) -> Tuple[int, str, List[str]]:
    code = cli_main(["tegrastats", *args])
    captured = capsysbinary.readouterr()
    return code, captured.out.decode(), captured.err.decode().splitlines()


def memory_used_points(text: str) -> List[Tuple[float, float]]:
    for family in text_string_to_metric_families(text):  # strict OpenMetrics: the document is valid
        if family.name == "jetson_memory_used_bytes":
            return [(float(s.timestamp), s.value) for s in family.samples]  # type: ignore[arg-type]
    return []


def jp6_line(second: int, used_mb: int, sample: Sample) -> bytes:
    line = sample("AGX Orin 64GB", "JetPack 6.2.1")
    return line.replace("18:42:06", f"18:42:{second:02d}").replace("RAM 18207/", f"RAM {used_mb}/").encode()


def test_every_good_line_survives_a_bad_log(
        sample: Sample, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    good = sample("AGX Orin 64GB", "JetPack 6.2.1").encode()
    lines = [
        jp6_line(0, 1000, sample),                                  # 1 good
        GARBAGE * 3,                                                # 2 binary garbage
        jp6_line(1, 1001, sample).replace(b" APE ", b" \xff\xfe\xfd APE "),  # 3 good, with invalid UTF-8 bytes
        b"RAM 1/2MB " + b"x" * (1 << 20),                           # 4 a 1 MB line
        jp6_line(2, 1002, sample)[:150],                            # 5 cut off in the middle of the log
        jp6_line(1, 1003, sample),                                  # 6 earlier than line 5
        b"\x00" * 200,                                              # 7 what a crash leaves in a log
        b"",                                                        # 8 blank
        jp6_line(3, 1004, sample) + b"\r",                          # 9 good, CRLF line end
        good[:120],                                                 # 10 the last line, cut off
    ]
    path = tmp_path / "bad.log"
    path.write_bytes(b"\n".join(lines))
    code, text, err = run([str(path)], capsysbinary)
    assert code == 0
    t0 = 1778352120.0 + 6  # 05-09-2026 18:42:00 UTC + 6 s is the sample's own second
    assert memory_used_points(text) == [(t0 - 6, 1000 * 2**20), (t0 - 5, 1001 * 2**20), (t0 - 4, 1002 * 2**20),
                                        (t0 - 3, 1004 * 2**20)]
    where = f"warning: {path}:"
    assert err[0] == f"{PREFIX}{where}2: not a tegrastats line: " + repr(
        GARBAGE.decode("utf-8", "replace")[:60]) + ": skipped"
    assert err[1] == f"{PREFIX}{where}3: skipped unknown tokens: '\ufffd\ufffd\ufffd'"
    assert err[2] == f"{PREFIX}{where}4: longer than 64 KiB, not a tegrastats line: skipped"
    assert err[3].startswith(f"{PREFIX}{where}5: skipped unknown tokens: 'CPU' '[14%@2188,")
    assert err[4] == (f"{PREFIX}{where}6: timestamp 05-09-2026 18:42:01 is not after line 5's "
                      "(05-09-2026 18:42:02): skipped")
    assert err[5] == f"{PREFIX}{where}7: not a tegrastats line: {chr(0) * 60!r}: skipped"
    assert err[6] == f"{PREFIX}{where}10: cut off (no line end, fewer fields than line 9): skipped"
    assert err[7] == f"{PREFIX}{path}: 4 lines converted, 5 skipped; " + err[7].split("skipped; ")[1]
    assert len(err) == 8


def test_an_unterminated_last_line_that_is_whole_is_converted(
        sample: Sample, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    path = tmp_path / "log"
    path.write_bytes(jp6_line(0, 1000, sample) + b"\n" + jp6_line(1, 1001, sample))
    code, text, err = run([str(path)], capsysbinary)
    assert code == 0 and len(memory_used_points(text)) == 2 and len(err) == 1


def test_an_empty_file_converts_to_an_empty_document_and_says_so(
        tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    code, text, err = run([str(path)], capsysbinary)
    assert code == 1 and text == "# EOF\n"
    assert err == [f"{PREFIX}error: {path} is empty: nothing converted"]


def test_a_file_without_tegrastats_lines_says_so(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello\nworld\n")
    code, text, err = run([str(path)], capsysbinary)
    assert code == 1 and text == "# EOF\n"
    assert err[-1] == f"{PREFIX}error: {path} has no tegrastats lines: nothing converted"
    assert err[0] == f"{PREFIX}warning: {path}:1: not a tegrastats line: 'hello': skipped"


def test_timestamps_going_backwards_are_skipped_one_by_one(
        tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    stamps = ["13:31:31", "13:31:32", "13:31:30", "13:31:32", "13:31:33"]
    path = tmp_path / "clock.log"
    path.write_bytes(b"".join(f"07-09-2024 {t} RAM {i}/8MB\n".encode() for i, t in enumerate(stamps)))
    code, text, err = run([str(path)], capsysbinary)
    assert code == 0
    assert [v for _, v in memory_used_points(text)] == [0, 2**20, 4 * 2**20]
    after = "is not after line 2's (07-09-2024 13:31:32): skipped"
    assert err[:2] == [f"{PREFIX}warning: {path}:3: timestamp 07-09-2024 13:31:30 {after}",
                       f"{PREFIX}warning: {path}:4: timestamp 07-09-2024 13:31:32 {after}"]


def test_warnings_are_limited_and_counted(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    path = tmp_path / "noisy.log"
    path.write_bytes(b"RAM 1/2MB\n" + b"junk\n" * 50)
    code, _, err = run([str(path), "--start", "1720531891", "--max-warnings", "3"], capsysbinary)
    assert code == 0
    assert [line.split(": ")[2] for line in err[:3]] == [f"{path}:{n}" for n in (2, 3, 4)]
    assert err[3] == f"{PREFIX}47 more warnings not shown (--max-warnings 0 shows all)"
    code, _, err = run([str(path), "--start", "1720531891", "--max-warnings", "0"], capsysbinary)
    assert len(err) == 51


def test_unknown_tokens_are_warned_once_each(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    path = tmp_path / "future.log"
    path.write_bytes(b"".join(f"07-09-2024 13:31:{s} RAM 1/2MB NEWTHING 7\n".encode() for s in range(30, 40)))
    code, text, err = run([str(path)], capsysbinary)
    assert code == 0 and len(memory_used_points(text)) == 10
    assert err[0] == f"{PREFIX}warning: {path}:1: skipped unknown tokens: 'NEWTHING' '7'"
    assert len(err) == 2

"""`jetson-exporter top` as a user sees it, against a fake query API: the table and the JSON, absent
values shown as absent, a fixed number of queries per refresh for any fleet size, one-line errors
that keep the last data on screen marked stale, bad flags, and the live screen in a terminal."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

import pytest

from jetson_exporter.view import fleet, top
from jetson_exporter.view.promapi import Client
from jetson_exporter.view.top import Fetcher, View
from testkit.core import free_port
from testkit.promstack import Answer, FakeApi, Request, json_answer

TOKEN = "s3cr3t-t0ken-value"
DASH = top.ABSENT  # what an absent value looks like
MakeApi = Callable[[Callable[[Request], Answer]], FakeApi]
QUERIES = fleet.build_queries()
KEY_OF = {q.expr: q.key for q in QUERIES.instant}
TREND_OF = {q.expr: q.key for q in QUERIES.trends}


def _node_values(i: int) -> Dict[str, Optional[float]]:
    """Board i of a synthetic fleet: every third like Thor (no GPU load), every fourth without fan."""
    return {"up": 1.0, "age": 1.5, "gpu": None if i % 3 == 2 else (i % 10) / 10, "gpu_temp": 40.0 + i % 7,
            "hottest": 50.0 + i % 9, "cpu": 0.25, "ram_used": 2.0 * 2**30, "ram_total": 8.0 * 2**30,
            "power": 5.0 + i % 4, "fan": None if i % 4 == 3 else 0.5}


def fleet_app(nodes: int) -> Callable[[Request], Answer]:
    """Answers top's queries for `nodes` boards named jetson-0000 ..., as Prometheus would."""
    def app(request: Request) -> Answer:
        expr = request.params.get("query", "")
        result: List[Dict[str, object]] = []
        if request.path == "/api/v1/query_range":
            key = TREND_OF[expr]
            start, end = float(request.params["start"]), float(request.params["end"])
            step = float(request.params["step"].rstrip("s"))
            times = [start + k * step for k in range(int((end - start) // step) + 1)]
            for i in range(nodes):
                value = _node_values(i).get(key)
                if value is not None:
                    result.append({"metric": {"node": f"jetson-{i:04d}", "instance": f"jetson-{i:04d}"},
                                   "values": [[t, str(value)] for t in times]})
            return json_answer({"status": "success", "data": {"resultType": "matrix", "result": result}})
        key = KEY_OF[expr]
        for i in range(nodes):
            labels = {"node": f"jetson-{i:04d}", "instance": f"jetson-{i:04d}"}
            if key == "info":
                labels.update(model="NVIDIA Jetson Orin Nano Developer Kit", jetpack="6.2")
                value: Optional[float] = 1.0
            elif key == "mode":
                labels.update(name="15W")
                value = 1.0
            else:
                value = _node_values(i).get(key)
            if value is not None:
                result.append({"metric": labels, "value": [1.7e9, str(value)]})
        return json_answer({"status": "success", "data": {"resultType": "vector", "result": result}})
    return app


def _run(argv: List[str], capsys: pytest.CaptureFixture[str]) -> Tuple[int, str, str]:
    code = top.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# -- output -------------------------------------------------------------------------------------------

def test_once_prints_one_table_with_absent_values_as_dashes(fake_api: MakeApi,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    api = fake_api(fleet_app(4))
    code, out, err = _run(["--prometheus", api.url, "--once"], capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith(f"{api.url}  4 nodes: 4 up, 0 down, 0 stale  ·  16 queries in ")
    header = lines[2].split()
    assert header[:5] == ["NODE", "MODEL", "MODE", "STATE", "GPU"] and header[-1] == "FAN"
    rows = {line.split()[0]: line for line in lines[3:]}
    assert set(rows) == {"jetson-0000", "jetson-0001", "jetson-0002", "jetson-0003"}
    assert re.search(rf"jetson-0002\s+Orin Nano devkit\s+15W\s+up\s+{DASH}", rows["jetson-0002"])  # no GPU load
    assert rows["jetson-0003"].rstrip().endswith(DASH)  # no fan
    assert rows["jetson-0001"].rstrip().endswith("50%") and " 10% " in rows["jetson-0001"]
    assert "2.0/8.0G" in rows["jetson-0000"] and "5.0W" in rows["jetson-0000"]


def test_json_output_has_si_values_and_null_where_absent(fake_api: MakeApi,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    api = fake_api(fleet_app(3))
    code, out, _ = _run(["--prometheus", api.url, "--once", "--output", "json", "--sort", "gpu", "--reverse"], capsys)
    document = json.loads(out)
    assert code == 0 and document["stale"] is False and document["error"] is None and document["queries"] == 16
    nodes = document["nodes"]
    assert [n["node"] for n in nodes] == ["jetson-0001", "jetson-0000", "jetson-0002"]  # absent GPU last
    thor_like = nodes[2]
    assert thor_like["gpu_utilization_ratio"] is None and thor_like["memory_total_bytes"] == 8 * 2**30
    assert thor_like["model"] == "NVIDIA Jetson Orin Nano Developer Kit" and thor_like["power_mode"] == "15W"
    assert len(nodes[0]["trends"]["gpu"]) == top.TREND_POINTS and document["trend"]["points"] == top.TREND_POINTS


def test_the_filter_keeps_matching_nodes_only(fake_api: MakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api = fake_api(fleet_app(12))
    code, out, _ = _run(["--prometheus", api.url, "--once", "--output", "json", "--filter=-001[01]$"], capsys)
    assert code == 0 and [n["node"] for n in json.loads(out)["nodes"]] == ["jetson-0010", "jetson-0011"]


def test_without_trends_no_range_query_is_sent(fake_api: MakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api = fake_api(fleet_app(2))
    code, _, _ = _run(["--prometheus", api.url, "--once", "--no-trends"], capsys)
    assert code == 0 and len(api.requests) == len(QUERIES.instant)
    assert all(r.path == "/api/v1/query" for r in api.requests)


# -- a fleet of 1,000 ------------------------------------------------------------------------------------

def test_the_number_of_queries_per_refresh_does_not_grow_with_the_fleet(fake_api: MakeApi) -> None:
    sent: Dict[int, int] = {}
    for nodes in (10, 1000):
        api = fake_api(fleet_app(nodes))
        fetcher = Fetcher(Client(api.url), QUERIES)
        try:
            started = time.monotonic()
            refresh = fetcher.refresh()
            elapsed = time.monotonic() - started
        finally:
            fetcher.close()
        assert len(refresh.rows) == nodes and refresh.queries == len(api.requests)
        sent[nodes] = len(api.requests)
        if nodes == 1000:
            assert elapsed < 10, f"a 1,000-node refresh took {elapsed:.1f}s"  # bench/top.py measures it
            table = top.table(fleet.sort_rows(refresh.rows), width=200)
            assert len(table) == 1001 and all(len(line) <= 200 for line in table)
    assert sent[10] == sent[1000] == QUERIES.count


# -- errors ----------------------------------------------------------------------------------------------

ERRORS = {
    "not prometheus": (lambda r: (200, "text/html", b"<html><body>Sign in</body></html>"),
                       "did not answer like a Prometheus API"),
    "401": (lambda r: (401, "text/plain", b"Unauthorized"), "HTTP 401 Unauthorized"),
    "bad_data": (lambda r: json_answer({"status": "error", "errorType": "bad_data", "error": "parse error"}, 400),
                 "the query was refused (bad_data): parse error"),
    "timeout": (lambda r: json_answer({"status": "error", "errorType": "timeout", "error": "query timed out"}, 503),
                "the query timed out on the server (timeout)"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_a_prometheus_error_is_one_line_and_exit_1(case: str, fake_api: MakeApi, tmp_path: object,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    app, expected = ERRORS[case]
    api = fake_api(app)
    monkeypatch.setenv(top.TOKEN_ENV, TOKEN)
    code, out, err = _run(["--prometheus", api.url, "--once"], capsys)
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("jetson-exporter top: error: ") and expected in err
    assert TOKEN not in err


def test_an_unreachable_server_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["--prometheus", f"http://127.0.0.1:{free_port()}", "--once", "--timeout", "2s"], capsys)
    assert code == 1 and len(err.splitlines()) == 1 and "connection refused" in err


def test_a_failed_refresh_keeps_the_last_table_and_marks_it_stale(fake_api: MakeApi) -> None:
    healthy = fleet_app(3)
    broken = {"now": False}

    def app(request: Request) -> Answer:
        if broken["now"]:
            return json_answer({"status": "error", "errorType": "unavailable", "error": "TSDB not ready"}, 503)
        return healthy(request)
    api = fake_api(app)
    fetcher = Fetcher(Client(api.url), QUERIES)
    view = View(source=api.url)
    try:
        view.update(fetcher)
        before = view.last
        broken["now"] = True
        view.update(fetcher)
    finally:
        fetcher.close()
    assert view.stale and view.last is before and len(view.rows()) == 3
    screen = top.screen(view, width=None, height=None, color=False, trends=True, live=True)
    assert screen[1].startswith(f"! {api.url}: the server is not ready (unavailable): TSDB not ready [")
    assert screen[1].endswith(", stale)") and "showing data from" in screen[1]
    assert any(line.startswith("jetson-0000") for line in screen)
    document = top.document(view)
    assert document["stale"] is True and len(document["nodes"]) == 3 and "TSDB not ready" in str(document["error"])


def test_a_query_that_returns_nothing_shows_dashes_not_zeros(fake_api: MakeApi,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    full = fleet_app(1)

    def app(request: Request) -> Answer:  # only identity and state: every reading is missing
        expr = request.params.get("query", "")
        if request.path == "/api/v1/query" and KEY_OF.get(expr) in ("info", "up"):
            return full(request)
        kind = "matrix" if request.path.endswith("range") else "vector"
        return json_answer({"status": "success", "data": {"resultType": kind, "result": []}})
    api = fake_api(app)
    code, out, _ = _run(["--prometheus", api.url, "--once"], capsys)
    row = out.splitlines()[3]
    assert code == 0 and row.split()[:4] == ["jetson-0000", "Orin", "Nano", "devkit"]
    assert row.split()[4:] == [DASH, "up"] + [DASH] * 7 and "0" not in row.split("up", 1)[1]


def test_an_empty_prometheus_is_an_empty_table(fake_api: MakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api = fake_api(fleet_app(0))
    code, out, _ = _run(["--prometheus", api.url, "--once"], capsys)
    assert code == 0 and "0 nodes: 0 up, 0 down, 0 stale" in out and out.splitlines()[2].startswith("NODE")


# -- flags ------------------------------------------------------------------------------------------------

BAD_FLAGS = {
    "no server": [],
    "two servers": ["--prometheus", "http://a", "--kubesphere", "http://b"],
    "not a URL": ["--prometheus", "prometheus:9090"],
    "bad regex": ["--prometheus", "http://a", "--filter", "edge-("],
    "bad selector": ["--prometheus", "http://a", "--selector", "job=jetson"],
    "bad duration": ["--prometheus", "http://a", "--interval", "soon"],
    "bad sort": ["--prometheus", "http://a", "--sort", "uptime"],
    "kubesphere without a token": ["--kubesphere", "http://ks"],
    "cluster without kubesphere": ["--prometheus", "http://a", "--cluster", "edge"],
    "missing token file": ["--kubesphere", "http://ks", "--token-file", "/nonexistent/token"],
}


@pytest.mark.parametrize("case", sorted(BAD_FLAGS))
def test_bad_flags_are_one_line_and_exit_2(case: str, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(top.TOKEN_ENV, raising=False)
    code, out, err = _run(BAD_FLAGS[case], capsys)
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and err.startswith("jetson-exporter top: error: ")


def test_an_empty_token_file_is_refused(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    path = os.path.join(str(tmp_path), "token")
    with open(path, "w") as fh:
        fh.write("\n")
    code, _, err = _run(["--kubesphere", "http://ks", "--token-file", path], capsys)
    assert code == 2 and "is empty" in err


def test_the_token_file_feeds_kubesphere_queries(fake_api: MakeApi, tmp_path: object,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    api = fake_api(lambda r: json_answer({"data": {"resultType": "vector"}}))
    path = os.path.join(str(tmp_path), "token")
    with open(path, "w") as fh:
        fh.write(TOKEN + "\n")
    code, out, _ = _run(["--kubesphere", api.url, "--token-file", path, "--once", "--no-trends"], capsys)
    assert code == 0 and TOKEN not in out
    assert {r.headers["authorization"] for r in api.requests} == {f"Bearer {TOKEN}"}
    assert {r.path for r in api.requests} == {"/kapis/monitoring.kubesphere.io/v1alpha3/targets/query"}


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert top.main(["--help"]) == 0 and "--prometheus" in capsys.readouterr().out


# -- rendering ---------------------------------------------------------------------------------------------

def test_sparklines_scale_and_leave_gaps() -> None:
    assert top.sparkline([0.0, 0.5, 1.0, None], 0.0, 1.0) == "▁▅█ "
    assert top.sparkline([3.0, 3.0], 3.0, 3.0) == "▄▄"


def test_a_narrow_terminal_drops_sparklines_then_shortens_the_model() -> None:
    rows = [fleet.Row("jetson-0001", model="NVIDIA Jetson AGX Orin Developer Kit", state="up", gpu_ratio=0.5,
                      trends={"gpu": (0.1,) * top.TREND_POINTS})]
    wide = top.table(rows, width=None)
    assert "▂" * top.TREND_POINTS in wide[1]
    narrow = top.table(rows, width=90)
    assert "▂" not in narrow[1] and all(len(line) <= 90 for line in narrow)
    tight = top.table(rows, width=70)
    assert all(len(line) <= 70 for line in tight) and tight[1].startswith("jetson-0001")


def test_keys_sort_reverse_filter_and_quit() -> None:
    view = View(source="x")
    assert view.key("s") and view.sort == "model"
    assert view.key("S") and view.sort == "node"
    assert view.key("r") and view.reverse
    assert view.key("/") and view.editing == ""
    assert view.key("eu-") and view.key("\x7f") and view.key("\r")
    assert view.pattern is not None and view.pattern.pattern == "eu" and view.editing is None
    assert view.key("/") and view.key("(") and view.key("\r")
    assert view.message is not None and "invalid regular expression" in view.message
    assert view.key("\x1b") and view.pattern is None
    assert view.key("\x1b[A")  # an arrow key is ignored
    assert not view.key("q")


# -- the live screen in a real terminal ---------------------------------------------------------------------

def _read_until(fd: int, marker: bytes, deadline_s: float = 20.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + deadline_s
    while marker not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{marker!r} not shown; screen so far: {seen[-500:]!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_the_live_screen_redraws_sorts_on_a_key_and_quits_restoring_the_terminal(fake_api: MakeApi) -> None:
    import pty

    api = fake_api(fleet_app(5))
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "jetson_exporter", "top", "--prometheus", api.url,
                             "--interval", "1s"], stdin=terminal, stdout=terminal, stderr=terminal,
                            env={**os.environ, "COLUMNS": "200", "LINES": "40"}, close_fds=True)
    os.close(terminal)
    try:
        screen = _read_until(controller, b"jetson-0004")
        assert b"\x1b[?1049h" in screen and b"sort: node" in screen
        os.write(controller, b"s")
        assert b"sort: model" in _read_until(controller, b"sort: model")
        os.write(controller, b"q")
        rest = _read_until(controller, b"\x1b[?1049l")
        assert proc.wait(timeout=20) == 0 and b"\x1b[?25h" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(controller)

"""The fleet table's data, from query answers to rows (pure): one query per column across the
fleet, rows keyed by node (else instance), absent values absent, states, sorting and filtering."""

from __future__ import annotations

import math
import re
from typing import Dict, List, Optional, Sequence

import pytest

from jetson_exporter import catalog
from jetson_exporter.view import fleet
from jetson_exporter.view.fleet import DOWN, STALE, UP, Row, TrendGrid
from jetson_exporter.view.promapi import Sample, Series
from testkit import promql


def _s(value: Optional[float], **labels: str) -> Sample:
    return Sample(labels, value)


def _rows(answers: Dict[str, List[Sample]], trends: Optional[Dict[str, List[Series]]] = None,
          grid: Optional[TrendGrid] = None) -> Dict[str, Row]:
    return {r.node: r for r in fleet.build_rows(answers, trends or {}, grid, stale_after_s=180)}


@pytest.mark.parametrize("selector", ["", 'job="jetson-exporter"', 'cluster=~"eu-.*", job!="test"'])
def test_every_query_is_valid_promql_over_catalog_metrics(selector: str) -> None:
    queries = fleet.build_queries(selector, "5m", "15m")
    for query in (*queries.instant, *queries.trends):
        names = promql.metric_names(query.expr)
        assert names and names <= set(catalog.BY_NAME) | promql.BUILTIN_METRICS, query
        if selector:  # the user's matchers are on every selector
            wanted = set(promql.matchers(promql.selectors(f"x{{{selector}}}")[0]))
            for node in promql.selectors(query.expr):
                assert wanted <= set(promql.matchers(node)), query


def test_each_column_is_one_query_grouped_by_node_whatever_the_fleet() -> None:
    queries = fleet.build_queries()
    keys = [q.key for q in queries.instant]
    assert len(keys) == len(set(keys)) and queries.count == len(queries.instant) + len(queries.trends) == 16
    for query in queries.instant:
        assert "by (node, instance" in query.expr, query  # never one query per node


def test_naming_the_job_lists_targets_that_never_served_metrics() -> None:
    plain = {q.key: q.expr for q in fleet.build_queries().instant}["up"]
    with_job = {q.key: q.expr for q in fleet.build_queries('job="jetson-exporter"').instant}["up"]
    assert "and on (job, instance)" in plain and "and on" not in with_job


@pytest.mark.parametrize("bad", ['job=jetson', 'job="a" cluster="b"', "{job='x'}", 'job="unterminated'])
def test_a_malformed_selector_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid selector"):
        fleet.build_queries(bad)


@pytest.mark.parametrize("bad", ["5", "five minutes", "0s", ""])
def test_a_malformed_duration_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        fleet.build_queries(rate_window=bad)


def test_rows_are_named_by_the_node_label_and_else_by_instance() -> None:
    rows = _rows({
        "info": [_s(1, node="orin-1", instance="orin-1", model="NVIDIA Jetson AGX Orin Developer Kit"),
                 _s(1, instance="10.0.0.7:9998", model="NVIDIA Jetson Nano Developer Kit")],
        "gpu": [_s(0.25, node="orin-1", instance="orin-1"), _s(0.5, instance="10.0.0.7:9998")],
    })
    assert set(rows) == {"orin-1", "10.0.0.7:9998"}
    assert rows["orin-1"].gpu_ratio == 0.25 and rows["10.0.0.7:9998"].gpu_ratio == 0.5
    assert rows["10.0.0.7:9998"].model == "NVIDIA Jetson Nano Developer Kit"


def test_what_a_board_does_not_have_stays_absent_never_zero() -> None:
    rows = _rows({
        "info": [_s(1, node="thor", model="Thor"), _s(1, node="nano", model="Nano 2GB")],
        "up": [_s(1, node="thor"), _s(1, node="nano")],
        "gpu": [_s(0.0, node="nano")],  # an idle GPU is 0; Thor has no load file: no series
        "fan": [_s(0.3, node="thor")],  # the Nano 2GB has no fan
        "cpu": [_s(None, node="thor"), _s(None, node="nano")],  # NaN from 0/0 on a static /proc/stat
        "power": [_s(44.8, node="thor")],
    })
    assert rows["thor"].gpu_ratio is None and rows["nano"].gpu_ratio == 0.0
    assert rows["nano"].fan_ratio is None and rows["nano"].power_w is None
    assert rows["thor"].cpu_ratio is None and rows["nano"].cpu_ratio is None
    assert fleet.row_document(rows["nano"])["fan_speed_ratio"] is None


@pytest.mark.parametrize("answers, state", [
    ({"up": [_s(1, node="n")], "ram_total": [_s(8e9, node="n")]}, UP),
    ({"up": [_s(0, node="n")]}, DOWN),  # Prometheus cannot scrape it
    ({"up": [_s(1, node="n")], "age": [_s(600, node="n")]}, STALE),  # scraped, but the sampler is stuck
    ({"info": [_s(1, node="n")]}, STALE),  # seen in the lookback, nothing now
    ({"info": [_s(1, node="n")], "ram_total": [_s(8e9, node="n")]}, UP),  # pushed data has no `up`
])
def test_a_node_is_up_down_or_stale(answers: Dict[str, List[Sample]], state: str) -> None:
    assert _rows(answers)["n"].state == state


def test_a_down_node_keeps_its_identity_and_shows_no_readings() -> None:
    row = _rows({"info": [_s(1, node="n", model="Xavier NX")], "up": [_s(0, node="n")]})["n"]
    assert row.state == DOWN and row.model == "Xavier NX"
    assert row.gpu_ratio is None and row.hottest_c is None and row.power_w is None


def test_sparkline_points_land_on_the_grid_and_gaps_stay_gaps() -> None:
    grid = TrendGrid(start_s=1000.0, step_s=60.0, points=4)
    series = Series({"node": "n"}, ((1000.0, 0.1), (1060.0, None), (1180.0, 0.4), (2000.0, 9.0)))
    rows = _rows({"info": [_s(1, node="n")]}, {"gpu": [series], "power": [Series({"node": "other"}, ((1000.0, 1),))]},
                 grid)
    assert rows["n"].trends["gpu"] == (0.1, None, None, 0.4)
    assert "other" not in rows  # trends alone never add a node


def _sorted(rows: Sequence[Row], key: str, reverse: bool = False) -> List[str]:
    return [r.node for r in fleet.sort_rows(rows, key, reverse)]


def test_sorting_puts_absent_values_last_in_both_directions() -> None:
    rows = [Row("b", gpu_ratio=0.5), Row("a"), Row("c", gpu_ratio=0.1), Row("d", gpu_ratio=0.9)]
    assert _sorted(rows, "gpu") == ["c", "b", "d", "a"]
    assert _sorted(rows, "gpu", reverse=True) == ["d", "b", "c", "a"]


def test_nodes_sort_naturally() -> None:
    rows = [Row("jetson-10"), Row("jetson-9"), Row("jetson-100"), Row("Jetson-1")]
    assert _sorted(rows, "node") == ["Jetson-1", "jetson-9", "jetson-10", "jetson-100"]


def test_every_sort_key_works_on_partial_rows() -> None:
    rows = [Row("a", state=UP, ram_used_bytes=1.0, ram_total_bytes=4.0), Row("b", state=DOWN), Row("c")]
    for key in fleet.SORT_KEYS:
        assert sorted(_sorted(rows, key)) == ["a", "b", "c"]
    assert _sorted(rows, "state") == ["b", "c", "a"]  # down first: what needs attention


def test_the_filter_is_a_regex_on_the_node_name() -> None:
    rows = [Row("edge-eu-1"), Row("edge-us-1"), Row("edge-eu-2")]
    assert [r.node for r in fleet.filter_rows(rows, re.compile(r"-eu-"))] == ["edge-eu-1", "edge-eu-2"]
    assert len(fleet.filter_rows(rows, None)) == 3


def test_ram_ratio_needs_both_used_and_total() -> None:
    assert Row("n", ram_used_bytes=2.0, ram_total_bytes=8.0).ram_ratio == 0.25
    assert Row("n", ram_used_bytes=2.0).ram_ratio is None
    assert Row("n", ram_used_bytes=2.0, ram_total_bytes=0.0).ram_ratio is None


def test_json_rows_never_carry_nan() -> None:
    document = fleet.row_document(Row("n", power_w=math.nan, fan_ratio=0.5))
    assert document["board_power_watts"] is None and document["fan_speed_ratio"] == 0.5

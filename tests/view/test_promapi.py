"""The query client: answers of Prometheus and of KubeSphere's endpoint, and every way a query can
fail turned into one line that names the server and never the token."""

from __future__ import annotations

import json
from typing import Callable, List

import pytest

from jetson_exporter.view.promapi import KUBESPHERE, Client, PromError, go_duration
from testkit.core import free_port
from testkit.promstack import Answer, FakeApi, Request, json_answer, vector

TOKEN = "s3cr3t-t0ken-value"
MakeApi = Callable[[Callable[[Request], Answer]], FakeApi]


def _error(client: Client, expr: str = "up") -> PromError:
    with pytest.raises(PromError) as caught:
        client.query(expr)
    message = str(caught.value)
    assert "\n" not in message and TOKEN not in message
    return caught.value


def test_an_instant_answer_becomes_samples_and_non_finite_values_become_absent(fake_api: MakeApi) -> None:
    api = fake_api(lambda r: vector([({"node": "a"}, "0.25"), ({"node": "b"}, "NaN"), ({"node": "c"}, "+Inf")]))
    samples = Client(api.url).query("jetson_gpu_utilization_ratio")
    assert [(s.labels["node"], s.value) for s in samples] == [("a", 0.25), ("b", None), ("c", None)]
    assert api.requests[0].path == "/api/v1/query"
    assert api.requests[0].params == {"query": "jetson_gpu_utilization_ratio"}


def test_no_match_is_an_empty_answer_not_an_error(fake_api: MakeApi) -> None:
    api = fake_api(lambda r: vector([]))
    assert Client(api.url).query("jetson_fan_rpm") == []


def test_a_range_answer_keeps_gaps(fake_api: MakeApi) -> None:
    def app(request: Request) -> Answer:
        return json_answer({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"node": "a"}, "values": [[100, "1"], [160, "NaN"], [220, "3.5"]]}]}})
    api = fake_api(app)
    series = Client(api.url).query_range("x", 100.0, 220.0, 60.0)
    assert series[0].points == ((100.0, 1.0), (160.0, None), (220.0, 3.5))
    assert api.requests[0].path == "/api/v1/query_range"
    assert api.requests[0].params["step"] == "60s" and api.requests[0].params["start"] == "100.000"


def test_kubesphere_gets_integer_times_a_go_duration_step_and_the_token(fake_api: MakeApi) -> None:
    def app(request: Request) -> Answer:
        if "start" in request.params:  # KubeSphere omits empty fields: no result at all
            return json_answer({"data": {"resultType": "matrix"}})
        return json_answer({"data": {"resultType": "vector", "result": [{"value": [1.7e9, "2"]}]}})
    api = fake_api(app)
    client = Client(api.url + "/", dialect=KUBESPHERE, token=TOKEN)
    assert client.query("sum(up)", time_s=1700000000.9)[0].value == 2.0
    assert client.query_range("sum(up)", 1700000000.5, 1700003600.2, 90.0) == []
    instant, ranged = api.requests
    assert instant.path == "/kapis/monitoring.kubesphere.io/v1alpha3/targets/query"
    assert instant.params == {"expr": "sum(up)", "time": "1700000000"}
    assert ranged.params == {"expr": "sum(up)", "start": "1700000000", "end": "1700003600", "step": "90s"}
    assert instant.headers["authorization"] == f"Bearer {TOKEN}"


def test_a_kubesphere_member_cluster_is_reached_through_the_host(fake_api: MakeApi) -> None:
    api = fake_api(lambda r: json_answer({"data": {"resultType": "vector"}}))
    Client(api.url, dialect=KUBESPHERE, cluster="edge-eu", token=TOKEN).query("up")
    assert api.requests[0].path == "/kapis/clusters/edge-eu/monitoring.kubesphere.io/v1alpha3/targets/query"


def test_kubesphere_reports_a_prometheus_error_with_http_200(fake_api: MakeApi) -> None:
    api = fake_api(lambda r: json_answer({"error": 'bad_data: 1:6: parse error: unexpected "}"'}))
    error = _error(Client(api.url, dialect=KUBESPHERE, token=TOKEN), "up{a}}")
    assert error.kind == "bad_data" and "the query was refused (bad_data): 1:6: parse error" in str(error)


def test_bad_data_is_one_line_with_prometheus_s_reason(fake_api: MakeApi) -> None:
    api = fake_api(lambda r: json_answer({"status": "error", "errorType": "bad_data",
                                          "error": "invalid parameter \"query\": 1:5: parse error:\nunexpected"}, 400))
    error = _error(Client(api.url))
    assert error.kind == "bad_data"
    assert str(error) == (f"{api.url}: the query was refused (bad_data): "
                          "invalid parameter \"query\": 1:5: parse error: unexpected")


def test_a_server_side_timeout_says_so(fake_api: MakeApi) -> None:
    api = fake_api(lambda r: json_answer({"status": "error", "errorType": "timeout",
                                          "error": "query timed out in expression evaluation"}, 503))
    assert "the query timed out on the server (timeout)" in str(_error(Client(api.url)))


def test_victoriametrics_error_types_are_shown_as_they_come(fake_api: MakeApi) -> None:
    api = fake_api(lambda r: json_answer({"status": "error", "errorType": "422", "error": "cannot parse"}, 422))
    assert str(_error(Client(api.url))).endswith("the query failed (422): cannot parse")


def test_a_page_that_is_not_prometheus_is_named_as_such(fake_api: MakeApi) -> None:
    api = fake_api(lambda r: (200, "text/html", b"<!doctype html>\n<html><title>Grafana</title></html>"))
    error = _error(Client(api.url))
    assert error.kind == "not_prometheus"
    assert str(error) == (f"{api.url} did not answer like a Prometheus API (HTTP 200, <!doctype html>): "
                          "check the URL")


def test_json_that_is_not_the_prometheus_envelope_is_refused(fake_api: MakeApi) -> None:
    api = fake_api(lambda r: json_answer({"items": []}))
    assert _error(Client(api.url)).kind == "not_prometheus"


def test_a_proxy_s_502_page_is_one_line(fake_api: MakeApi) -> None:
    api = fake_api(lambda r: (502, "text/html", b"<html>\n<body>Bad Gateway</body></html>\n"))
    assert "HTTP 502" in str(_error(Client(api.url)))


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_asks_for_a_fresh_one_without_printing_it(fake_api: MakeApi, status: int) -> None:
    api = fake_api(lambda r: (status, "text/plain", b"Unauthorized\n"))
    error = _error(Client(api.url, token=TOKEN))
    assert error.kind == "auth" and f"HTTP {status}" in str(error) and "--token-file" in str(error)


def test_missing_credentials_are_asked_for(fake_api: MakeApi) -> None:
    api = fake_api(lambda r: (401, "application/json", json.dumps({"message": "Unauthorized"}).encode()))
    assert "it needs credentials: pass a bearer token with --token-file" in str(_error(Client(api.url)))


def test_a_server_that_does_not_answer_in_time_times_out(fake_api: MakeApi) -> None:
    holder: List[FakeApi] = []

    def app(request: Request) -> Answer:
        holder[0].hold()
        return vector([])
    holder.append(fake_api(app))
    error = _error(Client(holder[0].url, timeout_s=0.3))
    assert error.kind == "timeout" and "did not answer within 0.3s" in str(error)


def test_an_unreachable_server_is_one_line() -> None:
    port = free_port()  # nothing listens there
    error = _error(Client(f"http://127.0.0.1:{port}", token=TOKEN))
    assert error.kind == "unreachable"
    assert str(error) == f"cannot reach http://127.0.0.1:{port}: connection refused (is the URL and port right?)"


def test_credentials_in_the_url_become_basic_auth_and_stay_out_of_messages(fake_api: MakeApi) -> None:
    api = fake_api(lambda r: (500, "text/plain", b"boom"))
    url = api.url.replace("http://", "http://viewer:pa%24s@")
    error = _error(Client(url))
    assert "viewer" not in str(error) and "pa$s" not in str(error)
    assert api.requests[0].headers["authorization"] == "Basic dmlld2VyOnBhJHM="


@pytest.mark.parametrize("bad", ["prometheus:9090", "ftp://host", "http://", "http://host/?query=up"])
def test_a_url_that_cannot_be_a_base_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid URL"):
        Client(bad)


def test_steps_are_go_durations() -> None:
    assert go_duration(150) == "150s" and go_duration(0.5) == "500ms" and go_duration(1.5) == "1500ms"


def test_a_malformed_answer_is_an_error_not_a_crash(fake_api: MakeApi) -> None:
    api = fake_api(lambda r: json_answer({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {}, "values": [["yesterday", "1"]]}]}}))
    with pytest.raises(PromError, match="malformed matrix series") as caught:
        Client(api.url).query_range("up", 0, 60, 60)
    assert caught.value.kind == "bad_response"
    with pytest.raises(PromError, match="expected a vector"):
        Client(api.url).query("up")

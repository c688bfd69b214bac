"""The jtop collector's life with scripted clients: data, a service that is down or restarts, a
version mismatch, silence, staleness, and closing. (The real service: test_harness.py.)"""

from __future__ import annotations

import argparse
import importlib.util
import queue
import sys
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Dict, Iterator, List, Optional, Union

import pytest

from jetson_exporter.snapshot import Snapshot
from jetson_exporter.sources import jtop as source
from jetson_exporter.sources.jtop import JtopCollector, describe_failure, frame_from_client, mismatch_message

Frame = Dict[str, object]
Poll = Callable[[Callable[[], object], float, str], object]
NOT_RUNNING = ("cannot connect to the jtop service at /run/jtop.sock: it is not running "
               "(start jtop.service; in a container, mount the host's socket)")
LOST = "lost the connection to the jtop service (stopped or restarting?)"


class FakeClient:
    """Behaves like `jtop.jtop` as far as the collector can tell; the test scripts `ok()`."""

    def __init__(self, service: FakeService, interval: float) -> None:
        self.service = service
        self.requested_interval = interval
        self.interval = interval
        self.events: queue.Queue[Union[bool, BaseException]] = queue.Queue()
        self.started = False
        self.closed = False

    def start(self) -> None:
        if self.service.start_error is not None:
            raise self.service.start_error
        self.interval = self.service.interval or self.requested_interval
        self.started = True

    def ok(self, spin: bool = False) -> bool:
        if self.service.auto:
            return not self.service.closing.wait(0.01)
        event = self.events.get(timeout=30)
        if isinstance(event, BaseException):
            raise event
        return event

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> FakeClient:
        # jetson-stats 7.x closes the client on __exit__: data read through a reference kept past
        # the block is frozen. The collector must own start()/close() itself.
        raise AssertionError("the collector used the jtop client as a context manager")

    def __getattr__(self, name: str) -> object:
        frame = self.service.frame
        if name == "jetson_clocks":
            return SimpleNamespace(get_enable=lambda: frame["jetson_clocks"])
        if name == "nvpmodel":
            return SimpleNamespace(**frame["nvpmodel"])  # type: ignore[arg-type]
        if name in frame:
            return frame[name]
        raise AttributeError(name)


class FakeService:
    """Hands out FakeClients; `push()` gives the connected one its next `ok()` outcome."""

    def __init__(self, frame: Frame, poll: Poll) -> None:
        self.frame = frame
        self.poll = poll
        self.start_error: Optional[BaseException] = None
        self.interval: Optional[float] = None
        self.auto = False  # ok() returns new data at once, forever
        self.closing = threading.Event()
        self.clients: List[FakeClient] = []

    def connect(self, interval: float) -> FakeClient:
        client = FakeClient(self, interval)
        self.clients.append(client)
        return client

    def connected(self) -> Optional[FakeClient]:
        live = [c for c in self.clients if c.started and not c.closed]
        return live[-1] if live else None

    def push(self, event: Union[bool, BaseException]) -> None:
        client = self.poll(self.connected, 5.0, "a connected client")
        assert isinstance(client, FakeClient)
        client.events.put(event)

    def shutdown(self) -> None:
        self.closing.set()
        for client in self.clients:
            client.events.put(False)


class Pauses:
    """Stands in for the backoff wait: records each delay and holds the next attempt until released."""

    def __init__(self) -> None:
        self.delays: List[float] = []
        self._go = threading.Semaphore(0)

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self._go.acquire(timeout=30)

    def release(self, attempts: int = 1) -> None:
        for _ in range(attempts):
            self._go.release()


@pytest.fixture
def rig(load_frame: Callable[[str], Frame], poll: Poll) -> Iterator[Callable[..., tuple]]:
    """(service, collector, pauses) with the collector started; everything stopped afterwards."""
    made: List[tuple] = []

    def make(interval_s: float = 1.0, version: str = "4.3.2", **kwargs: object) -> tuple:
        service = FakeService(load_frame("jetson-stats-4.3.2-agx-orin"), poll)
        pauses = Pauses()
        collector = JtopCollector(interval_s, client_factory=service.connect, client_version=version,
                                  backoff_initial_s=1.0, backoff_max_s=kwargs.pop("backoff_max_s", 30.0),  # type: ignore[arg-type]
                                  pause=pauses, **kwargs)  # type: ignore[arg-type]
        made.append((service, collector, pauses))
        return service, collector, pauses

    yield make
    for service, collector, pauses in made:
        service.shutdown()
        pauses.release(100)
        collector.close()
        assert collector._thread is None or not collector._thread.is_alive()


def has_values(collector: JtopCollector) -> Optional[Snapshot]:
    snapshot = collector.read()
    return snapshot if snapshot.gpu is not None and not collector.errors else None


def test_frames_become_snapshots_and_the_first_has_no_cpu_loads(rig: Callable[..., tuple], poll: Poll) -> None:
    service, collector, _ = rig()
    collector.start()
    assert collector.read() == Snapshot()
    assert collector.errors == ["connecting to the jtop service at /run/jtop.sock"]
    service.push(True)
    first = poll(lambda: has_values(collector), 5.0, "the first frame")
    assert isinstance(first, Snapshot)
    # The first frame after a (re)connection carries since-boot CPU averages: left out.
    assert len(first.cpus) == 12 and all(c.utilization is None for c in first.cpus)
    assert first.gpu is not None and first.gpu.utilization is not None
    assert not collector.wait_settled(0)  # settled means complete data: the second frame
    service.push(True)
    poll(lambda: collector.read().cpus[0].utilization is not None, 5.0, "the second frame")
    assert collector.wait_settled(0) and collector.errors == [] and collector.connections == 1


def test_a_service_that_is_not_running_is_retried_with_exponential_backoff(
        rig: Callable[..., tuple], poll: Poll) -> None:
    service, collector, pauses = rig(backoff_max_s=4.0)
    service.start_error = Exception("The jtop.service is not active. Please run:\nsudo systemctl restart jtop.service")
    collector.start()
    poll(lambda: pauses.delays, 5.0, "a failed attempt")
    assert collector.wait_settled(0)  # --once does not wait for a service that is down
    assert collector.read() == Snapshot() and collector.errors == [NOT_RUNNING]
    pauses.release(4)
    poll(lambda: len(pauses.delays) == 5, 5.0, "four more attempts")
    assert pauses.delays == [1.0, 2.0, 4.0, 4.0, 4.0]
    service.start_error = None  # the service is back
    pauses.release()
    service.push(True)
    poll(lambda: has_values(collector), 5.0, "values after the service came back")
    service.push(EOFError())  # ...and goes away again: the backoff starts over
    poll(lambda: len(pauses.delays) == 6, 5.0, "the next failure")
    assert pauses.delays[-1] == 1.0


def test_a_lost_connection_fails_the_collector_and_drops_its_values_until_reconnected(
        rig: Callable[..., tuple], poll: Poll) -> None:
    service, collector, pauses = rig()
    collector.start()
    service.push(True)
    poll(lambda: has_values(collector), 5.0, "values")
    first_client = service.connected()
    service.push(ConnectionResetError(104, "Connection reset by peer"))  # the service was stopped
    poll(lambda: pauses.delays, 5.0, "the failure")
    assert collector.read() == Snapshot()  # absent, not stale
    assert collector.errors == [LOST]
    assert first_client is not None and first_client.closed
    pauses.release()
    service.push(True)
    poll(lambda: has_values(collector), 5.0, "values after reconnecting")
    assert collector.connections == 2 and len(service.clients) == 2


def test_a_version_mismatch_is_one_line_naming_both_versions_and_is_retried_slowly(
        rig: Callable[..., tuple], poll: Poll) -> None:
    service, collector, pauses = rig(version="7.2.2")
    service.start_error = Exception(
        "Mismatch version jtop service: [4.3.2] and client: [7.2.2]. Please run:\n\nsudo jtop --install-service")
    collector.start()
    poll(lambda: pauses.delays, 5.0, "the failed attempt")
    collector.read()
    assert collector.errors == [
        "jtop service is 4.3.2 but this exporter has jetson-stats 7.2.2 installed: install jetson-stats==4.3.* "
        "beside the exporter (client and service must share major.minor); retrying every 30s"]
    pauses.release()
    poll(lambda: len(pauses.delays) == 2, 5.0, "the second attempt")
    assert pauses.delays == [30.0, 30.0]  # the host may be upgraded: keep trying, slowly


def test_a_silent_service_fails_the_collector(rig: Callable[..., tuple], poll: Poll) -> None:
    service, collector, pauses = rig()
    collector.start()
    service.push(True)
    poll(lambda: has_values(collector), 5.0, "values")
    service.push(False)  # jtop's ok(): no data within 3 intervals
    poll(lambda: pauses.delays, 5.0, "the failure")
    collector.read()
    assert collector.errors == ["the jtop service sent no data for 3s"]


def test_values_older_than_three_intervals_are_not_served(rig: Callable[..., tuple], poll: Poll) -> None:
    now = [1000.0]
    service, collector, _ = rig(clock=lambda: now[0])
    collector.start()
    service.push(True)
    poll(lambda: has_values(collector), 5.0, "values")
    now[0] += 5.0  # 3 intervals + 2 s margin: still fresh
    assert collector.read().gpu is not None
    now[0] += 0.5  # a client thread stuck without raising
    assert collector.read() == Snapshot()
    assert collector.errors == ["no data from the jtop service for more than 5s"]


def test_the_service_interval_set_by_another_client_is_followed_without_failing(
        rig: Callable[..., tuple], poll: Poll) -> None:
    service, collector, pauses = rig(interval_s=0.5)
    service.interval = 2.0  # a jtop GUI connected first and fixed the service's period
    collector.start()
    poll(lambda: len(service.clients) == 2 and service.clients[1].started, 5.0, "the second client")
    assert [c.requested_interval for c in service.clients] == [0.5, 2.0]
    assert service.clients[0].closed and pauses.delays == []
    service.push(True)
    poll(lambda: has_values(collector), 5.0, "values")
    assert collector.connections == 1


def test_close_stops_the_thread_and_closes_the_client(rig: Callable[..., tuple], poll: Poll) -> None:
    service, collector, _ = rig()
    collector.start()
    service.push(True)
    poll(lambda: has_values(collector), 5.0, "values")
    client = service.connected()
    service.shutdown()
    collector.close()
    assert collector._thread is not None and not collector._thread.is_alive()
    assert client is not None and client.closed
    assert len(service.clients) == 1  # no reconnection after close


def test_make_collector_returns_once_complete_data_is_there(
        load_frame: Callable[[str], Frame], monkeypatch: pytest.MonkeyPatch) -> None:
    service = FakeService(load_frame("jetson-stats-7.2.2-agx-orin"), lambda *a: None)
    service.auto = True
    monkeypatch.setattr(source, "load_client", lambda: (service.connect, "7.2.2"))
    collector = source.make_collector(argparse.Namespace(interval=0.5))
    try:
        snapshot = collector.read()
        assert collector.errors == []
        assert snapshot.cpus and all(c.utilization is not None for c in snapshot.cpus)
        assert service.clients[0].requested_interval == 0.5
    finally:
        service.shutdown()
        collector.close()


def test_without_jetson_stats_the_source_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # pytest puts tests/ on sys.path, where tests/jtop would pass for a `jtop` namespace package.
    tests_dir = Path(__file__).resolve().parents[1]
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p or ".").resolve() != tests_dir])
    monkeypatch.delitem(sys.modules, "jtop", raising=False)
    if importlib.util.find_spec("jtop") is not None:
        pytest.skip("jetson-stats is installed in this environment")
    with pytest.raises(ImportError, match=r"--source=jtop needs the jetson-stats client library.*pip install"):
        source.load_client()


@pytest.mark.parametrize(("error", "expected"), [
    (FileNotFoundError(2, "No such file or directory"), NOT_RUNNING),
    (Exception("I can't access jtop.service.\nPlease logout or reboot this board."),
     "permission denied on /run/jtop.sock: run the exporter as root or in the socket's group (jtop); "
     "see docs/JTOP.md before doing so"),
    (Exception("Authentication with jetson-stats server failed"),
     "the jtop service at /run/jtop.sock refused the client's authentication: is jetson-stats 4.3.2 the host's "
     "version?"),
    (Exception("Lost connection with jtop server"), LOST),
    (BrokenPipeError(32, "Broken pipe"), LOST),
    (KeyError("load"), "jtop client error: KeyError: 'load'"),
])
def test_failures_read_as_one_line(error: BaseException, expected: str) -> None:
    message, mismatch = describe_failure(error, "4.3.2")
    assert (message, mismatch) == (expected, False)
    assert "\n" not in message


def test_mismatch_with_an_unknown_service_version_still_says_what_to_do() -> None:
    message, mismatch = describe_failure(
        Exception("Mismatch version jtop service: [unknown] and client: [4.3.2]. Please run:\n\nx"), "unknown")
    assert mismatch
    assert message == mismatch_message("unknown", "4.3.2")
    assert "jetson-stats 4.3.2 installed" in message and "`jtop --version`" in message


def test_frames_from_a_client_are_plain_data_and_unreadable_properties_are_reported(
        load_frame: Callable[[str], Frame]) -> None:
    frame = load_frame("jetson-stats-4.3.2-agx-orin")

    class MappingLike:  # jtop's GPU, Memory and Fan objects have items(), not dict
        def __init__(self, data: object) -> None:
            self._data = data

        def items(self) -> object:
            return self._data.items()  # type: ignore[attr-defined]

    class Client:
        cpu = frame["cpu"]
        gpu = MappingLike(frame["gpu"])
        memory = MappingLike(frame["memory"])
        engine = frame["engine"]
        temperature = frame["temperature"]
        power = frame["power"]
        fan = MappingLike(frame["fan"])
        board = {"hardware": {"Model": "x"}, "platform": {"Release": "host kernel"}}
        jetson_clocks = SimpleNamespace(get_enable=lambda: True)
        nvpmodel = SimpleNamespace(id=2, name="MODE_30W")
        stats = {"RAM": 0.1, "time": object(), "nvp model": "MODE_30W"}

    good, errors = frame_from_client(Client())
    assert errors == []
    assert good["gpu"] == frame["gpu"] and good["fan"] == frame["fan"]
    assert good["board"] == {"hardware": {"Model": "x"}}  # nothing about the host
    assert good["jetson_clocks"] is True and good["nvpmodel"] == {"id": 2, "name": "MODE_30W"}
    assert good["stats"] == {"RAM": 0.1, "nvp model": "MODE_30W"}

    class Thor432(Client):  # jetson-stats 4.3.2 on Thor: the gpu property raises
        @property
        def gpu(self) -> object:
            raise KeyError("load")

    partial, errors = frame_from_client(Thor432())
    assert errors == ["cannot read jtop `gpu`: KeyError: 'load'"]
    assert "gpu" not in partial and partial["cpu"] == frame["cpu"]

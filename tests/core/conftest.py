"""Fixtures for the core tests: a running server, certificates."""

from __future__ import annotations

import threading
from typing import Callable, Iterator, List, Optional

import pytest

from jetson_exporter.exporter import Exporter
from jetson_exporter.server import ExporterServer
from jetson_exporter.webconfig import WebConfigWatcher
from testkit.core import Certs, FakeCollector, RunningServer, board_snapshot, make_certs


@pytest.fixture
def start_server() -> Iterator[Callable[..., RunningServer]]:
    started: List[RunningServer] = []

    def start(
        collectors: Optional[List[FakeCollector]] = None,
        web_config: Optional[str] = None,
        max_requests: int = 40,
        exporter: Optional[Exporter] = None,
        idle_timeout_s: float = 30.0,
    ) -> RunningServer:
        if exporter is None:
            exporter = Exporter(collectors or [FakeCollector("gpu", board_snapshot())], "sysfs")
        exporter.sampler.tick()
        web = WebConfigWatcher(web_config, check_every_s=0.0)
        server = ExporterServer(("127.0.0.1", 0), exporter, web, max_requests=max_requests,
                                idle_timeout_s=idle_timeout_s)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        running = RunningServer(server, exporter, web)
        started.append(running)
        return running

    yield start
    for running in started:
        running.server.shutdown()
        running.server.server_close()


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(str(tmp_path_factory.mktemp("certs")))

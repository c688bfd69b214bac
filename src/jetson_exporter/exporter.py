"""The running exporter: collectors -> sampler -> renderer, and the pages the server answers."""

from __future__ import annotations

import json
import logging
import threading
from typing import Callable, Dict, Optional, Sequence, Tuple

from jetson_exporter import __version__
from jetson_exporter.exposition import Renderer, build_series
from jetson_exporter.sampler import Collector, Sample, Sampler
from jetson_exporter.server import MetricsApp, RequestContext, Route
from jetson_exporter.view import livepage

log = logging.getLogger(__name__)


class Exporter(MetricsApp):
    def __init__(
        self,
        collectors: Sequence[Collector],
        source: str,
        interval_s: float = 1.0,
        timeout_s: Optional[float] = None,
        detect: Optional[Callable[[Sample], Optional[bool]]] = None,
        metrics_path: str = "/metrics",
    ) -> None:
        self.source = source
        self.metrics_path = metrics_path
        self._detect = detect or (lambda sample: None)
        self.sampler = Sampler(collectors, interval_s=interval_s, timeout_s=timeout_s,
                               on_publish=lambda sample: self.renderer.prerender(sample))
        self._json_lock = threading.Lock()
        self._json: Tuple[int, bytes] = (-1, b"")
        self.renderer = Renderer(
            lambda sample: build_series(sample, source=source, detected=self._detect(sample))
        )

    def latest(self) -> Sample:
        self.sampler.supervise()
        sample = self.sampler.latest
        if sample.generation == 0:
            self.sampler.wait_first(2.0)
            sample = self.sampler.latest
        return sample

    def metrics(self, accept: str, gzip_ok: bool) -> Tuple[bytes, str, bool]:
        body, content_type = self.renderer.render(self.latest(), accept, gzip_ok)
        return body, content_type, gzip_ok

    def exposition_text(self) -> bytes:
        body, _ = self.renderer.render(self.latest(), "", False)
        return body

    def routes(self) -> Dict[str, Route]:
        return {
            "/": lambda ctx: (200, livepage.page(), "text/html; charset=utf-8"),
            "/api/v1/snapshot": self._snapshot,
            "/-/healthy": lambda ctx: (200, b"OK\n", "text/plain; charset=utf-8"),
            "/-/ready": self._ready,
            "/api/v1/status": self._status,
        }

    def _snapshot(self, ctx: RequestContext) -> Tuple[int, bytes, str]:
        sample = self.latest()
        with self._json_lock:
            if self._json[0] != sample.generation:
                document = livepage.snapshot_document(sample, self.source, self._detect(sample))
                self._json = (sample.generation, json.dumps(document, allow_nan=False, default=str).encode())
            body = self._json[1]
        return 200, body, "application/json"

    def _ready(self, ctx: RequestContext) -> Tuple[int, bytes, str]:
        if self.sampler.latest.generation == 0:
            return 503, b"Starting\n", "text/plain; charset=utf-8"
        return 200, b"Ready\n", "text/plain; charset=utf-8"

    def _status(self, ctx: RequestContext) -> Tuple[int, bytes, str]:
        sample = self.latest()
        body = {
            "version": __version__,
            "source": self.source,
            "device_detected": self._detect(sample),
            "last_sample_timestamp": sample.timestamp,
            "collectors": [
                {"name": h.name, "success": h.success, "duration_seconds": h.duration_s,
                 "last_error": h.last_error, "errors_total": h.errors_total}
                for h in sample.health
            ],
        }
        return 200, json.dumps(body, indent=2).encode() + b"\n", "application/json"

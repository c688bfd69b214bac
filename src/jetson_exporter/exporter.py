"""The running exporter: collectors -> sampler -> renderer, and the pages the server answers."""

from __future__ import annotations

import html
import json
import logging
from typing import Callable, Dict, Optional, Sequence, Tuple

from jetson_exporter import __version__
from jetson_exporter.exposition import Renderer, build_series
from jetson_exporter.sampler import Collector, Sample, Sampler
from jetson_exporter.server import MetricsApp, RequestContext, Route

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
        self.sampler = Sampler(collectors, interval_s=interval_s, timeout_s=timeout_s)
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
            "/": self._landing,
            "/-/healthy": lambda ctx: (200, b"OK\n", "text/plain; charset=utf-8"),
            "/-/ready": self._ready,
            "/api/v1/status": self._status,
        }

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

    def _landing(self, ctx: RequestContext) -> Tuple[int, bytes, str]:
        sample = self.latest()
        rows = "".join(
            f"<tr><td>{html.escape(h.name)}</td><td>{'ok' if h.success else 'failed'}</td>"
            f"<td>{html.escape(h.last_error or '')}</td></tr>"
            for h in sample.health
        )
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>jetson-exporter</title>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'></head><body>"
            f"<h1>jetson-exporter {html.escape(__version__)}</h1>"
            f"<p><a href='{html.escape(self.metrics_path)}'>Metrics</a> · <a href='/api/v1/status'>Status</a> · "
            "<a href='/-/healthy'>Healthy</a> · <a href='/-/ready'>Ready</a></p>"
            f"<table><tr><th>collector</th><th>state</th><th>last error</th></tr>{rows}</table>"
            "</body></html>"
        )
        return 200, page.encode(), "text/html; charset=utf-8"

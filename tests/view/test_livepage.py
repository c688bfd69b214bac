"""The live page in a real browser (Debian's Chromium driven by Playwright): the numbers it shows
are the numbers /metrics serves, it needs nothing from outside the exporter, and it works behind
TLS and basic auth. Screenshots are kept in test-artifacts/."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import bcrypt
import pytest

from testkit.core import free_port, make_certs

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "agx-orin-jp6"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SAMPLE = re.compile(r'^([a-z_]+)(?:\{(.*)\})? (\S+)$')


def _parse(text: str) -> Dict[Tuple[str, str], float]:
    values = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m:
            pairs = re.findall(r'([a-z_]+)="([^"]*)"', m.group(2) or "")
            labels = ",".join(sorted(f"{k}={v}" for k, v in pairs))
            values[(m.group(1), labels)] = float(m.group(3))
    return values


class Exporter:
    def __init__(self, *extra: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jetson_exporter", "--root", str(FIXTURE), "--sampler.interval", "1s",
             "--web.listen-address", f"127.0.0.1:{self.port}", *extra],
            stderr=subprocess.PIPE,
        )

    def wait_ready(self, opener: Optional[urllib.request.OpenerDirector] = None, scheme: str = "http") -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{scheme}://127.0.0.1:{self.port}/-/ready", timeout=1,
                                            context=_insecure() if scheme == "https" else None) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("exporter did not become ready")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _insecure():  # type: ignore[no-untyped-def]
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (scripts/test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _shown_values(page) -> List[Tuple[str, str, float, str]]:  # type: ignore[no-untyped-def]
    return page.eval_on_selector_all(
        "[data-metric]",
        "els => els.map(e => [e.dataset.metric, e.dataset.labels || '', parseFloat(e.dataset.value), e.textContent])",
    )


def test_the_page_shows_what_metrics_serves_and_loads_nothing_from_outside(browser) -> None:  # type: ignore[no-untyped-def]
    exporter = Exporter()
    try:
        exporter.wait_ready()
        origin = f"http://127.0.0.1:{exporter.port}"
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        requests: List[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(origin + "/")
        page.wait_for_selector("[data-metric=jetson_gpu_utilization_ratio]", timeout=10_000)
        page.wait_for_function("document.body.dataset.timestamp", timeout=10_000)
        shown = _shown_values(page)
        with urllib.request.urlopen(origin + "/metrics", timeout=5) as r:
            metrics = _parse(r.read().decode())
        assert len(shown) > 40
        for metric, labels, value, text in shown:
            key = (metric, ",".join(sorted(labels.split(","))) if labels else "")
            assert key in metrics, f"{metric}{{{labels}}} shown ({text}) but not in /metrics"
            assert value == pytest.approx(metrics[key]), f"{metric}{{{labels}}}: page {value}, metrics {metrics[key]}"
        # Spot checks of formatting on the fixture's known values.
        gpu = page.text_content("[data-metric=jetson_gpu_utilization_ratio]")
        assert gpu == f"{metrics[('jetson_gpu_utilization_ratio', '')] * 100:.0f} %"
        assert page.text_content("#title") == "NVIDIA Jetson AGX Orin Developer Kit"
        assert "MAXN" in (page.text_content("#power-mode") or "")
        assert all(u.startswith(origin) for u in requests), [u for u in requests if not u.startswith(origin)]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "live-page.png"), full_page=True)
        phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        phone.goto(origin + "/")
        phone.wait_for_function("document.body.dataset.timestamp", timeout=10_000)
        # Readable on a phone: no horizontal scrolling.
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        phone.screenshot(path=str(ARTIFACTS / "live-page-phone.png"), full_page=True)
    finally:
        exporter.stop()


def test_the_page_works_behind_tls_and_basic_auth_and_marks_stale_data(browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    certs = make_certs(str(tmp_path))
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()
    config = tmp_path / "web.yml"
    config.write_text(f"tls_server_config:\n  cert_file: {certs.server_cert}\n  key_file: {certs.server_key}\n"
                      f"basic_auth_users:\n  viewer: '{hashed}'\n")
    exporter = Exporter("--web.config.file", str(config))
    try:
        exporter.wait_ready(scheme="https")
        context = browser.new_context(ignore_https_errors=True,
                                      http_credentials={"username": "viewer", "password": "pw"})
        page = context.new_page()
        page.goto(f"https://127.0.0.1:{exporter.port}/")
        page.wait_for_selector("[data-metric=jetson_board_power_watts]", timeout=10_000)
        assert page.text_content("#status-text") == "live"
        exporter.stop()  # the exporter goes away: the page keeps its data and says it is stale
        page.wait_for_function("document.getElementById('status-text').textContent.startsWith('stale')",
                               timeout=10_000)
        assert page.text_content("[data-metric=jetson_board_power_watts]")
    finally:
        if exporter.proc.poll() is None:
            exporter.stop()


def test_the_snapshot_document_is_json_with_absent_values_as_null(tmp_path) -> None:  # type: ignore[no-untyped-def]
    exporter = Exporter()
    try:
        exporter.wait_ready()
        with urllib.request.urlopen(f"http://127.0.0.1:{exporter.port}/api/v1/snapshot", timeout=5) as r:
            doc = json.loads(r.read())
    finally:
        exporter.stop()
    assert doc["board"]["module"] == "p3701-0005"
    assert doc["device_detected"] is True
    offline = [c for c in doc["cpus"] if not c["online"]]
    assert all(c["freq_hz"] is None for c in offline)
    assert {z["name"] for z in doc["thermal"]} >= {"cpu", "gpu", "tj"}

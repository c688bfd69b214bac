"""The catalog: one place for names, Prometheus naming rules, the core contract, generated docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jetson_exporter import metrics_doc
from jetson_exporter.catalog import CATALOG, COUNTER, GAUGE

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT.parent / "shared" / "DESIGN.md"
UNITS = {"celsius", "hertz", "bytes", "volts", "amperes", "watts", "seconds", "joules", "ratio"}


@pytest.mark.parametrize("metric", CATALOG, ids=lambda m: m.name)
def test_names_follow_prometheus_conventions(metric) -> None:  # type: ignore[no-untyped-def]
    assert re.fullmatch(r"jetson_[a-z0-9_]+", metric.name)
    assert metric.kind in (GAUGE, COUNTER)
    assert metric.name.endswith("_total") == (metric.kind == COUNTER)
    if metric.unit:
        assert metric.unit in UNITS
        assert metric.family.endswith("_" + metric.unit)
    if metric.name.endswith("_info"):
        assert metric.kind == GAUGE and metric.labels
    # No host or unbounded labels: Prometheus adds instance, Kubernetes relabeling adds the node.
    assert not {"hostname", "host", "node", "pid", "instance", "job"} & set(metric.labels)
    assert metric.help.endswith(".")


def test_every_core_name_of_the_design_is_in_the_catalog() -> None:
    if not DESIGN.exists():
        pytest.skip("shared DESIGN.md not present")
    table = DESIGN.read_text().split("### Core names", 1)[1].split("\n## ", 1)[0]
    core = set(re.findall(r"`(jetson_[a-z_]+)`", table))
    core |= {f"jetson_gpu_frequency_{side}_hertz" for side in ("min", "max")}
    names = {m.name for m in CATALOG if m.core}
    assert core <= names, core - names


def test_every_catalog_metric_is_produced_somewhere() -> None:
    source = "".join(p.read_text() for p in (ROOT / "src" / "jetson_exporter").rglob("*.py"))
    unused = [m.name for m in CATALOG if f'"{m.name}"' not in source]
    assert unused == []


def test_metrics_reference_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "METRICS.md").read_text()
    assert committed == metrics_doc.render(), "run: python -m jetson_exporter.metrics_doc > docs/METRICS.md"

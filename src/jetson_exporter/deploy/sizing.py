"""CPU and memory requests/limits of every container the manifests run: the one place to update.

The exporter's numbers come from its measured footprint (bench/README.md, AGX Orin fixture, 1 s
sampling, one scrape a second): 27 MB RSS, flat over 10,000 scrapes, and about 2 ms of CPU per
second (0.2% of one core). The request covers that with headroom; the limits leave room for
start-up and bursts of scrapes. Change them here and re-render deploy/ (a test fails until you do).
"""

from __future__ import annotations

from typing import Dict

Resources = Dict[str, Dict[str, str]]

# Requests cover the steady state; limits leave room for start-up (imports) and a burst of scrapes.
EXPORTER: Resources = {
    "requests": {"cpu": "20m", "memory": "32Mi"},
    "limits": {"cpu": "100m", "memory": "64Mi"},
}

# Prometheus in agent mode with ~2,000 series (exporter plus a filtered node-exporter). Estimates,
# not measurements: the limit leaves room for catching up on a WAL backlog after a link outage.
AGENT: Resources = {
    "requests": {"cpu": "20m", "memory": "64Mi"},
    "limits": {"cpu": "200m", "memory": "256Mi"},
}

# The push mode's one-shot init container that hands the WAL directory to the agent's user.
WAL_INIT: Resources = {
    "requests": {"cpu": "10m", "memory": "8Mi"},
    "limits": {"cpu": "50m", "memory": "16Mi"},
}


def copy(resources: Resources) -> Resources:
    """A fresh copy, so that rendered documents never share (and never mutate) these dicts."""
    return {kind: dict(values) for kind, values in resources.items()}

"""A simulated fleet and a real Prometheus scraping it: what the end-to-end tests share."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Tuple

from jetson_exporter.simulate.board import SimulatedBoard
from jetson_exporter.simulate.fleet import Fleet
from jetson_exporter.simulate.scenarios import Scenario, scenario
from testkit.e2e import Api, Server, poll

SCRAPE_S = 1.0
JOB = "jetson-exporter"  # the job the alert rules select


@dataclass
class Stack:
    fleet: Fleet
    prometheus: Server
    api: Api
    started: float  # wall clock when every board was being scraped

    def board(self, scenario_name: str) -> SimulatedBoard:
        return next(b for b in self.fleet.boards if b.scenario.name == scenario_name)

    def wait_for_history(self, seconds: int) -> None:
        """Until Prometheus holds `seconds` of scrapes of every board."""
        expr = f'count_over_time(up{{job="{JOB}"}}[{seconds}s])'

        def enough() -> bool:
            rows = self.api.query(expr, time.time())
            return len(rows) == len(self.fleet.boards) and all(float(r["value"][1]) >= seconds - 2 for r in rows)

        poll(enough, seconds + 60, f"{seconds}s of scrapes of every board", [self.prometheus])


def scrape_config(targets: Path, **extra: Any) -> Dict[str, Any]:
    return {
        "global": {"scrape_interval": f"{SCRAPE_S:g}s", "scrape_timeout": f"{SCRAPE_S:g}s",
                   "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": JOB, "file_sd_configs": [{"files": [str(targets)], "refresh_interval": "1s"}],
                            **extra}],
    }


def boards_of(*pairs: Tuple[str, str]) -> List[Tuple[str, Scenario]]:
    return [(model, scenario(name)) for model, name in pairs]

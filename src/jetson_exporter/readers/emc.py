"""External memory controller: clock (debugfs or Thor's bwmgr devfreq) and activity monitor load."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from jetson_exporter.paths import Paths
from jetson_exporter.readers.base import Reader
from jetson_exporter.readers.files import read_str
from jetson_exporter.snapshot import Emc, Snapshot


@dataclass(frozen=True)
class _Plan:
    cur: Optional[str]
    lo: Optional[str]
    hi: Optional[str]
    cap: Optional[str]  # nvpmodel's EMC cap lowers the effective maximum
    activity: Optional[str]


def _readable(path: str) -> bool:
    try:
        return bool(read_str(path))
    except Exception:
        return False


class EmcReader(Reader[_Plan]):
    name = "emc"
    description = "memory controller frequency and utilization (needs debugfs on most models)"
    settled_rediscover_every = 300
    settings_read = "minimum and maximum clock, nvpmodel EMC cap"

    def found(self, plan: _Plan) -> bool:
        return plan.cur is not None and plan.activity is not None

    def _clock_sources(self) -> Tuple[Tuple[str, str, str], ...]:
        p = self.paths
        bpmp = p.debug("bpmp", "debug", "clk", "emc")
        bwmgr = p.sys("class", "devfreq", "bwmgr")
        return (
            (f"{bpmp}/rate", f"{bpmp}/min_rate", f"{bpmp}/max_rate"),  # TX2, Xavier, Orin (root)
            (f"{bwmgr}/cur_freq", f"{bwmgr}/min_freq", f"{bwmgr}/max_freq"),  # Thor
            (  # tegra210 (root)
                p.debug("clk", "override.emc", "clk_rate"),
                p.debug("tegra_bwmgr", "emc_min_rate"),
                p.debug("tegra_bwmgr", "emc_max_rate"),
            ),
            (p.sys("kernel", "clk", "emc", "clk_rate"), p.sys("kernel", "clk", "emc", "clk_min_rate"),
             p.sys("kernel", "clk", "emc", "clk_max_rate")),
        )

    def discover(self) -> _Plan:
        p = self.paths
        cur = lo = hi = None
        for cur_file, lo_file, hi_file in self._clock_sources():
            if _readable(cur_file):
                cur = cur_file
                lo = lo_file if _readable(lo_file) else None
                hi = hi_file if _readable(hi_file) else None
                break
        cap_file = p.sys("kernel", "nvpmodel_emc_cap", "emc_iso_cap")
        activity = None
        for candidate in (
            p.debug("cactmon", "mc_all"),  # JetPack 6
            p.debug("bpmp", "debug", "actmon", "mc_all_avg_activity"),  # Thor
            p.sys("kernel", "actmon_avg_activity", "mc_all"),  # JetPack 4 and 5
        ):
            if _readable(candidate):
                activity = candidate
                break
        return _Plan(cur, lo, hi, cap_file if _readable(cap_file) else None, activity)

    def __init__(self, paths: Paths, keep_open: bool = False) -> None:
        super().__init__(paths, keep_open)
        # min, max and the nvpmodel cap change with nvpmodel and jetson_clocks: read as settings.
        self._limits: Optional[Tuple[Optional[int], Optional[int], Optional[int]]] = None

    def sample(self, plan: _Plan) -> Snapshot:
        if plan.cur is None and plan.activity is None:
            return Snapshot()
        read = self.files.privileged_integer
        cur = read(plan.cur) if plan.cur else None
        if self._limits is None or self.settings_due():
            errors = len(self.files.errors)
            limits = (read(plan.lo) if plan.lo else None, read(plan.hi) if plan.hi else None,
                      read(plan.cap) if plan.cap else None)
            self._limits = limits if len(self.files.errors) == errors else None  # retried next time
        else:
            limits = self._limits
        lo, hi, cap = limits
        if hi is not None and cap and cap < hi:
            hi = cap
        utilization = None
        if plan.activity and cur:
            activity = read(plan.activity)
            # The activity monitor's average divided by the clock in kHz is the load in percent
            # (the relation tegrastats and jtop use).
            if activity is not None:
                utilization = min(max(activity / (cur / 1000.0) / 100.0, 0.0), 1.0)
        if cur is None and utilization is None:
            return Snapshot()
        return Snapshot(
            emc=Emc(
                freq_hz=float(cur) if cur is not None else None,
                min_freq_hz=float(lo) if lo is not None else None,
                max_freq_hz=float(hi) if hi is not None else None,
                utilization=utilization,
            )
        )

"""What every reader shares: discovery that is cached, redone periodically and on vanishing files."""

from __future__ import annotations

from typing import ClassVar, Generic, List, Optional, TypeVar

from jetson_exporter.paths import Paths
from jetson_exporter.readers.files import Files
from jetson_exporter.snapshot import Snapshot

PlanT = TypeVar("PlanT")


class Reader(Generic[PlanT]):
    """Reads one subsystem into a partial Snapshot.

    Discovery (listing directories, following links, reading labels and other static
    attributes) is done once and kept as a *plan*; each `read()` then only opens the value
    files. The plan is rebuilt every `rediscover_every` reads so that hot-plugged sensors
    appear, at once when a planned file has vanished, and on the next read when discovery met
    an unreadable file (so that the error stays visible, and clears, while the problem lasts).

    Hardware that the SoC and its device tree fix at boot (cores, clocks, the GPU, engines) does
    not come and go like sensors whose drivers probe late (thermal zones, power monitors, fans):
    a reader of it sets `settled_rediscover_every`, used instead once its discovery has found
    what it looks for (`found`).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    default_enabled: ClassVar[bool] = True
    rediscover_every: int = 30
    settled_rediscover_every: Optional[int] = None
    # Settings (clock limits, governors, on/off flags) change only when someone changes them
    # (nvpmodel, jetson_clocks): read every this many reads, not every tick.
    settings_every: int = 10
    # What this reader reads on that cadence, for the metric reference (empty: nothing).
    settings_read: ClassVar[str] = ""

    def __init__(self, paths: Paths, keep_open: bool = False) -> None:
        self.paths = paths
        self.files = Files(keep_open)
        self._plan: Optional[PlanT] = None
        self._reads = 0
        self._stale = False
        self._rediscover_after = self.rediscover_every

    @property
    def errors(self) -> List[str]:
        """Problems met during the last read (values that exist but could not be read)."""
        return self.files.errors

    def read(self) -> Snapshot:
        self.files.reset()
        discovery_failed = False
        if self._plan is None or self._stale or self._reads >= self._rediscover_after:
            if self._stale:
                self.files.close()  # something vanished: every file is opened afresh
            plan = self.discover()
            if plan != self._plan:
                self.files.close()  # files of the old plan may be planned no more
            self._plan = plan
            self._reads = 0
            self._stale = False
            self.files.vanished = False  # discovery probes files that may legitimately be missing
            discovery_failed = bool(self.files.errors)
            settled = self.settled_rediscover_every
            self._rediscover_after = settled if settled and self.found(self._plan) else self.rediscover_every
        self._reads += 1
        part = self.sample(self._plan)
        if self.files.vanished or discovery_failed:
            self._stale = True
        return part

    def settings_due(self) -> bool:
        """Whether this read should re-read the settings (always on the first read after discovery)."""
        return (self._reads - 1) % self.settings_every == 0

    def discover(self) -> PlanT:
        raise NotImplementedError

    def found(self, plan: PlanT) -> bool:
        """Whether discovery found the hardware (only asked where `settled_rediscover_every` is set)."""
        return True

    def sample(self, plan: PlanT) -> Snapshot:
        raise NotImplementedError

"""The default source: the readers over the host's sysfs, procfs, rootfs and debugfs."""

from __future__ import annotations

from typing import Iterable, List

from jetson_exporter.paths import Paths
from jetson_exporter.readers import READERS
from jetson_exporter.readers.base import Reader
from jetson_exporter.snapshot import Snapshot


def make_readers(paths: Paths, enabled: Iterable[str], keep_open: bool = False) -> List[Reader[object]]:
    """One reader per enabled collector, in registration order.

    `keep_open` keeps each reader's value files open between reads (about 80 descriptors per
    board): what the exporter does; a process simulating many boards leaves it off.
    """
    wanted = set(enabled)
    return [cls(paths, keep_open) for name, cls in READERS.items() if name in wanted]


def device_detected(snapshot: Snapshot) -> bool:
    """A Jetson is there if its release file or its device tree says so."""
    board = snapshot.board
    return board is not None and bool(board.l4t or board.soc)

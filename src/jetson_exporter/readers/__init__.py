"""One reader per subsystem; each reads the device's own files into a partial Snapshot."""

from __future__ import annotations

from typing import Dict, Type

from jetson_exporter.readers.base import Reader
from jetson_exporter.readers.board import BoardReader
from jetson_exporter.readers.cpu import CpuReader
from jetson_exporter.readers.emc import EmcReader
from jetson_exporter.readers.engines import EnginesReader
from jetson_exporter.readers.fan import FanReader
from jetson_exporter.readers.gpu import GpuReader
from jetson_exporter.readers.memory import MemoryReader
from jetson_exporter.readers.power import PowerReader
from jetson_exporter.readers.powermode import PowerModeReader
from jetson_exporter.readers.thermal import ThermalReader

# Registration order is the order of `--collector.NAME` flags and of sampling.
READERS: Dict[str, Type[Reader[object]]] = {
    cls.name: cls  # type: ignore[misc]
    for cls in (
        BoardReader,
        CpuReader,
        GpuReader,
        EmcReader,
        MemoryReader,
        EnginesReader,
        ThermalReader,
        PowerReader,
        FanReader,
        PowerModeReader,
    )
}

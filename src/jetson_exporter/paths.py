"""Where the host's sysfs, procfs, root filesystem and debugfs are mounted.

Every file the exporter opens is resolved through a `Paths` value, so the same code reads a
board directly, a host mounted into a container (`--path.sysfs=/host/sys`), or a fixture tree
(`--root tests/fixtures/agx-orin-jp6`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Paths:
    """Roots of the host filesystems the readers look at."""

    sysfs: str = "/sys"
    procfs: str = "/proc"
    rootfs: str = "/"
    debugfs: str = "/sys/kernel/debug"

    @classmethod
    def under(cls, root: str) -> Paths:
        """All four roots inside one directory laid out like a host (`--root DIR`)."""
        return cls(
            sysfs=os.path.join(root, "sys"),
            procfs=os.path.join(root, "proc"),
            rootfs=root,
            debugfs=os.path.join(root, "sys", "kernel", "debug"),
        )

    def sys(self, *parts: str) -> str:
        return os.path.join(self.sysfs, *parts)

    def proc(self, *parts: str) -> str:
        return os.path.join(self.procfs, *parts)

    def root(self, *parts: str) -> str:
        return os.path.join(self.rootfs, *parts)

    def debug(self, *parts: str) -> str:
        return os.path.join(self.debugfs, *parts)

    def device_tree(self, *parts: str) -> str:
        """A device-tree property; `/proc/device-tree` is a link to this directory."""
        return self.sys("firmware", "devicetree", "base", *parts)

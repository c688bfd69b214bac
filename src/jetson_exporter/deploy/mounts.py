"""Which host paths the exporter's container sees, where, and why: the one map of what the readers need.

The DaemonSet's volumes, the exporter's `--path.*` flags, the Dockerfile's entrypoint and the
systemd unit's read-only paths all follow from this module, so that a reader that starts
reading a new file is a change here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

# Where the host's filesystems appear inside the container.
CONTAINER_SYSFS = "/host/sys"
CONTAINER_ROOTFS = "/host/root"
CONTAINER_DEBUGFS = "/host/debug"
# The container's own /proc is used on purpose: /proc/stat, /proc/meminfo and /proc/buddyinfo are
# not namespaced, so they show the host's CPUs and memory without mounting the host's /proc (which
# would also expose every host process).
CONTAINER_PROCFS = "/proc"

# Flags that point the exporter at those places; the image's entrypoint carries the first two.
ENTRYPOINT_PATH_FLAGS: Tuple[str, ...] = (f"--path.sysfs={CONTAINER_SYSFS}", f"--path.rootfs={CONTAINER_ROOTFS}")
DEBUGFS_PATH_FLAG = f"--path.debugfs={CONTAINER_DEBUGFS}"


@dataclass(frozen=True)
class HostMount:
    """One read-only hostPath volume of the exporter container."""

    name: str  # volume name
    host_path: str
    container_path: str
    host_type: str  # hostPath type: checked by the kubelet before the pod starts
    why: str  # which readers need it (shown in docs and comments)


# Files rather than whole directories where a file is all a reader opens; a directory where the
# file is replaced by rename while the pod runs (a file mount would keep showing the old inode).
DEFAULT_MOUNTS: Tuple[HostMount, ...] = (
    HostMount("sys", "/sys", CONTAINER_SYSFS, "Directory",
              "every reader: cpu, gpu, thermal, power, fan, memory controller load; board identity from "
              "/sys/firmware/devicetree (masked in a container's own /sys)"),
    HostMount("nv-tegra-release", "/etc/nv_tegra_release", f"{CONTAINER_ROOTFS}/etc/nv_tegra_release", "File",
              "board: the L4T release (every L4T host has it; a missing file stops the pod with a clear event)"),
    HostMount("nvpmodel-conf", "/etc/nvpmodel.conf", f"{CONTAINER_ROOTFS}/etc/nvpmodel.conf", "File",
              "powermode: mode names (on JetPack 5+ an absolute symlink into /etc/nvpmodel/, resolved on the "
              "host when the pod starts)"),
    HostMount("nvpmodel-state", "/var/lib/nvpmodel", f"{CONTAINER_ROOTFS}/var/lib/nvpmodel", "DirectoryOrCreate",
              "powermode: the current mode (`status`, rewritten by nvpmodel, so the directory is mounted)"),
)

# The debugfs profile adds only this: debugfs is a separate mount that only root can read.
DEBUGFS_MOUNT = HostMount(
    "debugfs", "/sys/kernel/debug", CONTAINER_DEBUGFS, "Directory",
    "emc (clock, activity), engines (NVENC/NVDEC/VIC/DLA... clocks), gpu (per-GPC clocks), memory (IRAM, "
    "per-process GPU memory in nvmap): debugfs, root only")


def host_mounts(profile: str) -> List[HostMount]:
    """The exporter container's host mounts for a profile (`default` or `debugfs`)."""
    mounts = list(DEFAULT_MOUNTS)
    if profile == "debugfs":
        mounts.append(DEBUGFS_MOUNT)
    return mounts


def exporter_path_flags(profile: str) -> List[str]:
    """`--path.*` flags matching `host_mounts(profile)`."""
    flags = [*ENTRYPOINT_PATH_FLAGS, f"--path.procfs={CONTAINER_PROCFS}"]
    if profile == "debugfs":
        flags.append(DEBUGFS_PATH_FLAG)
    return flags

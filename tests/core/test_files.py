"""Files kept open between reads (the exporter's mode) still see every change, vanishing and error."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from jetson_exporter.readers import files as files_module
from jetson_exporter.readers.files import Files, kernel_devices


def test_a_value_rewritten_in_place_is_read_again(tmp_path: Path) -> None:
    temp = tmp_path / "temp"
    temp.write_text("45000\n")
    files = Files(keep_open=True)
    assert files.integer(str(temp)) == 45000
    with open(temp, "r+") as fh:  # as sysfs, and the simulator: same file, new content
        fh.write("51000\n")
    assert files.integer(str(temp)) == 51000
    files.close()


def test_a_file_replaced_by_rename_is_opened_again(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("pmode:0002\n")
    files = Files(keep_open=True)
    assert files.text(str(status)) == "pmode:0002"
    new = tmp_path / "status.new"
    new.write_text("pmode:0000\n")
    os.replace(new, status)
    assert files.text(str(status)) == "pmode:0000"
    files.close()


def test_a_removed_file_is_absent_and_reported_vanished(tmp_path: Path) -> None:
    rail = tmp_path / "curr1_input"
    rail.write_text("480\n")
    files = Files(keep_open=True)
    assert files.integer(str(rail)) == 480
    rail.unlink()
    files.reset()
    assert files.integer(str(rail)) is None
    assert files.vanished and files.errors == []
    files.close()


def test_eagain_on_a_kept_file_is_absent_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    zone = tmp_path / "temp"
    zone.write_text("40000\n")
    files = Files(keep_open=True)
    assert files.integer(str(zone)) == 40000
    real = os.pread

    def busy(fd: int, n: int, offset: int) -> bytes:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "pread", busy)
    files.reset()
    assert files.integer(str(zone)) is None
    assert files.errors == [] and not files.vanished
    monkeypatch.setattr(os, "pread", real)
    assert files.integer(str(zone)) == 40000
    files.close()


def test_permission_denied_on_reopen_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "in1_input"
    path.write_text("5000\n")
    files = Files(keep_open=True)

    def denied(*args: object, **kwargs: object) -> int:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    assert files.integer(str(path)) is None
    assert files.errors == [f"permission denied reading {path}"]


MOUNTINFO = """\
22 27 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
23 27 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
27 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw
31 23 0:7 / /sys/kernel/debug rw,nosuid,nodev,noexec,relatime shared:15 - debugfs debugfs rw
40 27 0:35 / /tmp rw,nosuid,nodev shared:19 - tmpfs tmpfs rw,size=8060416k
612 611 0:22 / /host/sys ro,relatime master:2 - sysfs sysfs rw
613 611 0:120 / /host/root/etc rw,relatime - overlay overlay rw,lowerdir=/a:/b,upperdir=/c,workdir=/d
bad line without separator
"""


def test_kernel_filesystems_are_found_in_the_mount_table_and_nothing_else(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(MOUNTINFO)
    assert kernel_devices(str(mountinfo)) == {os.makedev(0, 21), os.makedev(0, 22), os.makedev(0, 7)}
    assert kernel_devices(str(tmp_path / "missing")) == frozenset()


def test_a_kept_kernel_file_is_read_again_without_a_link_check(monkeypatch: pytest.MonkeyPatch) -> None:
    if os.stat("/proc/self/stat").st_dev not in kernel_devices():
        pytest.skip("no procfs in this process's mount table")
    files = Files(keep_open=True)
    assert files.text("/proc/self/stat")
    checks = []
    real = os.fstat
    monkeypatch.setattr(os, "fstat", lambda fd: checks.append(fd) or real(fd))
    assert files.text("/proc/self/stat")
    assert checks == []  # procfs regenerates the file on each read and never leaves a stale copy
    files.close()


def test_a_kept_kernel_file_that_fails_is_opened_again_to_tell_gone_from_broken(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A removed sysfs attribute fails reads of its open descriptor (ENODEV; debugfs: EIO) rather
    # than returning old data; the path, opened again, says whether it is gone or broken.
    path = tmp_path / "curr1_input"
    path.write_text("480\n")
    monkeypatch.setattr(files_module, "kernel_devices", lambda: frozenset({os.stat(path).st_dev}))
    files = Files(keep_open=True)
    assert files.integer(str(path)) == 480
    real = os.pread
    failures = []  # the kept descriptor's next read fails, as a removed attribute's does

    def pread(fd: int, n: int, offset: int) -> bytes:
        if failures:
            failures.pop()
            raise OSError(errno.EIO, "Input/output error")
        return real(fd, n, offset)

    monkeypatch.setattr(os, "pread", pread)
    failures.append(1)
    files.reset()
    assert files.integer(str(path)) == 480  # still there: opened again and read
    assert files.errors == [] and not files.vanished and not failures
    failures.append(1)
    path.unlink()
    files.reset()
    assert files.integer(str(path)) is None  # gone
    assert files.vanished and files.errors == []
    files.close()

"""Files kept open between reads (the exporter's mode) still see every change, vanishing and error."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from jetson_exporter.readers.files import Files


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

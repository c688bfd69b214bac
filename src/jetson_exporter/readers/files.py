"""Reading sysfs/procfs/debugfs attribute files: fast, and honest about what failed.

Reads use `os.open`/`os.read` directly: they are several times cheaper than `open()` and they
surface EAGAIN as `OSError` (a text-mode read of an Orin `cv*-thermal` zone raises TypeError).

Outcomes are sorted into two kinds:
- *absent*: the file does not exist or the sensor is off (ENOENT, ENODEV, ENXIO, EAGAIN,
  ENODATA, EINVAL). The value is simply not there; this is normal.
- *errors*: permission denied, I/O errors, content that does not parse. The value is absent
  too, and the error is recorded so that the collector reports failure and says why.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
from typing import Dict, FrozenSet, List, Optional, Set

# errnos meaning "no value right now", not "something is wrong".
_ABSENT = frozenset(
    {errno.ENOENT, errno.ENOTDIR, errno.ENODEV, errno.ENXIO, errno.EAGAIN, errno.ENODATA, errno.EINVAL}
)
_CHUNK = 65536
# Filesystems whose files the kernel generates on every read from offset 0, and whose removed
# files fail reads of a descriptor kept open (sysfs: ENODEV, debugfs: EIO) instead of returning
# old data. A regular file (a fixture, the simulator's tree, a copy of a board) can be unlinked or
# replaced under an open descriptor, which only its link count tells.
_KERNEL_FILESYSTEMS = frozenset({"sysfs", "proc", "debugfs", "tracefs"})
_MOUNTINFO = "/proc/self/mountinfo"


@functools.cache
def kernel_devices(mountinfo: str = _MOUNTINFO) -> FrozenSet[int]:
    """Device numbers of the kernel filesystems mounted in this process's own mount namespace.

    This is the exporter's own view of its mounts (where a container has the host's /sys at
    /host/sys), not a host file, so it is read directly rather than through Paths.
    """
    devices: Set[int] = set()
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                # `36 35 0:22 / /sys rw,... shared:7 - sysfs sysfs rw`: device third, type after " - "
                left, _, right = line.partition(" - ")
                fields, kind = left.split(), right.split()
                if len(fields) < 3 or not kind or kind[0] not in _KERNEL_FILESYSTEMS:
                    continue
                major, _, minor = fields[2].partition(":")
                with contextlib.suppress(ValueError):
                    devices.add(os.makedev(int(major), int(minor)))
    except OSError:
        pass  # not Linux, or no /proc: every kept file is checked, which is only slower
    return frozenset(devices)


class ReadError(Exception):
    """A file exists but could not be read or parsed; the message is one line for users."""


def _describe(exc: OSError, path: str) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied reading {path}"
    return f"cannot read {path}: {os.strerror(exc.errno or 0) or exc}"


class _Absent(Exception):
    def __init__(self, missing: bool) -> None:
        super().__init__()
        self.missing = missing  # the file is gone, not just empty-handed


def _read_or_raise(path: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in _ABSENT:
            raise _Absent(exc.errno in (errno.ENOENT, errno.ENOTDIR)) from None
        raise ReadError(_describe(exc, path)) from exc
    try:
        data = os.read(fd, _CHUNK)
        if len(data) == _CHUNK:  # /proc/stat and friends can be larger than one read
            parts = [data]
            while True:
                more = os.read(fd, _CHUNK)
                if not more:
                    break
                parts.append(more)
            data = b"".join(parts)
        return data
    except OSError as exc:
        if exc.errno in _ABSENT:
            raise _Absent(False) from None
        raise ReadError(_describe(exc, path)) from exc
    finally:
        os.close(fd)


def _pread_all(fd: int) -> bytes:
    data = os.pread(fd, _CHUNK, 0)
    if len(data) == _CHUNK:
        parts = [data]
        while True:
            more = os.pread(fd, _CHUNK, sum(len(p) for p in parts))
            if not more:
                break
            parts.append(more)
        data = b"".join(parts)
    return data


def read_bytes(path: str) -> Optional[bytes]:
    """Whole content of a file, None when absent; raises ReadError on real failures."""
    try:
        return _read_or_raise(path)
    except _Absent:
        return None


def _clean(data: bytes) -> str:
    return data.decode("utf-8", "replace").strip().strip("\x00").strip()


def read_str(path: str) -> Optional[str]:
    """Content as text without surrounding whitespace and device-tree NULs."""
    data = read_bytes(path)
    return None if data is None else _clean(data)


def parse_int(text: str, path: str) -> int:
    """First whitespace-separated token as an integer (some files say `32760 ma`)."""
    token = text.split(None, 1)[0] if text else ""
    try:
        return int(token, 0) if token.startswith(("0x", "0X")) else int(token)
    except ValueError:
        raise ReadError(f"unexpected content in {path}: {text[:40]!r}") from None


def listdir(path: str) -> List[str]:
    """Sorted entries of a directory; empty when it is missing or unreadable."""
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def resolve_in_root(root: str, path: str) -> str:
    """Follow symlinks in `path` as if `root` were `/` (absolute targets stay inside root).

    `/etc/nvpmodel.conf` is an absolute symlink on JetPack 5+; read through `--path.rootfs` it
    must resolve inside the mounted host root, not in the container.
    """
    root = os.path.abspath(root)
    if root == "/":
        return os.path.realpath(path)
    rel = os.path.relpath(os.path.abspath(path), root)
    if rel.startswith(".."):
        return os.path.realpath(path)
    current = root
    todo = [p for p in rel.split(os.sep) if p not in ("", ".")]
    hops = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            current = os.path.dirname(current) if current != root else root
            continue
        candidate = os.path.join(current, part)
        try:
            target = os.readlink(candidate)
        except OSError:
            current = candidate
            continue
        hops += 1
        if hops > 40:
            return candidate
        if target.startswith("/"):
            current = root
        todo = [p for p in target.split("/") if p not in ("", ".")] + todo
    return current


class Files:
    """File access for one reader, keeping what went wrong during one read.

    `errors` lists values that exist but could not be read; `vanished` says that a file the
    reader expected is gone (so its discovery should be redone).
    """

    def __init__(self, keep_open: bool = False) -> None:
        self.errors: List[str] = []
        self.vanished = False
        # With keep_open, a file stays open between reads and is read again from offset 0
        # (sysfs and procfs regenerate the value on such a read): one syscall less per file and
        # no path lookup, the larger part of reading ~80 small files a second.
        self.keep_open = keep_open
        self._fds: Dict[str, int] = {}
        self._regular: Set[str] = set()  # kept files not on a kernel filesystem: checked before a read

    def reset(self) -> None:
        self.errors = []
        self.vanished = False

    def close(self) -> None:
        """Close the files kept open (before a new discovery, which may plan other files)."""
        fds, self._fds = self._fds, {}
        self._regular = set()
        for fd in fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)

    def __del__(self) -> None:
        self.close()  # a discarded reader must not leak its descriptors

    def _read_kept(self, path: str) -> bytes:
        fd = self._fds.get(path)
        if fd is not None:
            try:
                # A regular file replaced by rename or removed has no links left: open the path
                # again rather than read a stale copy. Kernel files need no such check.
                if path not in self._regular or os.fstat(fd).st_nlink:
                    data = os.pread(fd, _CHUNK, 0)  # one read for all but the largest files
                    return data if len(data) < _CHUNK else _pread_all(fd)
            except OSError as exc:
                if exc.errno == errno.EAGAIN:
                    raise _Absent(False) from None  # the sensor is off for now; the file is fine
                # Anything else (a removed sysfs or debugfs file, an I/O error): the path, opened
                # again below, tells which it is.
            del self._fds[path]
            self._regular.discard(path)
            with contextlib.suppress(OSError):
                os.close(fd)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno in _ABSENT:
                raise _Absent(exc.errno in (errno.ENOENT, errno.ENOTDIR)) from None
            raise ReadError(_describe(exc, path)) from exc
        try:
            data = _pread_all(fd)
            kernel = os.fstat(fd).st_dev in kernel_devices()
        except OSError as exc:
            os.close(fd)
            if exc.errno in _ABSENT:
                raise _Absent(False) from None
            raise ReadError(_describe(exc, path)) from exc
        self._fds[path] = fd
        if not kernel:
            self._regular.add(path)
        return data

    def raw(self, path: str) -> Optional[bytes]:
        try:
            return self._read_kept(path) if self.keep_open else _read_or_raise(path)
        except _Absent as absent:
            self.vanished = self.vanished or absent.missing
        except ReadError as exc:
            self.errors.append(str(exc))
        return None

    def text(self, path: str) -> Optional[str]:
        data = self.raw(path)
        return None if data is None else _clean(data)

    def integer(self, path: str) -> Optional[int]:
        data = self.raw(path)
        if data is None:
            return None
        try:
            return int(data)  # the common case, digits and a newline: int() takes bytes as they are
        except ValueError:
            pass
        text = _clean(data)
        try:
            if not text:
                raise ReadError(f"{path} is empty")
            return parse_int(text, path)
        except ReadError as exc:
            self.errors.append(str(exc))
            return None

    def privileged_text(self, path: str) -> Optional[str]:
        """Text of a root-only file (debugfs): unreadable means unavailable, not failed.

        A missing file still counts as vanished, so that the reader's discovery is redone.
        """
        try:
            return _clean(_read_or_raise(path))
        except _Absent as absent:
            self.vanished = self.vanished or absent.missing
        except ReadError:
            pass
        return None

    def privileged_integer(self, path: str) -> Optional[int]:
        """An integer from a root-only file (debugfs): unreadable means unavailable, not failed."""
        try:
            data = self._read_kept(path) if self.keep_open else _read_or_raise(path)
        except _Absent as absent:
            self.vanished = self.vanished or absent.missing
            return None
        except ReadError:
            return None
        try:
            return int(data)
        except ValueError:
            pass
        text = _clean(data)
        if not text:
            return None
        try:
            return parse_int(text, path)
        except ReadError as exc:
            self.errors.append(str(exc))
            return None

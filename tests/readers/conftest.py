"""Shared fixtures for the reader tests: the fixture trees, an exporter over a tree with a fake
clock, scrapes as plain values, editable copies of the trees, and fault injection."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple, Union

import pytest

from jetson_exporter.exposition import Renderer, build_families, build_series
from jetson_exporter.paths import Paths
from jetson_exporter.readers import READERS
from jetson_exporter.readers.base import Reader
from jetson_exporter.sampler import CollectorHealth, Sample, Sampler
from jetson_exporter.sources.sysfs import device_detected, make_readers

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
WALL_CLOCK = 1.75e9


class Scrape:
    """The samples of one scrape, looked up by name and labels, and each collector's health."""

    def __init__(self, sample: Sample) -> None:
        self.sample = sample
        self._series: Dict[str, List[Tuple[Dict[str, str], float]]] = {}
        for family in build_families(sample, source="sysfs", detected=device_detected(sample.snapshot)):
            for s in family.samples:
                self._series.setdefault(s.name, []).append((dict(s.labels), s.value))
        self._health: Dict[str, CollectorHealth] = {h.name: h for h in sample.health}

    def names(self) -> Set[str]:
        return set(self._series)

    def series(self, name: str) -> List[Tuple[Dict[str, str], float]]:
        return list(self._series.get(name, []))

    def value(self, metric: str, /, **labels: str) -> Optional[float]:
        """The value of the series with exactly these labels, None when it is not exported."""
        for series_labels, value in self._series.get(metric, []):
            if series_labels == labels:
                return value
        return None

    def by(self, metric: str, label: str, /, **fixed: str) -> Dict[str, float]:
        """{value of `label`: sample} over the series of `metric` that carry the `fixed` labels."""
        result: Dict[str, float] = {}
        for series_labels, value in self._series.get(metric, []):
            if all(series_labels.get(k) == v for k, v in fixed.items()):
                result[series_labels[label]] = value
        return result

    def success(self, collector: str) -> bool:
        return self._health[collector].success

    def error(self, collector: str) -> Optional[str]:
        return self._health[collector].last_error


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Exporter:
    """Every collector over one host tree, sampled by hand with a clock the test advances."""

    def __init__(self, root: Path, collectors: Sequence[str] = tuple(READERS)) -> None:
        self.root = root
        self.readers = make_readers(Paths.under(str(root)), collectors)
        self.clock = _Clock()
        self.sampler = Sampler(self.readers, interval_s=1.0, clock=self.clock, wall_clock=lambda: WALL_CLOCK)

    def reader(self, name: str) -> Reader[object]:
        return next(r for r in self.readers if r.name == name)

    def scrape(self, advance_s: float = 1.0) -> Scrape:
        """Advance the clock, run one sampler tick, and return what a scrape would then show."""
        self.clock.now += advance_s
        sample = self.sampler.tick()
        assert sample is not None
        return Scrape(sample)

    def text(self) -> str:
        """The text exposition of the latest tick, exactly as /metrics serves it."""
        renderer = Renderer(lambda s: build_series(s, source="sysfs", detected=device_detected(s.snapshot)))
        body, _ = renderer.render(self.sampler.latest, "", False)
        return body.decode()


class Tree:
    """An editable copy of a fixture tree; every edit is undone when the test ends."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._saved: Dict[str, Optional[bytes]] = {}

    def path(self, rel: str) -> Path:
        return self.root / rel

    def _save(self, rel: str) -> str:
        real = os.path.realpath(self.path(rel))
        if real not in self._saved:
            self._saved[real] = Path(real).read_bytes() if os.path.exists(real) else None
        return real

    def write(self, rel: str, data: bytes) -> None:
        Path(self._save(rel)).write_bytes(data)

    def remove(self, rel: str) -> None:
        os.remove(self._save(rel))

    def restore(self) -> None:
        for real, data in self._saved.items():
            if data is None:
                if os.path.exists(real):
                    os.remove(real)
            else:
                Path(real).write_bytes(data)
        self._saved = {}


class Faults:
    """Makes chosen files fail the way the kernel can: EAGAIN on read, permission denied on open.

    Files are matched by their real path, so a fault set on `/sys/devices/...` also hits reads
    through `/sys/class/...` links. Tests run as root, where chmod denies nothing.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.eagain: Set[str] = set()
        self.denied: Set[str] = set()
        self.deny_under: List[str] = []
        self._eagain_fds: Set[int] = set()
        real_open, real_read, real_close = os.open, os.read, os.close

        def fake_open(path: Union[str, os.PathLike[str]], flags: int, *args: int, **kwargs: object) -> int:
            name = os.fspath(path)
            key = os.path.realpath(name) if isinstance(name, str) else ""
            if key and (key in self.denied or any(key.startswith(d) for d in self.deny_under)):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            fd = real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]
            if key in self.eagain:
                self._eagain_fds.add(fd)
            return fd

        def fake_read(fd: int, n: int) -> bytes:
            if fd in self._eagain_fds:
                raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))
            return real_read(fd, n)

        def fake_close(fd: int) -> None:
            self._eagain_fds.discard(fd)
            real_close(fd)

        monkeypatch.setattr(os, "open", fake_open)
        monkeypatch.setattr(os, "read", fake_read)
        monkeypatch.setattr(os, "close", fake_close)

    def fail_with_eagain(self, path: Path) -> None:
        self.eagain.add(os.path.realpath(path))

    def deny(self, path: Path) -> None:
        self.denied.add(os.path.realpath(path))

    def deny_everything_under(self, path: Path) -> None:
        self.deny_under.append(os.path.realpath(path) + os.sep)


@pytest.fixture(scope="session")
def fixture_scrape() -> Callable[[str], Scrape]:
    """The scrape of a checked-in fixture after two ticks one second apart (cached per model)."""
    cache: Dict[str, Scrape] = {}

    def scrape(model: str) -> Scrape:
        if model not in cache:
            exporter = Exporter(FIXTURES / model)
            exporter.scrape()
            cache[model] = exporter.scrape()
        return cache[model]

    return scrape


@pytest.fixture
def exporter() -> Callable[..., Exporter]:
    """Makes an exporter over a tree: `exporter(root)` or `exporter(root, ["thermal"])`."""
    return Exporter


@pytest.fixture(scope="session")
def _pristine_copies() -> Dict[str, Path]:
    return {}


@pytest.fixture
def tree(
    _pristine_copies: Dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], Tree]]:
    """`tree(model)`: a session-wide copy of the model's fixture; this test's edits are undone after it."""
    used: List[Tree] = []

    def make(model: str) -> Tree:
        if model not in _pristine_copies:
            target = tmp_path_factory.mktemp("fixture") / model
            shutil.copytree(FIXTURES / model, target, symlinks=True)
            _pristine_copies[model] = target
        t = Tree(_pristine_copies[model])
        used.append(t)
        return t

    yield make
    for t in used:
        t.restore()


@pytest.fixture
def fresh_tree(tmp_path: Path) -> Callable[[str], Path]:
    """`fresh_tree(model)`: a private copy of the model's fixture, for tests that add whole sensors."""

    def make(model: str) -> Path:
        target = tmp_path / model
        shutil.copytree(FIXTURES / model, target, symlinks=True)
        return target

    return make


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Faults:
    return Faults(monkeypatch)

"""Board identity: model, module and carrier part numbers, SoC, L4T and JetPack, serial."""

from __future__ import annotations

import re
from typing import Optional, Tuple

from jetson_exporter.readers.base import Reader
from jetson_exporter.snapshot import BoardInfo, Snapshot

_RELEASE = re.compile(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*(\d+(?:\.\d+)*)")
_DPKG_L4T_CORE = re.compile(r"^Package: nvidia-l4t-core\n(?:.+\n)*?Version: (\d+\.\d+(?:\.\d+)?)", re.M)
_PART = re.compile(r"p(\d{4})-(\d{4})")
_SOC = re.compile(r"tegra\d+")

CUDA_ARCH = {"tegra264": "11.0", "tegra234": "8.7", "tegra194": "7.2", "tegra186": "6.2", "tegra210": "5.3"}

# L4T -> JetPack, for releases whose mapping NVIDIA published. Best effort: a release not in
# the table leaves the label empty rather than guessing.
JETPACK = {
    "32.1.0": "4.2", "32.2.0": "4.2.1", "32.2.1": "4.2.2", "32.3.1": "4.3", "32.4.3": "4.4",
    "32.4.4": "4.4.1", "32.5.0": "4.5", "32.5.1": "4.5.1", "32.5.2": "4.5.1", "32.6.1": "4.6",
    "32.7.1": "4.6.1", "32.7.2": "4.6.2", "32.7.3": "4.6.3", "32.7.4": "4.6.4", "32.7.5": "4.6.5",
    "32.7.6": "4.6.6",
    "35.1.0": "5.0.2", "35.2.1": "5.1", "35.3.1": "5.1.1", "35.4.1": "5.1.2", "35.5.0": "5.1.3",
    "35.6.0": "5.1.4", "35.6.1": "5.1.5",
    "36.2.0": "6.0", "36.3.0": "6.0", "36.4.0": "6.1", "36.4.3": "6.2", "36.4.4": "6.2.1",
    "38.2.0": "7.0", "38.4.0": "7.1", "39.2.0": "7.2",
}


def parse_nv_tegra_release(text: str) -> Optional[str]:
    """`# R36 (release), REVISION: 4.4, ...` -> "36.4.4". Only R and REVISION are trusted."""
    match = _RELEASE.search(text)
    if not match:
        return None
    parts = [match.group(1), *match.group(2).split(".")]
    while len(parts) < 3:
        parts.append("0")
    return ".".join(parts[:3])


def jetpack_for(l4t: Optional[str]) -> Optional[str]:
    if l4t is None:
        return None
    if l4t in JETPACK:
        return JETPACK[l4t]
    major_minor = ".".join(l4t.split(".")[:2]) + ".0"
    return JETPACK.get(major_minor)


def parse_compatible(raw: bytes) -> Tuple[Optional[str], Optional[str], Optional[str]]:
    """(module, carrier, soc) from the NUL-separated device-tree `compatible` list."""
    entries = [e.decode("ascii", "replace").strip() for e in raw.split(b"\x00") if e.strip()]
    module = carrier = soc = None
    for entry in entries:
        value = entry.split(",", 1)[-1]
        if "+" in value and carrier is None:
            left, right = value.split("+", 1)
            lm, rm = _PART.search(left), _PART.search(right)
            if lm and rm:
                carrier, module = lm.group(0), rm.group(0)
        elif module is None and _PART.fullmatch(value[: len("p0000-0000")]):
            m = _PART.match(value)
            if m:
                module = m.group(0)
    for entry in entries:
        m = _SOC.search(entry)
        if m:
            soc = m.group(0)
            break
    return module, carrier, soc


class BoardReader(Reader[BoardInfo]):
    """Board identity changes only with a reflash, so it is read at discovery."""

    name = "board"
    description = "board model, module, SoC, L4T/JetPack release and serial (jetson_info)"
    rediscover_every = 600

    def discover(self) -> BoardInfo:
        p = self.paths
        l4t = None
        # Through self.files: an unreadable release file is an error, and the rest of the
        # identity (model, compatible, serial) is still read.
        release_file = p.root("etc", "nv_tegra_release")
        release = self.files.text(release_file)
        if release is not None:
            l4t = parse_nv_tegra_release(release)
            if l4t is None:
                self.files.errors.append(f"unexpected content in {release_file}: {release[:40]!r}")
        if l4t is None:
            status = self.files.raw(p.root("var", "lib", "dpkg", "status"))
            if status:
                m = _DPKG_L4T_CORE.search(status.decode("utf-8", "replace"))
                if m:
                    l4t = parse_nv_tegra_release(f"# R{m.group(1).split('.')[0]} (release), REVISION: "
                                                 + ".".join(m.group(1).split(".")[1:]))
        model = self.files.text(p.device_tree("model"))
        module = carrier = soc = None
        compatible = self.files.raw(p.device_tree("compatible"))
        if compatible:
            module, carrier, soc = parse_compatible(compatible)
        serial = self.files.text(p.device_tree("serial-number"))
        return BoardInfo(
            model=model or None,
            module=module,
            carrier=carrier,
            soc=soc,
            l4t=l4t,
            jetpack=jetpack_for(l4t),
            cuda_arch=CUDA_ARCH.get(soc or ""),
            serial=serial or None,
        )

    def sample(self, plan: BoardInfo) -> Snapshot:
        return Snapshot(board=plan)

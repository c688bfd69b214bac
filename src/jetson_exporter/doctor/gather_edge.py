"""Gather an edge node's facts: edgecore.yaml, the systemd unit, the running edgecore, local endpoints.

Every file is read through `--root DIR` (a copy of a node laid out like its filesystem), so the
same code reads a live node and a recorded one. Commands (systemctl, journalctl, edgecore
--version) and the default localhost probes only run on the live node (no --root).
"""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import ssl
import stat
import subprocess
import urllib.error
import urllib.request
from typing import Callable, Dict, Optional, Sequence, Tuple

from jetson_exporter.doctor import advice
from jetson_exporter.doctor.facts import EdgeFacts, Probe, redact_data, redact_text
from jetson_exporter.doctor.fixer import host_path
from jetson_exporter.doctor.kube import as_dict, as_list, dig, parse_version
from jetson_exporter.doctor.yamlparse import parse_yaml
from jetson_exporter.readers.board import parse_nv_tegra_release

Runner = Callable[[Sequence[str]], Tuple[int, str]]
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")
INTERFACES = ("edgemesh0", "edge-dummy0")
MAX_BODY = 4 * 1024 * 1024
_KEEP_ENV = re.compile(r"^METASERVER_")
_JETSON_INFO = re.compile(r"^jetson_info\{.*$", re.M)


_ASSIGNMENT = re.compile(r"""(?<![^\s"'])([A-Za-z_][A-Za-z0-9_]*)=([^\s"']*)""")


def redact_unit(text: str) -> str:
    """Unit text with every Environment= value hidden except METASERVER_* (proxies may carry passwords)."""
    out = []
    for line in text.splitlines(keepends=True):
        indent, sep, value = line.partition("Environment=")
        if sep and not indent.strip():
            value = _ASSIGNMENT.sub(lambda m: m.group(0) if _KEEP_ENV.match(m.group(1)) else f"{m.group(1)}=<redacted>",
                                    value)
        out.append(indent + sep + value)
    return "".join(out)


def run_command(argv: Sequence[str]) -> Tuple[int, str]:
    """(exit code, stdout); 127 when the command does not exist."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=10, check=False)
    except FileNotFoundError:
        return 127, ""
    except (subprocess.TimeoutExpired, OSError):
        return 124, ""
    return done.returncode, done.stdout


def _read(path: str) -> Tuple[Optional[str], Optional[str]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(), None
    except FileNotFoundError:
        return None, f"{path} does not exist"
    except PermissionError:
        return None, f"cannot read {path}: permission denied (run with sudo)"
    except IsADirectoryError:
        return None, f"{path} is a directory"
    except OSError as exc:
        return None, f"cannot read {path}: {exc.strerror or exc}"


class EdgeGatherer:
    def __init__(self, root: str = "/", edgecore_config: Optional[str] = None,
                 kubeedge_version: Optional[str] = None, metaserver_url: Optional[str] = None,
                 node_exporter_url: Optional[str] = None, exporter_url: Optional[str] = None,
                 timeout_s: float = 3.0, run: Runner = run_command, live: Optional[bool] = None) -> None:
        self.root = root or "/"
        self.live = self.root == "/" if live is None else live
        self.edgecore_path = edgecore_config or host_path(self.root, advice.EDGECORE_CONFIG)
        self.kubeedge_version = kubeedge_version
        self.urls = {"metaserver": metaserver_url, "node_exporter": node_exporter_url,
                     "jetson_exporter": exporter_url}
        self.timeout = timeout_s
        self.run = run
        self.facts = EdgeFacts(root=self.root, live=self.live, edgecore_path=self.edgecore_path)

    def path(self, *parts: str) -> str:
        return host_path(self.root, os.path.join("/", *parts))

    def gather(self) -> EdgeFacts:
        self._edgecore()
        self._units()
        self._process()
        self._version()
        if self.live:
            self._systemd()
        self._interfaces()
        self._probes()
        self._board()
        return self.facts

    def _edgecore(self) -> None:
        text, problem = _read(self.edgecore_path)
        if problem:
            hint = " (KubeEdge not installed here? pass --edgecore-config FILE)" if "does not exist" in problem else ""
            self.facts.errors["edgecore"] = problem + hint
            return
        assert text is not None
        self.facts.edgecore_text = redact_text(text)
        parsed, problem = parse_yaml(text, self.edgecore_path)
        if problem:
            self.facts.errors["edgecore"] = problem
        elif not isinstance(parsed, dict):
            self.facts.errors["edgecore"] = f"{self.edgecore_path} is not a YAML mapping"
        else:
            self.facts.edgecore_config = redact_data(parsed)

    def _units(self) -> None:
        for directory in UNIT_DIRS:
            unit = self.path(directory.lstrip("/"), "edgecore.service")
            text, _ = _read(unit)
            if text is not None:
                self.facts.unit_files[unit] = redact_unit(text)
                break
        for directory in UNIT_DIRS:
            for dropin in sorted(glob.glob(self.path(directory.lstrip("/"), "edgecore.service.d", "*.conf"))):
                text, problem = _read(dropin)
                if text is not None:
                    self.facts.unit_files[dropin] = redact_unit(text)
                elif problem:
                    self.facts.errors.setdefault("units", problem)

    def _process(self) -> None:
        """METASERVER_* of the running edgecore, from /proc/<pid>/environ (root needed on a live node)."""
        proc = self.path("proc")
        if not os.path.isdir(proc):
            return
        for entry in sorted(os.listdir(proc)):
            if not entry.isdigit():
                continue
            comm, _ = _read(os.path.join(proc, entry, "comm"))
            if comm is None or comm.strip() != "edgecore":
                continue
            try:
                with open(os.path.join(proc, entry, "environ"), "rb") as fh:
                    raw = fh.read()
            except OSError as exc:
                self.facts.errors["process"] = (f"cannot read edgecore's environment (pid {entry}): "
                                                f"{exc.strerror or exc} (run with sudo)")
                return
            env = {}
            for item in raw.split(b"\0"):
                key, sep, value = item.decode("utf-8", "replace").partition("=")
                if sep and _KEEP_ENV.match(key):
                    env[key] = value
            self.facts.process_environment = env
            return

    def _version(self) -> None:
        if self.kubeedge_version:
            self.facts.kubeedge_version = self.kubeedge_version
            self.facts.kubeedge_version_source = "--kubeedge-version"
            return
        if not self.live:
            return
        for binary in ("edgecore", "/usr/local/bin/edgecore"):
            code, out = self.run([binary, "--version"])
            if code == 0 and parse_version(out):
                self.facts.kubeedge_version = out.strip().splitlines()[0]
                self.facts.kubeedge_version_source = f"{binary} --version"
                return
        self.facts.errors["version"] = "`edgecore --version` did not answer"

    def _systemd(self) -> None:
        code, out = self.run(["systemctl", "is-active", "edgecore"])
        if code == 127:
            self.facts.errors["service"] = "systemctl not found"
        elif out.strip():
            self.facts.service_state = out.strip().splitlines()[0]
        code, out = self.run(["systemctl", "show", "edgecore", "--property=Environment"])
        if code == 0 and out.startswith("Environment="):
            env: Dict[str, str] = {}
            try:
                words = shlex.split(out[len("Environment="):])
            except ValueError:
                words = out[len("Environment="):].split()
            for word in words:
                key, sep, value = word.partition("=")
                if sep and _KEEP_ENV.match(key):
                    env[key] = value
            self.facts.unit_environment = env
        code, out = self.run(["journalctl", "-u", "edgecore", "-n", "500", "--no-pager", "-o", "cat"])
        if code == 0:
            self.facts.journal = [line for line in out.splitlines() if "MissingClusterDNS" in line][-3:]

    def _interfaces(self) -> None:
        net = self.path("sys", "class", "net")
        if not os.path.isdir(net):
            return
        for name in INTERFACES:
            self.facts.interfaces[name] = os.path.exists(os.path.join(net, name))

    def _probes(self) -> None:
        cfg = self.facts.edgecore_config
        gate = dig(cfg, "featureGates", "requireAuthorization") is True
        server = str(dig(cfg, "modules", "metaManager", "metaServer", "server") or "127.0.0.1:10550")
        scheme = "https" if gate else "http"
        defaults = {
            "metaserver": f"{scheme}://{server}/api/v1/services",
            "node_exporter": "http://127.0.0.1:9100/metrics",
            "jetson_exporter": "http://127.0.0.1:9998/metrics",
        }
        for key, default in defaults.items():
            url = self.urls.get(key) or (default if self.live else None)
            if url:
                self.facts.probes[key] = self._probe(key, url)
        if self.live and gate:
            url = f"https://{advice.DUMMY_IP_117}:{advice.METASERVER_PORT}/api/v1/services"
            self.facts.probes["metaserver_dummy"] = self._probe("metaserver", url)

    def _probe(self, kind: str, url: str) -> Probe:
        probe = Probe(url=url)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the metaServer's kubelet-serving certificate is cluster-signed
        try:
            with urllib.request.urlopen(url, timeout=self.timeout, context=context) as resp:
                probe.status = resp.status
                body = resp.read(MAX_BODY)
        except urllib.error.HTTPError as exc:
            probe.status = exc.code
            probe.detail = str(exc.reason)
            if kind == "metaserver" and exc.code in (401, 403):
                probe.ok = True
                probe.detail = f"answers HTTP {exc.code} (requires authorization)"
            return probe
        except urllib.error.URLError as exc:
            probe.error = f"cannot connect: {getattr(exc.reason, 'strerror', None) or exc.reason}"
            return probe
        except OSError as exc:
            probe.error = f"cannot connect: {exc.strerror or exc}"
            return probe
        text = body.decode("utf-8", "replace")
        if kind == "metaserver":
            try:
                data = json.loads(text)
            except ValueError:
                probe.detail = "answer is not JSON"
                return probe
            probe.ok = as_dict(data).get("kind") == "ServiceList"
            probe.detail = (f"ServiceList with {len(as_list(as_dict(data).get('items')))} items" if probe.ok
                            else f"kind {as_dict(data).get('kind')!r}")
        elif kind == "node_exporter":
            probe.ok = "node_uname_info" in text or "\nnode_" in text
            probe.detail = "node_* metrics served" if probe.ok else "no node_* metrics in the answer"
        else:
            match = _JETSON_INFO.search(text)
            probe.ok = match is not None
            probe.detail = match.group(0) if match else "no jetson_info in the answer"
        return probe

    def _board(self) -> None:
        sock = self.path("run", "jtop.sock")
        try:
            self.facts.jtop_socket = stat.S_ISSOCK(os.stat(sock).st_mode)
        except OSError:
            self.facts.jtop_socket = False
        text, problem = _read(self.path("etc", "nv_tegra_release"))
        if text is None:
            self.facts.errors["l4t"] = problem or "missing"
            return
        self.facts.l4t_release = parse_nv_tegra_release(text)
        if self.facts.l4t_release is None:
            self.facts.errors["l4t"] = f"{self.path('etc', 'nv_tegra_release')}: no R<major> (release), REVISION line"


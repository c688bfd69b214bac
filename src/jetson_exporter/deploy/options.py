"""What to render: the validated choices behind `jetson-exporter manifests`, and their parsers.

Parsers raise `OptionError` with a one-line message; the command line turns it into exit code 2
before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Optional, Tuple
from urllib.parse import urlsplit

from jetson_exporter import __version__
from jetson_exporter.deploy import conventions

IMAGE = f"ghcr.io/jetson-exporter/jetson-exporter:{__version__}"
# Prometheus in agent mode for push: 3.x takes `--agent`, 2.x `--enable-feature=agent`.
AGENT_IMAGE = "quay.io/prometheus/prometheus:v3.5.0"

PROFILES = ("default", "debugfs")
MODES = ("pull", "push")
TARGETS = ("resources", "node-exporter-patch", "remote-write-receiver-patch", "plain-rules")

# Labels the push mode sets itself (from the pod) and the scrape sets; users may not override them.
RESERVED_EXTERNAL_LABELS = frozenset({"job", "instance", "node", "namespace", "pod"})

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_PROM_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_DURATION = re.compile(r"^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$")
_DURATION_UNITS = {"y": 365 * 86400.0, "w": 7 * 86400.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0,
                   "ms": 0.001}


class OptionError(ValueError):
    """A bad flag value or combination; the message is one line."""


@dataclass(frozen=True)
class RemoteWriteAuth:
    """How the agent authenticates to the remote end: file paths only, never the secrets themselves."""

    username: Optional[str] = None
    password_file: Optional[str] = None
    bearer_token_file: Optional[str] = None
    ca_file: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    server_name: Optional[str] = None


@dataclass(frozen=True)
class Options:
    """Everything a rendering depends on."""

    preset: str = "kubesphere"
    namespace: str = ""  # empty: the preset's namespace
    image: str = IMAGE
    node_selector: Tuple[Tuple[str, str], ...] = ((conventions.NODE_LABEL_KEY, conventions.NODE_LABEL_VALUE),)
    profile: str = "default"
    mode: str = "pull"
    target: str = "resources"
    scrape_interval: str = "1m"
    remote_write_urls: Tuple[str, ...] = ()
    remote_write_username: Optional[str] = None
    remote_write_bearer_token: bool = False
    remote_write_ca: bool = False
    remote_write_client_cert: bool = False
    remote_write_server_name: Optional[str] = None
    remote_write_secret: str = conventions.REMOTE_WRITE_SECRET
    external_labels: Tuple[Tuple[str, str], ...] = ()
    push_node_exporter: Optional[str] = None  # host:port of the node's node-exporter, scraped in push mode
    agent_image: str = AGENT_IMAGE
    agent_wal_retention: str = "24h"

    @property
    def ns(self) -> str:
        return self.namespace or str(preset(self.preset)["namespace"])

    @property
    def push(self) -> bool:
        return self.mode == "push"

    @property
    def uses_secret(self) -> bool:
        return bool(self.remote_write_username or self.remote_write_bearer_token or self.remote_write_ca
                    or self.remote_write_client_cert)


def preset(name: str) -> Dict[str, object]:
    try:
        return conventions.PRESETS[name]
    except KeyError:
        raise OptionError(f"unknown preset {name!r} (choose from {', '.join(conventions.PRESETS)})") from None


def preset_labels(name: str, key: str) -> Dict[str, str]:
    """The `rule_labels` or `monitor_labels` of a preset as a fresh dict."""
    labels = preset(name)[key]
    assert isinstance(labels, dict)
    return {str(k): str(v) for k, v in labels.items()}


def parse_namespace(text: str) -> str:
    if len(text) > 63 or not _DNS_LABEL.match(text):
        raise OptionError(f"invalid namespace {text!r}: use lower-case letters, digits and '-' (at most 63)")
    return text


def _check_label_key(key: str, what: str) -> None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        raise OptionError(f"invalid {what} key {key!r}: the prefix must be a DNS subdomain")
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        raise OptionError(f"invalid {what} key {key!r}: use letters, digits, '-', '_', '.' (at most 63)")


def _check_label_value(key: str, value: str, what: str) -> None:
    if len(value) > 63 or (value and not _LABEL_NAME.match(value)):
        raise OptionError(f"invalid {what} value {value!r} for {key!r}: use letters, digits, '-', '_', '.' "
                          "(at most 63)")


def parse_node_selector(text: str) -> Tuple[Tuple[str, str], ...]:
    """`machine.type=jetson,kubernetes.io/arch=arm64` -> pairs, validated as Kubernetes labels."""
    pairs = []
    seen = set()
    for item in text.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or not key:
            raise OptionError(f"malformed node selector {text!r}: expected KEY=VALUE[,KEY=VALUE...]")
        _check_label_key(key, "node selector")
        _check_label_value(key, value, "node selector")
        if key in seen:
            raise OptionError(f"malformed node selector {text!r}: {key!r} appears twice")
        seen.add(key)
        pairs.append((key, value))
    return tuple(pairs)


def parse_external_label(text: str) -> Tuple[str, str]:
    """`cluster=edge-eu` -> (name, value) for the agent's external labels."""
    name, sep, value = text.partition("=")
    if not sep or not _PROM_LABEL.match(name) or name.startswith("__"):
        raise OptionError(f"malformed external label {text!r}: expected NAME=VALUE with a Prometheus label name")
    if name in RESERVED_EXTERNAL_LABELS:
        raise OptionError(f"external label {name!r} is set by the push mode itself; choose another name")
    if "$" in value:
        raise OptionError(f"external label value {value!r} may not contain '$' (Prometheus would expand it)")
    return name, value


def parse_duration(text: str) -> str:
    """A Prometheus duration (`1m`, `30s`, `1h30m`), returned unchanged when valid."""
    if not text or not _DURATION.match(text) or duration_seconds(text) <= 0:
        raise OptionError(f"invalid duration {text!r}: use a Prometheus duration such as 30s, 1m or 24h")
    return text


def duration_seconds(text: str) -> float:
    return sum(float(n) * _DURATION_UNITS[unit] for n, unit in re.findall(r"(\d+)(ms|[ywdhms])", text))


def parse_remote_write_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OptionError(f"invalid remote-write URL {text!r}: expected http(s)://HOST[:PORT]/PATH")
    if parts.username is not None or parts.password is not None:
        # The URL ends up in a ConfigMap and in the generated file's header: no credentials there.
        raise OptionError("the remote-write URL must not contain credentials: use --remote-write-username "
                          "or --remote-write-bearer-token with a Secret")
    return text


def parse_address(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise OptionError(f"invalid address {text!r}: expected HOST:PORT")
    return text


def parse_image(text: str) -> str:
    if not text or any(c.isspace() for c in text):
        raise OptionError(f"invalid image {text!r}")
    return text


def parse_secret_name(text: str) -> str:
    if len(text) > 253 or not _DNS_SUBDOMAIN.match(text):
        raise OptionError(f"invalid Secret name {text!r}: use a DNS subdomain name")
    return text


def validate(options: Options) -> Options:
    """Checks that need several flags at once."""
    if options.target == "node-exporter-patch" and options.preset != "kubesphere":
        raise OptionError("--kubesphere-node-exporter-patch needs --preset kubesphere")
    remote_flags = (options.remote_write_urls or options.uses_secret or options.external_labels
                    or options.push_node_exporter or options.remote_write_server_name)
    if options.mode == "push":
        if not options.remote_write_urls and options.target == "resources":
            raise OptionError("--mode push needs --remote-write-url (the cloud Prometheus's /api/v1/write)")
    elif remote_flags:
        raise OptionError("remote-write, external label and node-exporter flags only apply with --mode push")
    if options.remote_write_username and options.remote_write_bearer_token:
        raise OptionError("choose one of --remote-write-username and --remote-write-bearer-token")
    if (options.remote_write_username or options.remote_write_bearer_token) and any(
            _plain_http_off_host(u) for u in options.remote_write_urls):
        raise OptionError("credentials over plain http: use an https:// remote-write URL")
    return options


def _plain_http_off_host(url: str) -> bool:
    """An http:// URL that leaves the node (a loopback address, e.g. a local TLS proxy, is fine)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return parts.scheme == "http" and not (host == "localhost" or host == "::1" or host.startswith("127."))

"""`--web.config.file` in the Prometheus exporter-toolkit format: TLS and basic auth.

    tls_server_config:
      cert_file: server.crt          # or `cert:` with the PEM inline
      key_file: server.key           # or `key:`
      client_auth_type: RequireAndVerifyClientCert
      client_ca_file: ca.crt
      min_version: TLS12
    basic_auth_users:
      prometheus: $2y$10$...         # bcrypt hash

Relative file names are relative to the config file. The file and the files it names are
watched: a change is applied to the next connection without a restart, and a change that does
not load keeps the previous configuration serving (with an error in the log).
"""

from __future__ import annotations

import hashlib
import logging
import os
import ssl
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Set, Tuple

log = logging.getLogger(__name__)

_TOP_KEYS = {"tls_server_config", "http_server_config", "basic_auth_users"}
_TLS_KEYS = {
    "cert_file", "key_file", "cert", "key", "client_auth_type", "client_ca_file", "client_ca",
    "min_version", "max_version", "cipher_suites", "prefer_server_cipher_suites", "curve_preferences",
    "client_allowed_sans",
}
_HTTP_KEYS = {"http2", "headers"}
_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_CLIENT_AUTH = {
    "": ssl.CERT_NONE,
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}


class WebConfigError(Exception):
    """The web config cannot be used; the message is one line naming the file and the problem."""


@dataclass(frozen=True)
class WebConfig:
    path: Optional[str] = None
    ssl_context: Optional[ssl.SSLContext] = None
    users: Mapping[str, bytes] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    watched: Tuple[Tuple[str, float, int], ...] = ()  # (file, mtime, size) at load time

    @property
    def tls(self) -> bool:
        return self.ssl_context is not None

    @property
    def auth(self) -> bool:
        return bool(self.users)


def _stat(path: str) -> Tuple[str, float, int]:
    try:
        st = os.stat(path)
        return (path, st.st_mtime, st.st_size)
    except OSError:
        return (path, -1.0, -1)


def _keys(section: Any, allowed: Set[str], where: str, path: str) -> Dict[str, Any]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise WebConfigError(f"{path}: {where} must be a mapping")
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise WebConfigError(f"{path}: unknown field {unknown[0]!r} in {where}")
    return section


def _ssl_context(tls: Dict[str, Any], base: str, path: str, files: List[str]) -> ssl.SSLContext:
    def resolve(name: str) -> str:
        full = name if os.path.isabs(name) else os.path.join(base, name)
        files.append(full)
        return full

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    cert_file, key_file = tls.get("cert_file"), tls.get("key_file")
    cert_pem, key_pem = tls.get("cert"), tls.get("key")
    if not (cert_file or cert_pem) or not (key_file or key_pem):
        raise WebConfigError(f"{path}: tls_server_config needs a certificate and a key (cert_file and key_file)")
    try:
        if cert_pem or key_pem:
            # The ssl module loads certificates from files only: stage inline PEM privately.
            with tempfile.TemporaryDirectory() as tmp:
                cert_path = os.path.join(tmp, "cert.pem") if cert_pem else resolve(str(cert_file))
                key_path = os.path.join(tmp, "key.pem") if key_pem else resolve(str(key_file))
                for pem, staged in ((cert_pem, cert_path), (key_pem, key_path)):
                    if pem:
                        with open(os.open(staged, os.O_WRONLY | os.O_CREAT, 0o600), "w") as fh:
                            fh.write(pem)
                ctx.load_cert_chain(cert_path, key_path)
        else:
            ctx.load_cert_chain(resolve(str(cert_file)), resolve(str(key_file)))
    except (OSError, ssl.SSLError) as exc:
        raise WebConfigError(f"{path}: cannot load TLS certificate/key: {exc}") from None
    auth_type = tls.get("client_auth_type") or ""
    if auth_type == "RequireAnyClientCert":
        raise WebConfigError(f"{path}: client_auth_type RequireAnyClientCert is not supported; "
                             "use RequireAndVerifyClientCert with client_ca_file")
    if auth_type not in _CLIENT_AUTH:
        raise WebConfigError(f"{path}: unknown client_auth_type {auth_type!r}")
    ctx.verify_mode = _CLIENT_AUTH[auth_type]
    ca_file, ca_pem = tls.get("client_ca_file"), tls.get("client_ca")
    if ctx.verify_mode != ssl.CERT_NONE:
        if not ca_file and not ca_pem:
            raise WebConfigError(f"{path}: client_auth_type {auth_type} needs client_ca_file")
        try:
            if ca_file:
                ctx.load_verify_locations(cafile=resolve(ca_file))
            else:
                ctx.load_verify_locations(cadata=ca_pem)
        except (OSError, ssl.SSLError) as exc:
            raise WebConfigError(f"{path}: cannot load client CA: {exc}") from None
    for key, attr in (("min_version", "minimum_version"), ("max_version", "maximum_version")):
        value = tls.get(key)
        if value:
            if value not in _VERSIONS:
                raise WebConfigError(f"{path}: unknown {key} {value!r} (use TLS10, TLS11, TLS12 or TLS13)")
            setattr(ctx, attr, _VERSIONS[value])
    suites = tls.get("cipher_suites")
    if suites:
        # Go names (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) map to OpenSSL names only loosely;
        # apply what OpenSSL understands and say so when nothing matches.
        names = [s.replace("TLS_", "", 1).replace("_WITH_", "-").replace("_", "-") for s in suites]
        try:
            ctx.set_ciphers(":".join(names))
        except ssl.SSLError:
            raise WebConfigError(f"{path}: none of cipher_suites is known to OpenSSL") from None
    return ctx


def load(path: str) -> WebConfig:
    """Parse and validate a web config file; raises WebConfigError with a one-line message."""
    import yaml  # only needed with --web.config.file

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise WebConfigError(f"cannot read web config {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise WebConfigError(f"web config {path} is not valid YAML{where}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise WebConfigError(f"{path}: expected a mapping at the top level")
    _keys(data, _TOP_KEYS, "the top level", path)
    base = os.path.dirname(os.path.abspath(path))
    files: List[str] = [os.path.abspath(path)]
    tls = _keys(data.get("tls_server_config"), _TLS_KEYS, "tls_server_config", path)
    ctx = _ssl_context(tls, base, path, files) if tls else None
    http = _keys(data.get("http_server_config"), _HTTP_KEYS, "http_server_config", path)
    headers = http.get("headers") or {}
    if not isinstance(headers, dict):
        raise WebConfigError(f"{path}: http_server_config.headers must be a mapping")
    users_raw = data.get("basic_auth_users") or {}
    if not isinstance(users_raw, dict):
        raise WebConfigError(f"{path}: basic_auth_users must map user names to bcrypt hashes")
    users: Dict[str, bytes] = {}
    for user, hashed in users_raw.items():
        if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise WebConfigError(f"{path}: basic_auth_users.{user} is not a bcrypt hash")
        users[str(user)] = hashed.encode()
    if users:
        import bcrypt  # noqa: F401 - fail at load time, not at the first request

    return WebConfig(
        path=os.path.abspath(path),
        ssl_context=ctx,
        users=users,
        headers={str(k): str(v) for k, v in headers.items()},
        watched=tuple(_stat(f) for f in files),
    )


class WebConfigWatcher:
    """Holds the current WebConfig and reloads it when the file or the files it names change."""

    def __init__(self, path: Optional[str], check_every_s: float = 1.0) -> None:
        self.path = path
        self.check_every_s = check_every_s
        self.current = load(path) if path else WebConfig()
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        self._failed_for: Optional[Tuple[Tuple[str, float, int], ...]] = None
        self._auth_cache: OrderedDict[bytes, bool] = OrderedDict()
        self._dummy_hash: Optional[bytes] = None

    def get(self) -> WebConfig:
        if self.path is None:
            return self.current
        now = time.monotonic()
        if now - self._checked < self.check_every_s:
            return self.current
        with self._lock:
            if now - self._checked < self.check_every_s:
                return self.current
            self._checked = now
            state = tuple(_stat(f) for f, _, _ in self.current.watched)
            if state == self.current.watched or state == self._failed_for:
                return self.current
            try:
                self.current = load(self.path)
                self._auth_cache.clear()
                self._failed_for = None
                log.info("reloaded web config %s", self.path)
            except WebConfigError as exc:
                self._failed_for = state
                log.error("%s; still serving with the previous web config", exc)
        return self.current

    def check_basic_auth(self, config: WebConfig, user: str, password: str) -> bool:
        """bcrypt is deliberately slow; remember verified pairs so that every scrape does not pay it."""
        hashed = config.users.get(user)
        key = hashlib.sha256(b"\0".join((user.encode(), password.encode(), hashed or b""))).digest()
        with self._lock:
            cached = self._auth_cache.get(key)
            if cached is not None:
                self._auth_cache.move_to_end(key)
                return cached
        import bcrypt

        if hashed is None and self._dummy_hash is None:
            self._dummy_hash = bcrypt.hashpw(os.urandom(16), bcrypt.gensalt(10))
        try:
            # Unknown users are checked against a dummy hash, so timing does not reveal user names.
            ok = bcrypt.checkpw(password.encode(), hashed or self._dummy_hash or b"") and hashed is not None
        except ValueError:
            ok = False
        with self._lock:
            self._auth_cache[key] = ok
            while len(self._auth_cache) > 256:
                self._auth_cache.popitem(last=False)
        return ok

"""TLS and basic auth for ``/metrics``, from a ``web-config.yml`` in the Prometheus
exporter-toolkit format (the file node_exporter and Prometheus itself take with
``--web.config.file``), so operators reuse the certificates and bcrypt hashes they have::

    tls_server_config:
      cert_file: server.crt          # relative paths: from the web-config file's directory
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # optional, with client_ca_file
      client_ca_file: ca.crt
      min_version: TLS12             # TLS10 | TLS11 | TLS12 | TLS13
      max_version: TLS13
    http_server_config:
      headers:                       # extra response headers
        Strict-Transport-Security: max-age=31536000
    basic_auth_users:
      prometheus: $2y$10$...         # bcrypt (htpasswd -nBC 10 "" | tr -d ':\\n')

Keys of that format trt-agent does not implement (``cipher_suites``, ``curve_preferences``,
``client_allowed_sans``, ``http2``...) are errors, not silently ignored security settings.
"""

from __future__ import annotations

import os
import re
import ssl
import stat
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

from trt_agent.config import ConfigError
from trt_agent.config.load import read_regular_file
from trt_agent.security import check_secret_path

TLS_VERSIONS: Final = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_CLIENT_AUTH: Final = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_TLS_KEYS: Final = {
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "min_version",
    "max_version",
}


class WebConfigError(ValueError):
    """A problem in the web-config file, naming the file and the key."""


@dataclass
class WebConfig:
    """What the metrics server needs from ``web-config.yml``."""

    ssl_context: ssl.SSLContext | None = None
    users: dict[str, bytes] = field(default_factory=dict)  # name -> bcrypt hash (checked by web.auth)
    headers: dict[str, str] = field(default_factory=dict)


def load_web_config(path: str) -> WebConfig:
    """Read and check ``path``; raises ``WebConfigError`` naming the file and key at fault."""
    try:  # never a plain open(): a FIFO named here would block start-up (and SIGHUP) for good
        data = read_regular_file(path, "web config file")
    except ConfigError as exc:
        raise WebConfigError(str(exc)) from None
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise WebConfigError(f"{path}: not valid YAML: {exc}") from None
    doc = doc or {}
    if not isinstance(doc, dict):
        raise WebConfigError(f"{path}: must be a mapping of tls_server_config / basic_auth_users")
    unknown = set(doc) - {"tls_server_config", "http_server_config", "basic_auth_users"}
    if unknown:
        raise WebConfigError(f"{path}: unsupported key(s) {', '.join(sorted(unknown))}")
    base = os.path.dirname(os.path.abspath(path))
    config = WebConfig()
    if doc.get("tls_server_config") is not None:
        config.ssl_context = _ssl_context(path, base, doc["tls_server_config"])
    config.users = _users(path, doc.get("basic_auth_users") or {})
    http = doc.get("http_server_config") or {}
    if not isinstance(http, dict) or set(http) - {"headers"}:
        raise WebConfigError(f"{path}: http_server_config supports only 'headers'")
    headers = http.get("headers") or {}
    if not isinstance(headers, dict):
        raise WebConfigError(f"{path}: http_server_config.headers must be a mapping")
    config.headers = {str(k): str(v) for k, v in headers.items()}
    return config


def _ssl_context(path: str, base: str, tls: Any) -> ssl.SSLContext:
    if not isinstance(tls, dict):
        raise WebConfigError(f"{path}: tls_server_config must be a mapping")
    unknown = set(tls) - _TLS_KEYS
    if unknown:
        raise WebConfigError(f"{path}: tls_server_config.{sorted(unknown)[0]} is not supported by trt-agent")
    for key in ("cert_file", "key_file"):
        if not tls.get(key):
            raise WebConfigError(f"{path}: tls_server_config.{key} is required")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _version(path, "min_version", tls.get("min_version", "TLS12"))
    if "max_version" in tls:
        context.maximum_version = _version(path, "max_version", tls["max_version"])
    cert, key = (os.path.join(base, tls[k]) for k in ("cert_file", "key_file"))
    _check_regular(path, "cert_file", cert)
    _check_regular(path, "key_file", key)
    try:
        check_secret_path(key, f"{path}: tls_server_config.key_file {key}")
    except ConfigError as exc:
        raise WebConfigError(str(exc)) from None
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise WebConfigError(f"{path}: tls_server_config cert_file/key_file: {exc}") from None
    auth = tls.get("client_auth_type", "NoClientCert")
    if auth not in _CLIENT_AUTH:
        raise WebConfigError(
            f"{path}: tls_server_config.client_auth_type must be one of {', '.join(_CLIENT_AUTH)}, got {auth!r}"
        )
    context.verify_mode = _CLIENT_AUTH[auth]
    if context.verify_mode != ssl.CERT_NONE:
        if not tls.get("client_ca_file"):
            raise WebConfigError(f"{path}: tls_server_config.client_ca_file is required with {auth}")
        ca = os.path.join(base, tls["client_ca_file"])
        _check_regular(path, "client_ca_file", ca)
        try:
            context.load_verify_locations(ca)
        except (OSError, ssl.SSLError) as exc:
            raise WebConfigError(f"{path}: tls_server_config.client_ca_file: {exc}") from None
    return context


def _check_regular(path: str, key: str, file: str) -> None:
    """Refuse a TLS file that is not a regular file before ``ssl`` (or the key-permission
    check) opens it: those open it blocking, and a FIFO would hang start-up for good."""
    try:
        mode = os.stat(file).st_mode
    except OSError:
        return  # missing or unreadable: ssl's own error names it
    if not stat.S_ISREG(mode):
        raise WebConfigError(
            f"{path}: tls_server_config.{key} {file} is not a regular file (refused: reading it could block the agent)"
        )


def _version(path: str, key: str, value: Any) -> ssl.TLSVersion:
    if value not in TLS_VERSIONS:
        raise WebConfigError(
            f"{path}: tls_server_config.{key} must be one of {', '.join(TLS_VERSIONS)}, got {value!r}"
        )
    return TLS_VERSIONS[value]


MAX_BCRYPT_COST: Final = 16


def _users(path: str, users: Any) -> dict[str, bytes]:
    if not isinstance(users, dict):
        raise WebConfigError(f"{path}: basic_auth_users must be a mapping of user: bcrypt hash")
    out: dict[str, bytes] = {}
    for user, hashed in users.items():
        if not isinstance(hashed, str) or not re.fullmatch(
            r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}", hashed
        ):
            raise WebConfigError(f"{path}: basic_auth_users.{user} must be a bcrypt hash ($2y$...)")
        cost = int(hashed[4:6])
        if cost > MAX_BCRYPT_COST:
            # Each check of such a hash takes seconds to days of a core (the cost doubles per
            # step), the start-up's dummy hash as well: no scrape could be answered.
            raise WebConfigError(
                f"{path}: basic_auth_users.{user}: bcrypt cost {cost} is over {MAX_BCRYPT_COST} "
                "(a check at 16 already takes seconds); hash the password again with a lower cost"
            )
        out[str(user)] = hashed.encode()
    return out

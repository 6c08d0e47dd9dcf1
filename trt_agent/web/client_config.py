"""TLS and basic auth of the agent's HTTP client (``check --push``), from a YAML file in the
format of Prometheus's own ``http_config`` (a scrape config's ``basic_auth`` and
``tls_config``), the client-side half of the ``web-config.yml`` the agent serves with::

    basic_auth:
      username: ci
      password_file: /run/secrets/pushgateway   # or password: (the file is better: not in the YAML)
    tls_config:
      ca_file: ca.crt                 # relative paths: from this file's directory
      cert_file: client.crt           # client certificate, for client_auth_type
      key_file: client.key            #   RequireAndVerifyClientCert on the server
      insecure_skip_verify: false
      min_version: TLS12

Keys trt-agent does not implement (``server_name``, ``authorization``, ``oauth2``,
``proxy_url``…) are errors,
as in ``web-config.yml``: a security setting is never silently ignored.
"""

from __future__ import annotations

import base64
import os
import ssl
from dataclasses import dataclass
from typing import Any, Final

import yaml

from trt_agent.config import ConfigError
from trt_agent.config.load import read_regular_file
from trt_agent.security import check_secret_path
from trt_agent.web.config import TLS_VERSIONS

_TLS_KEYS: Final = {"ca_file", "cert_file", "key_file", "insecure_skip_verify", "min_version"}
_AUTH_KEYS: Final = {"username", "password", "password_file"}


@dataclass(frozen=True)
class ClientConfig:
    """What a request needs: the TLS context for https (None: the system's CAs) and the
    ``Authorization`` header (None: no basic auth)."""

    ssl_context: ssl.SSLContext | None = None
    authorization: str | None = None


def load_client_config(path: str) -> ClientConfig:
    """Read and check ``path``; ``ConfigError`` naming the file and the key at fault."""
    data = read_regular_file(path, "push config file")
    try:
        doc = yaml.safe_load(data) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: must be a mapping of basic_auth / tls_config")
    unknown = set(doc) - {"basic_auth", "tls_config"}
    if unknown:
        raise ConfigError(f"{path}: unsupported key(s) {', '.join(sorted(map(str, unknown)))}")
    base = os.path.dirname(os.path.abspath(path))
    tls = _section(path, doc, "tls_config", _TLS_KEYS)
    auth = _section(path, doc, "basic_auth", _AUTH_KEYS)
    return ClientConfig(
        _ssl_context(path, base, tls) if tls else None,
        _authorization(path, base, auth) if auth else None,
    )


def _section(path: str, doc: dict[str, Any], name: str, allowed: set[str]) -> dict[str, Any]:
    table = doc.get(name) or {}
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {name} must be a mapping")
    unknown = set(table) - allowed
    if unknown:
        raise ConfigError(f"{path}: {name}.{sorted(map(str, unknown))[0]} is not supported by trt-agent")
    return table


def _ssl_context(path: str, base: str, tls: dict[str, Any]) -> ssl.SSLContext:
    context = ssl.create_default_context()
    version = tls.get("min_version", "TLS12")
    if version not in TLS_VERSIONS:
        raise ConfigError(
            f"{path}: tls_config.min_version must be one of {', '.join(TLS_VERSIONS)}, got {version!r}"
        )
    context.minimum_version = TLS_VERSIONS[version]
    try:
        if tls.get("ca_file"):
            context.load_verify_locations(_file(path, base, tls, "ca_file"))
        if tls.get("cert_file") or tls.get("key_file"):
            if not (tls.get("cert_file") and tls.get("key_file")):
                raise ConfigError(f"{path}: tls_config.cert_file and key_file go together")
            key = _file(path, base, tls, "key_file")
            check_secret_path(key, f"{path}: tls_config.key_file {key}")
            context.load_cert_chain(_file(path, base, tls, "cert_file"), key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{path}: tls_config: {exc}") from None
    skip = tls.get("insecure_skip_verify", False)
    if not isinstance(skip, bool):
        raise ConfigError(f"{path}: tls_config.insecure_skip_verify must be true or false")
    if skip:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _read(path: str, base: str, table: dict[str, Any], key: str) -> tuple[str, bytes]:
    """The file ``table[key]`` names (relative: from ``base``) and its bytes; a FIFO or device
    is refused (reading it, or a library opening it, could block), and the message names it."""
    value = table[key]
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {key} must be a path")
    file = os.path.join(base, value)
    return file, read_regular_file(file, key)


def _file(path: str, base: str, table: dict[str, Any], key: str) -> str:
    """The checked path of a file a library reads by name (the TLS files)."""
    return _read(path, base, table, key)[0]


def _authorization(path: str, base: str, auth: dict[str, Any]) -> str:
    user = auth.get("username")
    if not isinstance(user, str) or not user:
        raise ConfigError(f"{path}: basic_auth.username is required")
    if ("password" in auth) == ("password_file" in auth):
        raise ConfigError(f"{path}: basic_auth needs one of password, password_file")
    if "password_file" in auth:
        file, data = _read(path, base, auth, "password_file")
        check_secret_path(file, f"{path}: basic_auth.password_file {file}")
        # as Prometheus reads it: the file's content, without its trailing newline
        password = data.decode().rstrip("\r\n")
    else:
        password = auth["password"]
        if not isinstance(password, str | int) or isinstance(password, bool):
            # "password:" with nothing after it is YAML's null, which must not become "None"
            raise ConfigError(f"{path}: basic_auth.password must be a string")
        password = str(password)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Basic {token}"

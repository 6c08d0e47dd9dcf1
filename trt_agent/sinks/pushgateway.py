"""``check --push``: a build's families to a Prometheus Pushgateway.

One PUT per engine, grouping key ``{job, engine}``: PUT replaces the whole group, so the next
build of a model replaces its last one (its series go stale in Prometheus, which keeps them as
history) while other models pushed under the same job stay. The build's ``--label`` pairs are
labels of the series, not of the grouping key: a grouping key per commit would make the
Pushgateway keep every build for ever and Prometheus scrape each of them at every scrape.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Final

from prometheus_client.exposition import push_to_gateway
from prometheus_client.metrics_core import Metric

from trt_agent.config import ConfigError
from trt_agent.sinks.build_metrics import of_engine, registry_of
from trt_agent.web.client_config import ClientConfig

TIMEOUT_SECONDS: Final = 30.0
_BODY_SHOWN: Final = 500


class PushError(Exception):
    """A push that did not succeed, phrased for the CI log: the gateway, what it answered."""


def gateway_url(url: str) -> str:
    """The Pushgateway's base URL as given to ``--push``: ``http://`` or ``https://``, or
    ``host:port`` (then ``http://``, as prometheus-client reads it); ``ConfigError`` for an
    empty one (in CI mostly a variable that was not set) or another scheme."""
    if not url.strip():
        raise ConfigError("--push: empty URL (is the variable it came from set?)")
    scheme, sep, rest = url.partition("://")
    if not sep:
        return f"http://{url}"
    if scheme.lower() not in ("http", "https") or not rest:
        raise ConfigError(f"--push {url!r}: the Pushgateway's URL is http://HOST:PORT or https://HOST:PORT")
    return url


def push(
    url: str,
    job: str,
    engines: Sequence[str],
    families: Sequence[Metric],
    client: ClientConfig | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> None:
    """PUT each engine's families to the Pushgateway at ``url`` under ``{job, engine}``;
    ``PushError`` at the first that fails (naming the engine and what the gateway said)."""
    handler = _handler(client or ClientConfig())
    for engine in engines:
        try:
            push_to_gateway(
                url,
                job,
                registry_of(of_engine(families, engine)),
                grouping_key={"engine": engine},
                timeout=timeout,
                handler=handler,
            )
        except PushError as exc:
            raise PushError(f"{url}: push of engine {engine} failed: {exc}") from None
        except ValueError as exc:  # a URL urllib cannot use ("http://[bad")
            raise PushError(f"{url}: not a usable URL: {exc}") from None


def _handler(client: ClientConfig) -> Callable[..., Callable[[], None]]:
    """prometheus-client's ``handler`` hook: the request with our TLS context and basic auth,
    and an error that says what the gateway answered (its body names the inconsistent metric)."""
    https = urllib.request.HTTPSHandler(context=client.ssl_context) if client.ssl_context else None
    opener = urllib.request.build_opener(*([https] if https else []))

    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        def send() -> None:
            request = urllib.request.Request(url, data=data, method=method)
            for name, value in headers:
                request.add_header(name, value)
            if client.authorization:
                request.add_header("Authorization", client.authorization)
            try:
                with opener.open(request, timeout=timeout) as response:
                    response.read()
            except urllib.error.HTTPError as exc:
                body = exc.read(_BODY_SHOWN).decode("utf-8", "replace").strip()
                raise PushError(f"HTTP {exc.code} {exc.reason}" + (f": {body}" if body else "")) from None
            except urllib.error.URLError as exc:
                raise PushError(str(exc.reason)) from None
            except (OSError, TimeoutError) as exc:  # a reset connection, a timeout mid-response
                raise PushError(str(exc) or type(exc).__name__) from None

        return send

    return handler

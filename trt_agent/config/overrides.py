"""Config keys set outside the file: ``TRT_AGENT_*`` environment variables and the flags of
``trt-agent run`` that node_exporter's users know (``--web.listen-address``, ...).

Precedence: flag > environment > file > default. The loader writes them over the file's
document (``load.Override``), so they get the file's checks and messages, naming the flag or
variable. The variable of a key is ``TRT_AGENT_<KEY>`` for the keys of ``[agent]``
(``TRT_AGENT_LOG_LEVEL``) and ``TRT_AGENT_<SECTION>_<KEY>`` for the other tables
(``TRT_AGENT_METRICS_LISTEN``); the arrays of tables (``[[logs]]``, ``[[patterns]]``) have none.

A string key takes the text as it is; any other (bool, int, float, list, table) reads it as a
TOML value (``true``, ``50``, ``[0.001, 0.01]``). An empty variable counts as unset. Other
``TRT_AGENT_*`` variables are no error (the redaction key's variable, a test's setting): only one
that names a table of the config but no key of it is reported, as a likely typo
(``unknown_variables``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import Any, Final

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

from trt_agent.config.load import ConfigError, Override
from trt_agent.config.schema import ARRAY_SECTIONS, SECTIONS, Config, Key, keys

PREFIX: Final = "TRT_AGENT_"
# A key's TOML type -> how a message shows a value of it.
_LIKE: Final[dict[str, str]] = {
    "bool": "true or false",
    "int": "an integer, e.g. 50",
    "float": "a number, e.g. 0.5",
    "list": "an array, e.g. [0.001, 0.01]",
    "dict": "an inline table, e.g. { input = [8, 3, 224, 224] }",
}


def variable(section: str, name: str) -> str:
    """The environment variable of a key: ``TRT_AGENT_LOG_LEVEL`` (``[agent]`` log_level),
    ``TRT_AGENT_METRICS_LISTEN`` (metrics.listen)."""
    return PREFIX + (name if section == "agent" else f"{section}_{name}").upper()


# Every variable that sets a key -> that key.
VARIABLES: Final[dict[str, Key]] = {
    variable(k.section, k.name): k
    for section in SECTIONS
    if section not in ARRAY_SECTIONS
    for k in keys(section)
}
# The flags of ``trt-agent run`` (node_exporter's names) -> the key each sets.
FLAGS: Final[dict[str, tuple[str, str]]] = {
    "--web.listen-address": ("metrics", "listen"),
    "--web.config.file": ("metrics", "web_config_file"),
    "--log.level": ("agent", "log_level"),
}


def typed(text: str, key: Key, source: str) -> Any:
    """``text`` as the value of ``key``: as it is for a string key, else read as a TOML value
    (the file's checks then judge its type and range); ``source`` names the flag or variable."""
    if key.toml_type is str:
        return text
    name = f"{key.section}.{key.name}"
    try:
        doc = tomllib.loads(f"value = {text}")
    except (tomllib.TOMLDecodeError, RecursionError):
        doc = {}
    if set(doc) != {"value"}:  # (not one value: "1\nother = 2" must not set a second key)
        kind = key.toml_type if isinstance(key.toml_type, type) else key.toml_type[-1]
        raise ConfigError(f"{source}: {name} must be a TOML value, {_LIKE[kind.__name__]}; got {text!r}")
    return doc["value"]


def from_environment(environ: Mapping[str, str]) -> list[Override]:
    """The keys the ``TRT_AGENT_*`` variables of ``environ`` set (empty ones count as unset)."""
    overrides = []
    for name in sorted(environ):
        key = VARIABLES.get(name)
        if key is not None and environ[name]:
            source = f"${name}"
            overrides.append(Override(key.section, key.name, typed(environ[name], key, source), source))
    return overrides


def from_flags(values: Mapping[str, str | None]) -> list[Override]:
    """The keys set by the flags of ``FLAGS`` in ``values`` (flag -> its text; None: not given)."""
    overrides = []
    for flag, (section, name) in FLAGS.items():
        text = values.get(flag)
        if text is not None:
            key = next(k for k in keys(section) if k.name == name)
            overrides.append(Override(section, name, typed(text, key, flag), flag))
    return overrides


def unknown_variables(environ: Mapping[str, str], config: Config) -> Iterator[str]:
    """Warnings for the ``TRT_AGENT_<SECTION>_*`` variables that set no key: a table of the
    config named, but none of its keys (likely a typo), or an array of tables. Any other name is
    someone else's (``redaction.key_env``'s variable, a test's setting) and left alone."""
    for name in sorted(environ):
        if name in VARIABLES or name == config.redaction.key_env:
            continue
        section = next((s for s in SECTIONS if name.startswith(f"{PREFIX}{s.upper()}_")), None)
        if section is None:
            continue
        if section in ARRAY_SECTIONS:
            yield f"${name} is ignored: [[{section}]] entries cannot be set from the environment"
        elif section == "agent":
            yield (
                f"${name} is ignored: the variables of [agent] keys have no section in their name "
                f"(e.g. {variable('agent', 'log_level')})"
            )
        else:
            known = ", ".join(v for v, k in VARIABLES.items() if k.section == section)
            hint = "; the redaction key's own variable is the one redaction.key_env names" * (
                section == "redaction"
            )
            yield f"${name} is ignored: [{section}] has no such key (its variables: {known}){hint}"

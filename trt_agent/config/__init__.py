"""The TOML configuration shared by the daemon and every command (``-c CONFIG``).

``schema``: the dataclasses, the one home of every key, its default and its description (the
reference docs/reference/config.md is generated from them). ``load``: reading the file and
validating it, with errors that name the file and the key. ``overrides``: keys set by the
``TRT_AGENT_*`` environment variables and the flags of ``trt-agent run``, over the file.
"""

from trt_agent.config.load import ConfigError, Override, load_config, read_toml, split_listen
from trt_agent.config.schema import (
    FSYNC_POLICIES,
    LOG_FORMATS,
    LOG_LEVELS,
    MAX_WAIT_SECONDS,
    PROFILER_LOG_SEVERITIES,
    REDACTION_MODES,
    WATCH_MODES,
    Config,
    EventsConfig,
    LogSource,
    MetricsConfig,
    ProfilerConfig,
    RedactionConfig,
    RulesConfig,
    TailConfig,
)

__all__ = [
    "FSYNC_POLICIES",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "MAX_WAIT_SECONDS",
    "PROFILER_LOG_SEVERITIES",
    "REDACTION_MODES",
    "WATCH_MODES",
    "Config",
    "ConfigError",
    "EventsConfig",
    "LogSource",
    "MetricsConfig",
    "Override",
    "ProfilerConfig",
    "RedactionConfig",
    "RulesConfig",
    "TailConfig",
    "load_config",
    "read_toml",
    "split_listen",
]

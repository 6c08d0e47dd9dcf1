"""What ``--help`` shows after the options of each command: examples and the exit status.

The exit codes are formatted in from where they are defined (``inputs``, ``trt_agent.daemon``);
the daemon's are read only when ``run --help`` is asked for (importing the daemon is not free).
"""

from __future__ import annotations

import textwrap

from trt_agent.cli.inputs import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, EXIT_PUSH_FAILED

INTERRUPTED = 130  # Ctrl-C during parse or report (128 + SIGINT, as a shell says it)


def _status(*codes: tuple[int, str]) -> str:
    lines = (
        textwrap.fill(what, 78, initial_indent=f"  {code:<3} ", subsequent_indent=" " * 6)
        for code, what in codes
    )
    return "exit status:\n" + "".join(f"{line}\n" for line in lines)


def _examples(*lines: str) -> str:
    return "examples:\n" + "".join(f"  {line}\n" for line in lines)


_BAD = "bad usage or config, an input that could not be read, or no input named (- reads stdin)"


def _epilogs() -> dict[str, str]:
    return {
        "trt-agent": _examples(
            "trt-agent report build.log                     # per-engine summary of one build",
            "trt-agent check --rules rules.toml build.log   # the CI gate",
            "trt-agent diff base/ new/                      # build A against build B",
            "trt-agent run -c /etc/trt-agent/config.toml    # the daemon",
            "trt-agent COMMAND --help                       # its options, examples, exit status",
        )
        + "\n"
        + _status(
            (EXIT_OK, "success (check: the gate passed; diff: no regression)"),
            (EXIT_FAILED, "check: a rule failed; diff: NEW regressed; run: the agent crashed"),
            (EXIT_BAD_INPUT, "not done: bad usage, config or input (nothing was judged)"),
            (EXIT_PUSH_FAILED, "check --push: the gate passed but the push failed"),
        )
        + "\nenvironment:\n  TRT_AGENT_<KEY> (keys of [agent]) and TRT_AGENT_<SECTION>_<KEY> set config keys\n"
        "  over the -c file (docs/daemon.md#overrides), e.g. TRT_AGENT_LOG_LEVEL=debug\n",
        "parse": _examples(
            "trt-agent parse build.log | jq -c 'select(.type == \"fallback\")'",
            "trtexec --onnx=model.onnx --verbose 2>&1 | trt-agent parse -",
            "trt-agent parse --engine resnet50 build.log model.engine.graph.json",
        )
        + "\n"
        + _status(
            (EXIT_OK, "every input was read"),
            (EXIT_BAD_INPUT, _BAD),
            (INTERRUPTED, "interrupted (Ctrl-C)"),
        ),
        "report": _examples(
            "trt-agent report build.log",
            "trt-agent report --json build.log > report.json",
            "trt-agent report --rules rules.toml --html report.html build.log",
            "trt-agent report --format prometheus --label commit=$GIT_COMMIT \\",
            "    --output /var/lib/node_exporter/textfile/resnet50.prom build.log",
            "trtexec --onnx=model.onnx --verbose 2>&1 | trt-agent report -",
        )
        + "\n"
        + _status(
            (EXIT_OK, "the report was written"),
            (
                EXIT_BAD_INPUT,
                _BAD + "; unusable rules, baseline, labels or output file; with --format "
                "prometheus/openmetrics, inputs without TensorRT facts (nothing is written)",
            ),
            (INTERRUPTED, "interrupted (Ctrl-C)"),
        ),
        "check": _examples(
            "trt-agent check --rules rules.toml build.log",
            "trt-agent check --rules rules.toml --baseline last-good.json --strict build.log",
            "trt-agent check --rules rules.toml --format junit -o junit.xml \\",
            "    --push http://pushgateway:9091 --job trt-ci --label commit=$CI_COMMIT_SHA build.log",
        )
        + "\n"
        + _status(
            (EXIT_OK, "the gate passed: no rule of severity error failed"),
            (EXIT_FAILED, "the gate failed: a rule of severity error failed (even if a push failed too)"),
            (EXIT_BAD_INPUT, "not judged: " + _BAD + "; bad rules, or no rule applies"),
            (EXIT_PUSH_FAILED, "the gate passed but the push (--push) failed"),
        ),
        "diff": _examples(
            "trt-agent diff base.log new.log",
            "trt-agent diff --format json base/ new/ > diff.json   # directories: a build's artifacts",
            "trt-agent diff --html diff.html base.log new.log",
        )
        + "\n"
        + _status(
            (EXIT_OK, "NEW did not regress"),
            (EXIT_FAILED, "NEW regressed (beyond the tolerances)"),
            (EXIT_BAD_INPUT, "bad usage or config, or an input that could not be read"),
        ),
        "redact-map": _examples(
            "trt-agent redact-map -c config.toml build.log",
            "trt-agent redact-map -c config.toml -p L3f9a2c1b build.log   # one pseudonym",
            "trt-agent redact-map -c config.toml                          # its [[logs]] files",
        )
        + "\n"
        + _status(
            (EXIT_OK, "the names were printed"),
            (EXIT_BAD_INPUT, "no redaction key; " + _BAD + "; a pseudonym not found"),
        ),
        "profile": _examples(
            "trt-agent profile model.engine",
            "trt-agent profile --shapes input:8x3x224x224 --iterations 500 --json model.engine",
        )
        + "\n"
        + _status(
            (EXIT_OK, "the engine was profiled"),
            (EXIT_BAD_INPUT, "no TensorRT or GPU, an engine it cannot load, bad options or config"),
        ),
    }


def _run_epilog() -> str:
    from trt_agent.daemon import EXIT_CONFIG, EXIT_CRASHED
    from trt_agent.daemon import EXIT_OK as EXIT_STOPPED

    return (
        _examples(
            "trt-agent run -c /etc/trt-agent/config.toml",
            "trt-agent run -c config.toml --web.listen-address :9717 --log.level debug",
            "TRT_AGENT_METRICS_LISTEN=0.0.0.0:9717 TRT_AGENT_EVENTS_PATH=/var/log/trt/events.jsonl \\",
            "    trt-agent run -c config.toml",
            "kill -HUP $(pidof trt-agent)   # re-read the config (flags and environment still apply)",
        )
        + "\n"
        + "overrides: flag > TRT_AGENT_* environment > config file > default (docs/daemon.md#overrides)\n"
        + "\n"
        + _status(
            (EXIT_STOPPED, "stopped by SIGTERM or SIGINT"),
            (EXIT_CRASHED, "crashed (a worker thread died): restart it, it resumes from its checkpoints"),
            (EXIT_CONFIG, "refused to start: bad config, flag, variable, or an unusable file or port"),
        )
    )


def epilog(command: str) -> str:
    """The epilog of ``command`` (``trt-agent`` for the top level)."""
    return _run_epilog() if command == "run" else _epilogs()[command]

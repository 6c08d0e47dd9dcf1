"""An operator's review of ``trt-agent run``, each finding against a real agent process over real
HTTP: ``?name[]=`` filtering, timer keys that crash-looped the daemon, ``[[logs]]`` paths that
match nothing, tail error series that appear only with the first error, event rotation that
discarded events, methods other than GET/HEAD, the ``Server`` header, and redaction key errors."""

from __future__ import annotations

import http.client
import signal
import socket
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA, answers_ok
from harness import LINE, Agent, new_agent, run_once, wait_for

from trt_agent.config import MAX_WAIT_SECONDS, ConfigError, load_config

ALEXNET = str(DATA / "corpus" / "0[1-4]_*alexnet*")
TAIL_ERROR_REASONS = (
    "permission_denied",
    "not_found",
    "not_a_regular_file",
    "symlink_loop",
    "symlink_outside_logs",
    "too_many_files",
    "io_error",
    "internal_error",
)


def _port(agent: Agent) -> int:
    return int(agent.wait_log("serving metrics")["address"].rsplit(":", 1)[1])


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


def _sample_names(body: str) -> set[str]:
    return {
        line.split("{")[0].split(" ")[0] for line in body.splitlines() if line and not line.startswith("#")
    }


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(f'[agent]\nstate_dir = "state"\n[metrics]\nlisten = "127.0.0.1:0"\n{text}')
    return path


def _refused(config: Path, message: str) -> None:
    """``trt-agent run`` exits 2 at load, naming the file and the key (no traceback)."""
    result = run_once(config)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"trt-agent: {config}: "), result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


# -- 1. ?name[]= -------------------------------------------------------------------------------------


def test_name_filter_returns_the_requested_families(tmp_path: Path, agents: list[Agent]) -> None:
    agent = new_agent(agents, tmp_path, [{"path": ALEXNET, "engine": "alexnet-fp16"}]).start()
    port = _port(agent)
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 20, "ready", agent)
    everything = _sample_names(_get(port, "/metrics")[2])
    assert {"trt_agent_up", "process_open_fds", "trt_engine_fusion_coverage_ratio"} <= everything

    query = "name[]=trt_agent_up&name[]=process_open_fds&name[]=trt_engine_fusion_coverage_ratio"
    status, _, body = _get(port, f"/metrics?{query}")
    assert status == 200
    assert _sample_names(body) == {"trt_agent_up", "process_open_fds", "trt_engine_fusion_coverage_ratio"}
    assert 'trt_engine_fusion_coverage_ratio{engine="alexnet-fp16"}' in body
    assert "# HELP trt_agent_up " in body and "# TYPE trt_agent_up gauge" in body

    # prometheus-client's names are sample names (a counter's _total); a family name brings the
    # whole family (a histogram's buckets, sum and count).
    body = _get(port, "/metrics?name[]=trt_agent_tail_errors_total")[2]
    assert _sample_names(body) == {"trt_agent_tail_errors_total"}
    body = _get(port, "/metrics?name[]=trt_agent_parse_seconds")[2]
    assert _sample_names(body) == {"trt_agent_parse_seconds_count", "trt_agent_parse_seconds_sum"}
    # OpenMetrics too, and a name nobody exports: an empty exposition, as prometheus-client's.
    openmetrics = {"Accept": "application/openmetrics-text; version=1.0.0"}
    status, headers, body = _get(port, "/metrics?name[]=trt_agent_up", openmetrics)
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert (
        body
        == "# HELP trt_agent_up 1 while the agent runs.\n# TYPE trt_agent_up gauge\ntrt_agent_up 1.0\n# EOF\n"
    )
    assert _get(port, "/metrics?name[]=no_such_metric")[2] == ""
    assert agent.stop() == 0


# -- 2. timer keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("poll_interval", "inf"),
        ("poll_interval", "1e10"),
        ("checkpoint_interval", "inf"),
        ("rotate_wait", "1e12"),
        ("partial_line_timeout", "inf"),
        ("shutdown_timeout", "1e12"),
        ("poll_interval", "nan"),
    ],
)
def test_timers_beyond_a_day_are_config_errors(tmp_path: Path, key: str, value: str) -> None:
    config = _config(tmp_path, "")
    config.write_text(config.read_text().replace("[agent]\n", f"[agent]\n{key} = {value}\n"))
    message = (
        "must be more than 0 seconds"
        if value == "nan"
        else "must be a finite number of seconds, at most 86400"
    )
    _refused(config, f"agent.{key} {message}")


def test_a_day_is_accepted_and_series_ttl_nan_or_inf_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path, "")
    text = config.read_text()
    config.write_text(text.replace("[agent]\n", f"[agent]\npoll_interval = {MAX_WAIT_SECONDS}\n"))
    assert load_config(str(config)).tail.poll_interval == 86400
    for value in ("nan", "inf"):
        config.write_text(text.replace("[metrics]\n", f"[metrics]\nseries_ttl = {value}\n"))
        _refused(
            config, f"metrics.series_ttl must be 0 (never) or more seconds, a finite number, got {value}"
        )


def test_a_huge_poll_interval_no_longer_crash_loops(tmp_path: Path, agents: list[Agent]) -> None:
    """The largest accepted values run: the tailer and the event writer wait on them."""
    log = tmp_path / "app.log"
    log.write_text(LINE.format(tag="t", n=0))
    agent = new_agent(
        agents,
        tmp_path,
        [{"path": str(log), "engine": "e"}],
        poll_interval=MAX_WAIT_SECONDS,
        checkpoint_interval=MAX_WAIT_SECONDS,
        rotate_wait=MAX_WAIT_SECONDS,
        partial_line_timeout=MAX_WAIT_SECONDS,
    ).start()
    assert agent.wait_probes(Counter({"t 00000000": 1}))["t 00000000"] == 1
    wait_for(lambda: agent.metrics().get("trt_agent_ready") == 1, 10, "ready", agent)
    assert not [e for e in agent.agent_logs() if "died" in e.get("event", "")]
    assert agent.stop() == 0


# -- 3. [[logs]] paths that match nothing ----------------------------------------------------------


def test_a_logs_path_matching_nothing_is_warned_and_exported(tmp_path: Path, agents: list[Agent]) -> None:
    missing, typo = tmp_path / "missing.log", str(tmp_path / "typo*.log")
    agent = new_agent(
        agents, tmp_path, [{"path": str(missing), "engine": "m"}, {"path": typo, "engine": "t"}]
    )
    agent.start()
    agent.wait_log(
        "no file matches this [[logs]] path; waiting for one (trt_agent_log_path_files is 0)",
        path=str(missing),
    )
    agent.wait_log(
        "no file matches this [[logs]] path; waiting for one (trt_agent_log_path_files is 0)", path=typo
    )
    metrics = agent.metrics()
    assert metrics[f'trt_agent_log_path_files{{file="{missing}"}}'] == 0
    assert metrics[f'trt_agent_log_path_files{{file="{typo}"}}'] == 0
    base = agent.metrics_url.rsplit("/", 1)[0]
    # readiness as before: every file present was read (the first scan may still be finishing)
    wait_for(lambda: answers_ok(f"{base}/-/ready"), 10, "ready", agent)

    missing.write_text(LINE.format(tag="m", n=0))
    agent.wait_log("[[logs]] path matches files now", path=str(missing), files=1)
    wait_for(
        lambda: agent.metrics()[f'trt_agent_log_path_files{{file="{missing}"}}'] == 1, 10, "gauge 1", agent
    )
    for n in (1, 2):
        (tmp_path / f"typo{n}.log").write_text(LINE.format(tag="t", n=n))
    wait_for(lambda: agent.metrics()[f'trt_agent_log_path_files{{file="{typo}"}}'] == 2, 10, "gauge 2", agent)
    missing.unlink()
    wait_for(
        lambda: agent.metrics()[f'trt_agent_log_path_files{{file="{missing}"}}'] == 0, 10, "gauge 0", agent
    )
    agent.wait_log(
        "no file matches this [[logs]] path; waiting for one (trt_agent_log_path_files is 0)",
        path=str(missing),
    )
    assert agent.stop() == 0
    # Once per episode, not once per re-scan (poll_interval 0.25 s: dozens of scans ran).
    warned = [e for e in agent.agent_logs() if e.get("event", "").startswith("no file matches")]
    assert sorted(e["path"] for e in warned) == sorted([str(missing), str(missing), typo])


def test_no_logs_at_all_is_warned_and_an_empty_path_refused(tmp_path: Path, agents: list[Agent]) -> None:
    agent = new_agent(agents, tmp_path, []).start()
    agent.wait_log("no [[logs]] in the config: no file is followed")
    assert agent.stop() == 0
    config = _config(tmp_path, '[[logs]]\npath = ""\nengine = "e"\n')
    _refused(config, "logs[0].path is empty")


# -- 4. tail error series from the start -----------------------------------------------------------


def test_every_tail_error_reason_is_exported_from_the_start(tmp_path: Path, agents: list[Agent]) -> None:
    log = tmp_path / "app.log"
    log.write_text(LINE.format(tag="a", n=0))
    agent = new_agent(agents, tmp_path, [{"path": str(log), "engine": "e"}]).start()
    metrics = agent.metrics()
    for reason in TAIL_ERROR_REASONS:
        assert metrics[f'trt_agent_tail_errors_total{{reason="{reason}"}}'] == 0, reason
    (tmp_path / "dir.log").mkdir()
    agent.config_path.write_text(
        agent.config_path.read_text() + f'[[logs]]\npath = "{tmp_path / "dir.log"}"\n'
    )
    agent.send(signal.SIGHUP)
    wait_for(
        lambda: agent.metrics()['trt_agent_tail_errors_total{reason="not_a_regular_file"}'] >= 1,
        10,
        "error",
        agent,
    )
    assert agent.stop() == 0


# -- 5. event rotation -----------------------------------------------------------------------------


def test_rotation_without_rotated_files_is_a_config_error(tmp_path: Path) -> None:
    config = _config(tmp_path, '[events]\npath = "events.jsonl"\nmax_bytes = 1048576\nmax_files = 0\n')
    _refused(config, "events.max_files must be at least 1 when events.max_bytes rotates the event file")
    config = _config(tmp_path, '[events]\npath = "events.jsonl"\nmax_files = 0\n')  # default max_bytes
    _refused(config, "events.max_files must be at least 1")
    config = _config(tmp_path, '[events]\npath = "events.jsonl"\nmax_bytes = 0\nmax_files = 0\n')
    assert load_config(str(config)).events.max_files == 0  # never rotated: nothing to keep


# -- 6. methods and the Server header --------------------------------------------------------------


def test_other_methods_get_405_with_allow_and_no_python_version(tmp_path: Path, agents: list[Agent]) -> None:
    agent = new_agent(agents, tmp_path, [{"path": ALEXNET, "engine": "alexnet-fp16"}]).start()
    port = _port(agent)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        for method, path in (("POST", "/metrics"), ("PUT", "/"), ("OPTIONS", "*"), ("DELETE", "/-/ready")):
            body = b"x=1" if method in ("POST", "PUT") else None
            conn.request(method, path, body=body)
            response = conn.getresponse()
            text = response.read()
            assert response.status == 405, (method, response.status)
            assert response.getheader("Allow") == "GET, HEAD"
            assert response.getheader("Content-Type") == "text/plain"
            assert b"<" not in text and len(text) < 100
            assert response.getheader("Server") == "trt-agent"
        # The same connection goes on: each short body was read.
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        assert response.status == 200 and b"trt_agent_up 1.0" in response.read()
        assert response.getheader("Server") == "trt-agent"
    finally:
        conn.close()
    # A body too long to read: answered, then closed.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n" + b"x" * 1000)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 405 ") and b"\r\nAllow: GET, HEAD\r\n" in reply
    assert b"\r\nConnection: close\r\n" in reply
    # Errors the stdlib answers keep the bare Server header too.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /metrics HTTP/9.9\r\n\r\n")
        assert b"\r\nServer: trt-agent\r\n" in sock.recv(4096)
    assert agent.metrics()["trt_agent_up"] == 1
    assert agent.stop() == 0


# -- 7. the redaction key --------------------------------------------------------------------------


def test_redaction_key_errors_say_what_is_wrong(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRT_AGENT_TEST_UNSET_KEY", raising=False)
    config = _config(tmp_path, '[redaction]\nenabled = true\nkey_env = "TRT_AGENT_TEST_UNSET_KEY"\n')
    _refused(config, "redaction.key_env: $TRT_AGENT_TEST_UNSET_KEY is not set")
    assert "16 bytes (got 0)" not in run_once(config).stderr
    monkeypatch.setenv("TRT_AGENT_TEST_UNSET_KEY", "")  # run_once's process inherits it
    _refused(config, "redaction.key_env: $TRT_AGENT_TEST_UNSET_KEY is empty")
    monkeypatch.delenv("TRT_AGENT_TEST_UNSET_KEY")
    key = tmp_path / "redaction.key"
    key.write_text("k" * 32)
    key.chmod(0o600)
    config = _config(
        tmp_path,
        '[redaction]\nenabled = true\nkey_file = "redaction.key"\nkey_env = "TRT_AGENT_TEST_UNSET_KEY"\n',
    )
    _refused(config, "redaction.key_file and redaction.key_env are both set")
    # a disabled [redaction] table is inert: configs that keep both keys while it is off still load
    from trt_agent.config import load_config

    config.write_text(config.read_text().replace("enabled = true", "enabled = false"))
    assert not load_config(str(config)).redaction.enabled


# -- 8. metrics.listen -----------------------------------------------------------------------------


@pytest.mark.parametrize("listen", ["9717", "localhost", "127.0.0.1:99999", "127.0.0.1:\u00b2", "127.0.0.1:"])
def test_a_malformed_listen_address_names_the_config_file(tmp_path: Path, listen: str) -> None:
    config = _config(tmp_path, "")
    config.write_text(config.read_text().replace('"127.0.0.1:0"', f'"{listen}"'))
    _refused(config, "metrics.listen must be host:port")


@pytest.mark.parametrize("listen", [":9717", "[::1]:9717", "0.0.0.0:0", "localhost:9717"])
def test_listen_addresses_the_daemon_takes_still_load(tmp_path: Path, listen: str) -> None:
    from trt_agent.daemon import parse_listen

    config = _config(tmp_path, "")
    config.write_text(config.read_text().replace('"127.0.0.1:0"', f'"{listen}"'))
    parse_listen(load_config(str(config)).metrics.listen)


def test_config_errors_are_config_errors(tmp_path: Path) -> None:
    """What load_config raises for the new checks is a ConfigError naming the file (test_fuzz)."""
    cases: list[tuple[str, Any]] = [
        ("[agent]\ncheckpoint_interval = inf\n", "agent.checkpoint_interval"),
        ("[profiler]\nengine = 'e.plan'\nbusy_backoff = 1e10\n", "profiler.busy_backoff"),
    ]
    for text, key in cases:
        path = tmp_path / "c.toml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=f"^{path}: {key} must be a finite number of seconds"):
            load_config(str(path))

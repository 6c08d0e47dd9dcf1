#!/usr/bin/env bash
# The README's test command; .ci/run calls exactly this. Installs what the tests need, then runs
# the linters and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages the tests use for real: Prometheus and promtool (the exporter and deploy/prometheus
# tests scrape the agent and test the rules), the Pushgateway and node_exporter (CI builds pushed
# and written for the textfile collector, scraped by that Prometheus), Chromium (the HTML report
# is opened in a browser), systemd-analyze (the unit in systemd/ is verified).
missing=""
command -v prometheus >/dev/null && command -v promtool >/dev/null || missing="$missing prometheus"
command -v prometheus-pushgateway >/dev/null || missing="$missing prometheus-pushgateway"
command -v prometheus-node-exporter >/dev/null || missing="$missing prometheus-node-exporter"
command -v chromium >/dev/null || missing="$missing chromium"
command -v systemd-analyze >/dev/null || missing="$missing systemd"
if [ -n "$missing" ]; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    # shellcheck disable=SC2086  # one word per package
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
# Type stubs of NVIDIA's TensorRT API, so mypy checks the profiler host's TensorRT calls. Without
# its dependencies: they are TensorRT itself (gigabytes of CUDA libraries from NVIDIA's index).
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps 'tensorrt-stubs==10.13.0.35.1'
.venv/bin/python scripts/fix_tensorrt_stubs.py  # two syntax errors in NVIDIA's generated stubs
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest -q

#!/usr/bin/env bash
# The README's test command; .ci/run calls exactly this. Installs what the tests need, then runs
# the linters and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# The integration tests scrape the agent with a real Prometheus and check it with promtool.
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
.venv/bin/ruff check trt_agent tests bench
.venv/bin/ruff format --check trt_agent tests bench
.venv/bin/mypy
.venv/bin/python -m pytest -q

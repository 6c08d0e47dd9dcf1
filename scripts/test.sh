#!/usr/bin/env bash
# The README's test command; .ci/run calls exactly this. Installs what the tests need, then runs
# the linters and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
.venv/bin/ruff check trt_agent tests bench
.venv/bin/ruff format --check trt_agent tests bench
.venv/bin/mypy
.venv/bin/python -m pytest -q

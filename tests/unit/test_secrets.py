"""Which file modes make a secret (redaction key, TLS key) one the agent refuses or warns about."""

from __future__ import annotations

import pytest

from trt_agent.security import secret_problem


@pytest.mark.parametrize(
    ("mode", "problem"),
    [
        (0o600, None),
        (0o400, None),
        (0o640, None),  # a group the agent is in (a Kubernetes Secret with defaultMode 0440)
        (0o644, "other users can access it"),
        (0o604, "other users can access it"),
        (0o660, "its group can write it"),
    ],
)
def test_secret_modes(mode: int, problem: str | None) -> None:
    assert secret_problem(mode) == problem

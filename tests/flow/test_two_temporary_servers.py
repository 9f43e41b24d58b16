"""Two `hpo-flow run` at once (a schedule and an event) each start a temporary Prefect server on
the same Prefect database: on a fresh one both used to migrate it at the same moment, and one
failed with a traceback on the user's terminal. Their start-ups take turns (processes/server_process)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from hpo_flow.processes.server import _launch, healthy, stop_session

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_two_temporary_servers_on_one_fresh_database_both_start_cleanly(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    # as `hpo-flow run` starts it (cli/run.py: _ENV_DEFAULTS)
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    launched = [_launch(env) for _ in range(2)]  # at once, as two triggers fire
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not all(healthy(url) for _, url in launched):
            assert all(proc.poll() is None for proc, _ in launched), "a temporary server died while starting"
            time.sleep(0.2)
        assert all(healthy(url) for _, url in launched)
    finally:
        for proc, _ in launched:
            stop_session(proc)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err, (out + err)[-3000:]

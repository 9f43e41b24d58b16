"""Prefect for the flow's tests: the test harness for flow runs, and a real `prefect server start`
for deployments and event triggers. Both keep their state in the session's temp directory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent
_QUIET_ENV = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Prefect's own test harness (a temporary server and database), once per session.

    PREFECT_HOME points at the session's temp directory so nothing is shared with other users.
    """
    from prefect.settings import PREFECT_HOME, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    home = tmp_path_factory.mktemp("prefect-home")
    with temporary_settings({PREFECT_HOME: str(home)}), prefect_test_harness(server_startup_timeout=180):
        yield


class PrefectServer:
    """A running `prefect server start`: its API URL and the environment that points a CLI at it."""

    def __init__(self, api_url: str, home: Path) -> None:
        self.api_url = api_url
        self.home = home

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(_QUIET_ENV, PREFECT_HOME=str(self.home), PREFECT_API_URL=self.api_url, **extra)
        return env


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """A real Prefect server (API, events, automations) on a free loopback port, with its own
    PREFECT_HOME and SQLite database; what a team runs with `prefect server start`."""
    from flows.server import free_port, healthy, stop_session

    home = tmp_path_factory.mktemp("prefect-server")
    log_path = home / "server.log"
    last_log = ""
    for _ in range(3):  # a port found free can be taken before the server binds it: try another
        port = free_port()
        api_url = f"http://127.0.0.1:{port}/api"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(
            _QUIET_ENV,
            PREFECT_HOME=str(home),
            PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home / 'prefect.db'}",
            PREFECT_UI_ENABLED="false",
            PREFECT_SERVER_LOGGING_LEVEL="WARNING",
        )
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                cwd=home,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None and not healthy(api_url):
            time.sleep(0.25)
        if proc.poll() is None and healthy(api_url):
            break
        stop_session(proc)
        last_log = log_path.read_text(errors="replace")[-3000:]
    else:
        pytest.fail(f"prefect server did not start; its log ends with:\n{last_log}")
    try:
        yield PrefectServer(api_url, home)
    finally:
        stop_session(proc)

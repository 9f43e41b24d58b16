"""Prefect for the flow's tests: the test harness for flow runs, and a real `prefect server start`
for deployments and event triggers. Both keep their state in the session's temp directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hpo_flow.processes import lifeline

VENV_BIN = Path(sys.executable).parent
_QUIET_ENV = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Prefect's own test harness (a temporary server and database), once per session.

    PREFECT_HOME points at the session's temp directory so nothing is shared with other users.
    """
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_HOME, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    home = tmp_path_factory.mktemp("prefect-home")
    start = SubprocessASGIServer._run_uvicorn_command

    def start_watched(self: SubprocessASGIServer) -> Any:
        proc = start(self)
        lifeline.watch(proc.pid)  # the harness's server dies with this session, even on kill -9
        return proc

    with (
        pytest.MonkeyPatch.context() as patch,
        temporary_settings({PREFECT_HOME: str(home)}),
    ):
        patch.setattr(SubprocessASGIServer, "_run_uvicorn_command", start_watched)
        with prefect_test_harness(server_startup_timeout=180):
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


class _Launch:
    """One `prefect server start` in its own session, on a free port, logging to `home`."""

    def __init__(self, home: Path) -> None:
        from hpo_flow.processes.server import free_port

        self.home = home
        port = str(free_port())
        self.api_url = f"http://127.0.0.1:{port}/api"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(
            _QUIET_ENV,
            PREFECT_HOME=str(home),
            PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home / 'prefect.db'}",
            PREFECT_UI_ENABLED="false",
            PREFECT_SERVER_LOGGING_LEVEL="WARNING",
        )
        with (home / "server.log").open("ab") as log:
            self.proc = lifeline.start(
                [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", port],
                cwd=home,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def ready(self, timeout: float = 180) -> bool:
        from hpo_flow.processes.server import healthy

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if healthy(self.api_url):
                return True
            time.sleep(0.25)
        return False

    def stop(self) -> None:
        from hpo_flow.processes.server import stop_session

        stop_session(self.proc)


# A server launched when collection shows a test will need it, so that it starts while other
# tests run (its start takes 15-30 s on a small machine), and those tests are moved to the end.
_EARLY: list[_Launch] = []


def _needs_server(item: pytest.Item) -> bool:
    return "prefect_server" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=_needs_server)  # stable: the others keep their order


def pytest_collection_finish(session: pytest.Session) -> None:
    if any(_needs_server(item) for item in session.items) and not session.config.option.collectonly:
        _EARLY.append(_Launch(Path(tempfile.mkdtemp(prefix="prefect-server-"))))


def pytest_sessionfinish(session: pytest.Session) -> None:
    while _EARLY:  # launched but never used (the session stopped first)
        launch = _EARLY.pop()
        launch.stop()
        shutil.rmtree(launch.home, ignore_errors=True)


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[PrefectServer]:
    """A real Prefect server (API, events, automations) on a free loopback port, with its own
    PREFECT_HOME and SQLite database; what a team runs with `prefect server start`."""
    launch = _EARLY.pop() if _EARLY else _Launch(Path(tempfile.mkdtemp(prefix="prefect-server-")))
    try:
        for _ in range(3):  # a port found free can be taken before the server binds it: try another
            if launch.ready():
                break
            launch.stop()
            launch = _Launch(launch.home)
        else:
            log = (launch.home / "server.log").read_text(errors="replace")[-3000:]
            pytest.fail(f"prefect server did not start; its log ends with:\n{log}")
        yield PrefectServer(launch.api_url, launch.home)
    finally:
        launch.stop()
        shutil.rmtree(launch.home, ignore_errors=True)

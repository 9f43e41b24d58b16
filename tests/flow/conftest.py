"""Fixtures shared by the flow's tests: real services on loopback, each with its own temp home."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpo_flow.processes import lifeline
from hpo_flow.processes.server import free_port, healthy, stop_session
from tests.flow.prefect_servers import (  # noqa: F401  (fixtures and hooks for the flow's tests)
    prefect_harness,
    prefect_server,
    pytest_collection_finish,
    pytest_collection_modifyitems,
    pytest_sessionfinish,
)

_VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MLflow tracking server on 127.0.0.1 with a SQLite store; yields its http URI.

    Artifacts are proxied by the server (--serve-artifacts), so a client needs nothing but the
    URI to log artifacts and load registered models - the same as a team's shared server.
    """
    home = tmp_path_factory.mktemp("mlflow-server")
    log_path = home / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # The job executor (a pool of worker processes for GenAI jobs) is of no use to tracking and
    # would triple the server's start-up cost on a busy CI machine.
    env.update(
        HOME=str(home), DO_NOT_TRACK="1", MLFLOW_DISABLE_TELEMETRY="true", MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"
    )
    last_error = ""
    for _ in range(3):  # a port picked free can be taken before the server binds it: try another
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with log_path.open("wb") as log:
            proc = lifeline.start(
                [
                    str(_VENV_BIN / "mlflow"),
                    "server",
                    "--backend-store-uri",
                    f"sqlite:///{home / 'mlflow.db'}",
                    "--serve-artifacts",
                    "--artifacts-destination",
                    str(home / "artifacts"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    "1",
                ],
                cwd=home,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not healthy(url):
            time.sleep(0.25)
        if proc.poll() is None and healthy(url):
            break
        stop_session(proc)
        last_error = log_path.read_text(errors="replace")[-3000:]
    else:
        pytest.fail(f"the MLflow server did not start; its log ends with:\n{last_error}")
    try:
        yield url
    finally:
        stop_session(proc)

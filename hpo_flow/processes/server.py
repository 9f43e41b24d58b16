"""The Prefect API that `hpo-flow run` talks to: the one configured, or a temporary one of its own.

Prefect starts a temporary server by itself when no PREFECT_API_URL is set, but as a child in
our process group: Ctrl-C in the terminal reaches it together with the flow, the server stops
first, and the flow can then neither record that it crashed nor run the hook that stops the
sweep - it hangs on retries while the sweep runs on. This starts the same server (Prefect's own
app with the settings Prefect gives its temporary server; block types are not registered, see
`_launch`) in a session of its own, so that Ctrl-C reaches the flow alone, and
bound to this process by a lifeline (hpo_flow.processes.lifeline), so that even a `kill -9` of `hpo-flow run`
does not leave it running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from hpo_flow.adapters.errors import HpoFlowError
from hpo_flow.processes import lifeline


@dataclass
class EarlyServer:
    """A temporary Prefect server launched before Prefect is imported here: it boots while this
    process imports Prefect and MLflow and plans the sweep, instead of after."""

    proc: subprocess.Popen[bytes]
    api_url: str


def launch_early() -> EarlyServer | None:
    """Start the temporary server now, unless PREFECT_API_URL names one; `prefect_api` waits for it.

    Costs no Prefect import: the server is Prefect's own app under uvicorn (hpo_flow.processes.server_process).
    """
    if os.environ.get("PREFECT_API_URL"):
        return None
    settings = sys.modules.get("prefect.settings")  # imported already (a test harness, a notebook): ask it
    if settings is not None and settings.get_current_settings().api.url:
        return None
    return EarlyServer(*_launch(os.environ))


@contextlib.contextmanager
def prefect_api(early: EarlyServer | None = None) -> Iterator[str]:
    """Yield the API URL flows report to; a temporary server lives only inside the block."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_UI_URL,
        get_current_settings,
        temporary_settings,
    )

    configured = get_current_settings().api.url
    if configured:
        if early is not None:  # a Prefect profile names a server after all
            stop_session(early.proc)
        yield str(configured)
        return
    proc, api_url = _start(early)
    try:
        # The temporary server has no UI: no "View at" links to pages that are not there. Nor does it
        # outlive this process to notice a missing heartbeat, and the flow's exit waits up to a
        # second for the heartbeat thread's sleep to end.
        temporary = {PREFECT_API_URL: api_url, PREFECT_UI_URL: "", PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
        with temporary_settings(temporary):
            try:
                yield api_url
            finally:
                _drain()
    finally:
        stop_session(proc)


def _drain() -> None:
    """Send the run logs and events still queued while the server is up; once it is gone, Prefect
    retries them at exit for a minute."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    EventsWorker.drain_all(timeout=10)


def _start(early: EarlyServer | None = None, attempts: int = 3) -> tuple[subprocess.Popen[bytes], str]:
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, get_current_settings

    timeout = float(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
    env = {**os.environ, **get_current_settings().to_environment_variables(exclude_unset=True)}
    for _ in range(attempts):  # a port found free can be taken before the server binds it
        proc, api_url = (early.proc, early.api_url) if early is not None else _launch(env)
        early = None
        print(f"Starting a temporary Prefect server on {api_url} (set PREFECT_API_URL to use yours)", file=sys.stderr)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if healthy(api_url):
                return proc, api_url
            time.sleep(0.02)
        stop_session(proc)
    raise HpoFlowError(
        f"the temporary Prefect server did not start within {timeout:.0f} s; raise "
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or start one (prefect server start) and set PREFECT_API_URL"
    )


def _launch(environ: Mapping[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {
        # Block types are registered by a server that stays (`prefect server start`, which registers
        # what this one left out: it keeps no memo of it). Checking whether they need registering
        # imports every installed Prefect collection (prefect-aws, -azure, -docker): 40% of the
        # start-up of this server, for flows that load blocks at most, never register them.
        "PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "false",
        "PREFECT_SERVER_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false",
        **environ,
        # what Prefect sets for its temporary server: no UI, ephemeral mode. Not PREFECT__SERVER_FINAL:
        # it frees the API's route models (~50 MB) by a full garbage collection, a quarter second
        # before the server answers, for memory that a server of one run holds only for that run.
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
    }
    # -P: a `flows` or `prefect` folder where the user runs hpo-flow must not shadow ours.
    proc = lifeline.start(
        [sys.executable, "-P", "-m", "hpo_flow.processes.server_process", "--port", str(port)], env=env
    )
    return proc, api_url


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(api_url: str) -> bool:
    """Whether a Prefect (`.../api`) or MLflow server answers on its /health endpoint."""
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def stop_session(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server started with start_new_session=True, and anything it forked."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)

"""Servers we start die with us, even on kill -9 (issue 12: `hpo-flow run` left its temporary
Prefect server running forever, and killed test runs left theirs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hpo_flow.processes.server import healthy
from tests.helpers import start_hpo_flow
from tests.local.sweep_helpers import alive

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


def _pids_with(text: str, where: str = "cmdline") -> list[int]:
    """Live processes whose command line (or, with where="environ", environment) holds `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                held = (entry / where).read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in held and alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def _parent(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, stdout=subprocess.PIPE, text=True)


def test_a_server_and_its_children_die_when_the_process_that_started_it_is_killed() -> None:
    parent = _parent(
        """
        import subprocess, sys, time
        from hpo_flow.processes import lifeline
        grandchild = "import subprocess, time; p = subprocess.Popen(['sleep', '600']); print(p.pid, flush=True)"
        keeper = lifeline.start([sys.executable, "-c", grandchild + "; time.sleep(600)"], stdout=subprocess.PIPE)
        print(keeper.pid, keeper.stdout.readline().decode().strip(), flush=True)
        time.sleep(600)
        """
    )
    try:
        keeper, sleeper = (int(x) for x in parent.stdout.readline().split())  # type: ignore[union-attr]
        assert alive(keeper) and alive(sleeper)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert _gone(sleeper, 10), "the server's own child outlived us"
        assert _gone(keeper, 10)
    finally:
        if parent.poll() is None:
            parent.kill()


def test_watch_kills_a_server_someone_else_started_and_spares_one_that_already_ended() -> None:
    parent = _parent(
        """
        import subprocess, time
        from hpo_flow.processes import lifeline
        server = subprocess.Popen(["sleep", "600"])
        ended = subprocess.Popen(["true"]); ended.wait()
        lifeline.watch(server.pid)
        print(server.pid, flush=True)
        time.sleep(600)
        """
    )
    try:
        server = int(parent.stdout.readline())  # type: ignore[arg-type]
        time.sleep(0.5)  # the watcher starts
        assert alive(server)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert _gone(server, 10)
    finally:
        if parent.poll() is None:
            parent.kill()


@pytest.mark.timeout(240)
def test_kill_9_of_the_cli_leaves_no_temporary_prefect_server() -> None:
    """What `hpo-flow run` does before the flow starts: a temporary Prefect server of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nfrom hpo_flow.processes.server import prefect_api\nwith prefect_api() as url:\n"
            "    print(url, flush=True)\n    time.sleep(600)\n",
        ],
        cwd=ROOT,
        env={**env, "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = parent.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:") and healthy(url)
        port = url.rsplit(":", 1)[1].split("/")[0]
        servers = _pids_with(f"--port {port}")
        assert servers
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        for pid in servers:
            assert _gone(pid, 15), f"the temporary Prefect server (pid {pid}) outlived hpo-flow"
        assert not healthy(url)
    finally:
        if parent.poll() is None:
            parent.kill()
        for pid in _pids_with(f"--port {port}") if "port" in locals() else []:
            os.kill(pid, signal.SIGKILL)


@pytest.mark.timeout(120)
def test_a_refused_config_starts_no_temporary_server(tmp_path: Path) -> None:
    """`hpo-flow run` validates and plans the config before it launches its temporary Prefect
    server (docs/pipeline.md): a refused config exits 2 with nothing of it ever running."""
    (tmp_path / "config.yaml").write_text("project: p\ntuning:\n  max_jobs: -3\n")
    mark = f"{os.getpid()}-{time.monotonic_ns()}"  # inherited by the CLI and everything it starts
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")} | {"HPO_FLOW_TEST_MARK": mark}
    marker = f"HPO_FLOW_TEST_MARK={mark}"
    cli = start_hpo_flow(["run", "config.yaml"], tmp_path, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: set[int] = set()
    while cli.poll() is None:
        seen |= set(_pids_with(marker, "environ")) - {cli.pid}
        time.sleep(0.005)
    _, err = cli.communicate()
    assert cli.returncode == 2, err
    assert "tuning.max_jobs" in err
    assert not seen, f"a refused config started processes: {sorted(seen)}"

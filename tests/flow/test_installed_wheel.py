"""hpo-flow as a team installs it: the wheel in a fresh venv, used from a Prefect project of the
usual shape (its own `flows/`, `tasks/` and `adapters/` packages): examples/team-project.

The wheel's only top-level name is `hpo_flow`; `hpo-flow validate` and a whole `hpo-flow run` work
from the project's folder, so does the team's own flow that calls `hpo_sweep` as a subflow, and so
does its deployment, deployed with `prefect deploy` and run by a process worker. The venv is
installed from uv's cache with the versions uv.lock pins, so it takes seconds, not a download.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hpo_flow.processes import lifeline
from hpo_flow.processes.server import stop_session
from tests.flow.prefect_servers import PrefectServer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "team-project"
TRIALS = 3  # the example's tuning.max_jobs
_RUN_S = 600  # one command's bound: a sweep of three short trials, on a loaded 2-core machine

# Modules of the team's that share a name with what hpo-flow imports (`flows.hpo_sweep`,
# `tasks.sweep`, `adapters.local`, ...): imported in place of hpo-flow's, they say so.
_CLASHES = ("flows/hpo_sweep.py", "flows/cli.py", "tasks/sweep.py", "tasks/config.py", "adapters/local.py")
_CLASH = 'raise RuntimeError(f"the team\'s {__name__} ({__file__}) was imported: hpo-flow must import hpo_flow.*")\n'


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        """A terminal's environment in the venv: nothing of this repository's on any path, and
        bytecode written (these machines set PYTHONDONTWRITEBYTECODE: every process of a fresh
        venv would compile Prefect and MLflow again)."""
        drop = ("PREFECT_", "MLFLOW_", "PYTHON", "VIRTUAL_ENV")
        env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        env.update(
            PATH=f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            VIRTUAL_ENV=str(self.venv),
            DO_NOT_TRACK="1",
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            MLFLOW_DISABLE_TELEMETRY="true",
            PREFECT_HOME=str(home),
            PYTHONUNBUFFERED="1",
            **extra,
        )
        return env


def _uv() -> str:
    found = REPO / ".tools" / "bin" / "uv"
    if found.is_file():
        return str(found)
    if which := shutil.which("uv"):
        return which
    pytest.fail("uv is needed to build and install the wheel: `make .tools/bin/uv` installs it into .tools")


def _ok(argv: list[str], timeout: float = 300, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    said = f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    assert done.returncode == 0, f"{' '.join(argv)} exited {done.returncode}:\n{said}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """hpo-flow's wheel, built from this checkout, in a venv of its own with the locked dependencies."""
    root = tmp_path_factory.mktemp("installed")
    uv = _uv()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    env.update(UV_LINK_MODE="hardlink", UV_COMPILE_BYTECODE="0")  # seconds from uv's cache; a copy takes minutes
    _ok([uv, "build", "--wheel", "--out-dir", str(root / "dist"), str(REPO)], env=env)
    (wheel,) = (root / "dist").glob("hpo_flow-*.whl")
    requirements = root / "requirements.txt"
    export = [uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "-o", str(requirements)]
    _ok(export, cwd=REPO, env=env)
    venv = root / "venv"
    _ok([uv, "venv", "--python", sys.executable, str(venv)], env=env)
    install = [uv, "pip", "install", "--python", str(venv / "bin" / "python"), "-r", str(requirements), str(wheel)]
    offline = subprocess.run([*install, "--offline"], capture_output=True, text=True, timeout=600, env=env)
    if offline.returncode != 0:  # something not in uv's cache: the index has it
        _ok(install, timeout=600, env=env)
    return Installed(wheel=wheel, venv=venv)


def _team_project(where: Path) -> Path:
    """A copy of examples/team-project, with an `adapters/` package and the clashing modules."""
    project = where / "team-project"
    ignore = shutil.ignore_patterns(".hpo", "mlflow.db", "summary.json", "model", "__pycache__")
    shutil.copytree(EXAMPLE, project, ignore=ignore)
    (project / "adapters").mkdir()
    (project / "adapters" / "__init__.py").write_text('"""The team\'s adapters to its own data sources."""\n')
    for name in _CLASHES:
        (project / name).write_text(_CLASH)
    return project


def _sweeps(project: Path) -> list[Any]:
    """The sweeps recorded in the project's MLflow store, newest first."""
    from hpo_flow.tasks.tracking.sweeps import known_sweeps

    return known_sweeps(f"sqlite:///{project / 'mlflow.db'}")


def _trial_runs(project: Path, parent_run_id: str) -> list[Any]:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    parent = client.get_run(parent_run_id)
    return client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}'")


def _assert_tuned(project: Path, sweeps: int) -> Any:
    """The newest of `sweeps` recorded sweeps COMPLETED, with every trial's run and a best trial."""
    found = _sweeps(project)
    assert len(found) == sweeps, [s.ref.name for s in found]
    newest = found[0]
    assert newest.status == "COMPLETED", newest
    assert newest.best_trial is not None, newest
    runs = _trial_runs(project, newest.parent_run_id)
    assert len(runs) == TRIALS and {r.info.status for r in runs} == {"FINISHED"}, [r.info for r in runs]
    return newest


def _processes_in(folder: Path) -> list[int]:
    """Processes whose working directory is `folder` or under it."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:  # gone, or not ours to read
                continue
            if cwd == str(folder) or cwd.startswith(f"{folder}/"):
                found.append(int(entry.name))
    return found


def _assert_nothing_left_in(folder: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (left := _processes_in(folder)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"processes still running in {folder}: {left}"


@pytest.mark.timeout(1800)
def test_the_wheel_runs_from_a_project_with_flows_tasks_and_adapters_of_its_own(
    installed: Installed, prefect_server: PrefectServer, tmp_path: Path
) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        top = {name.split("/")[0] for name in wheel.namelist()}
        record = next(n for n in wheel.namelist() if n.endswith(".dist-info/RECORD"))
        recorded = {line.split(",")[0].split("/")[0] for line in wheel.read(record).decode().splitlines() if line}
    dist_info = record.split("/")[0]
    assert top == recorded == {"hpo_flow", dist_info}, "the wheel installs only hpo-flow's own namespace"
    site = next((installed.venv / "lib").glob("python3*/site-packages"))
    assert not [n for n in ("flows", "tasks", "adapters") if (site / n).exists()]

    project = _team_project(tmp_path)
    env = installed.env(tmp_path / "prefect-home")
    validated = _ok([installed.bin("hpo-flow"), "validate", "config.yaml"], cwd=project, env=env)
    assert "config.yaml: OK" in validated.stdout, validated.stdout

    # A whole run, with the temporary Prefect server of its own that `hpo-flow run` starts.
    _ok([installed.bin("hpo-flow"), "run", "config.yaml"], timeout=_RUN_S, cwd=project, env=env)
    first = _assert_tuned(project, sweeps=1)
    _assert_nothing_left_in(project)

    # The team's flow, hpo_sweep its subflow, as a team runs it from the project's root.
    team_env = installed.env(prefect_server.home, PREFECT_API_URL=prefect_server.api_url)
    command = [installed.bin("python"), "-m", "flows.team_pipeline", "config.yaml"]
    _ok(command, timeout=_RUN_S, cwd=project, env=team_env)
    second = _assert_tuned(project, sweeps=2)  # the first was recorded: this is the next generation
    assert second.ref.name != first.ref.name
    summary = json.loads((project / "summary.json").read_text())
    assert summary["status"] == "COMPLETED" and summary["sweep"] == second.ref.name, summary
    assert summary["trials"] == TRIALS and summary["best_trial"] == second.best_trial, summary
    assert summary["model"] and summary["rows"] == 48, summary
    _assert_nothing_left_in(project)


async def _run_and_wait(deployment: str, timeout: float) -> Any:
    """Start a run of `deployment` and return it once it has ended (or the deadline passed)."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    run = await run_deployment(deployment, timeout=0)
    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while True:
            run = await client.read_flow_run(run.id)
            if (run.state and run.state.is_final()) or time.monotonic() > deadline:
                return run
            await asyncio.sleep(1)


@pytest.mark.timeout(1800)
def test_the_example_project_deploys_and_its_worker_runs_and_tunes(
    installed: Installed, prefect_server: PrefectServer, tmp_path: Path
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    project = _team_project(tmp_path)
    env = installed.env(prefect_server.home, PREFECT_API_URL=prefect_server.api_url)
    _ok([installed.bin("prefect"), "work-pool", "create", "team-local", "--type", "process"], cwd=project, env=env)
    _ok([installed.bin("prefect"), "--no-prompt", "deploy", "--all"], cwd=project, env=env)

    worker_log = tmp_path / "worker.log"
    with worker_log.open("wb") as log:
        worker = lifeline.start(
            [installed.bin("prefect"), "worker", "start", "--pool", "team-local", "--limit", "1"],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        with temporary_settings({PREFECT_API_URL: prefect_server.api_url}):
            run = asyncio.run(_run_and_wait("team-pipeline/nightly", timeout=_RUN_S))
        tail = worker_log.read_text(errors="replace")[-6000:]
        assert run.state is not None and run.state.is_completed(), f"{run.state}\nworker log:\n{tail}"
    finally:
        stop_session(worker)
    _assert_nothing_left_in(project)

    newest = _assert_tuned(project, sweeps=1)
    summary = json.loads((project / "summary.json").read_text())
    assert summary["sweep"] == newest.ref.name and summary["best_trial"] == newest.best_trial, summary
    import mlflow

    uri = f"sqlite:///{project / 'mlflow.db'}"
    version = mlflow.MlflowClient(uri, registry_uri=uri).get_model_version_by_alias("team-line-fit", "challenger")
    assert summary["model"] == f"team-line-fit/{version.version}", summary
    mlflow.set_tracking_uri(uri)
    try:
        line = mlflow.pyfunc.load_model("models:/team-line-fit@challenger")
    finally:
        mlflow.set_tracking_uri(None)
    slope, intercept = 2.5, -1.0  # what examples/team-project/data/points.csv was drawn from
    assert line.predict({"x": [0.0, 1.0]}) == pytest.approx([intercept, slope + intercept], abs=0.5)

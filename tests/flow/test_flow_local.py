"""The flow end to end on the local backend: real trial processes (tests/flow/trial_script.py),
a real MLflow server, Prefect's harness - the same contract the fake adapter passes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from hpo_flow.adapters.port import SweepRef, SweepStatus, TrialStatus
from hpo_flow.adapters.spec import apply_overrides
from tests.flow.flow_contract import FlowContract, wait_until_ended
from tests.helpers import config_dict, start_hpo_flow

pytestmark = pytest.mark.e2e

TRIAL_SCRIPT = Path(__file__).with_name("trial_script.py")


def local_config(tmp_path: Path) -> dict[str, Any]:
    """Four quick trials of tests/flow/trial_script.py on CPU slots, sweeps under tmp_path."""
    return config_dict(
        {
            "training.entry_point": TRIAL_SCRIPT.name,
            "training.source_dir": str(TRIAL_SCRIPT.parent),
            "training.hyperparameters.epochs": 3,
            "training.hyperparameters.step_seconds": 0.3,  # a sweep lasts seconds: a crash lands mid-way
            "tuning.max_jobs": 4,
            "tuning.max_parallel_jobs": 2,
            "tuning.poll_interval_seconds": 0.2,
            "tuning.trial_timeout_seconds": 60,
            "backends.local.gpus": None,  # CPU slots, whatever this machine has
            "backends.local.workdir": str(tmp_path / "sweeps"),
        }
    )


class TestFlowOnTheLocalBackend(FlowContract):
    @pytest.fixture
    def backend(self) -> str:
        return "local"

    @pytest.fixture
    def config_data(self, tmp_path: Path) -> dict[str, Any]:
        return local_config(tmp_path)


def _config_file(
    tmp_path: Path, mlflow_server: str, project: str | None = None, overrides: dict[str, Any] | None = None
) -> Path:
    data = apply_overrides(local_config(tmp_path), overrides or {})
    if project:  # an MLflow experiment of the test's own
        data["project"] = f"{project}-{time.time_ns() % 10**8}"
    data["training"]["hyperparameters"]["step_seconds"] = 1.0  # slow enough to be interrupted mid-trial
    data["mlflow"] = {"tracking_uri": mlflow_server}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("sig", "exit_code", "own_server"),
    [(signal.SIGINT, 130, True), (signal.SIGTERM, 128 + signal.SIGTERM, False)],
    ids=["ctrl-c", "kill"],
)
def test_interrupting_hpo_flow_run_stops_the_sweep(
    sig: signal.Signals, exit_code: int, own_server: bool, tmp_path: Path, mlflow_server: str, prefect_harness: None
) -> None:
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) or a `kill` of
    `hpo-flow run` stops the sweep it started: no trial keeps running, paid for by nobody.
    With Ctrl-C the CLI runs its own temporary Prefect server, as `make demo` does: it must
    outlive the Ctrl-C long enough for the flow to record its crash, and then be gone."""
    from prefect.settings import PREFECT_API_URL

    from hpo_flow.adapters.local import LocalAdapter
    from hpo_flow.processes.server import healthy

    config = _config_file(tmp_path, mlflow_server)
    proc, lines = _start_hpo_flow_run(config, None if own_server else str(PREFECT_API_URL.value()))
    try:
        ref = _wait_for_a_running_trial(LocalAdapter(), lines, proc)
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        assert proc.wait(60) == exit_code, "".join(lines)[-3000:]
        state = wait_until_ended(LocalAdapter(), ref)
        assert state.status == SweepStatus.STOPPED, "".join(lines)[-3000:]
        assert not [t for t in state.trials if t.status == TrialStatus.RUNNING]
        temporary = [m["url"] for line in lines if (m := _TEMPORARY_SERVER.search(line))]
        assert len(temporary) == (1 if own_server else 0)
        assert not any(healthy(url) for url in temporary), "the temporary Prefect server outlived hpo-flow run"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _start_hpo_flow_run(config: Path, prefect_api_url: str | None) -> tuple[Any, list[str]]:
    """`hpo-flow run CONFIG` in its own session, as a user starts it, and the lines it prints;
    without `prefect_api_url` it starts its own temporary Prefect server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(DO_NOT_TRACK="1", PREFECT_HOME=str(config.parent / "ph"))
    if prefect_api_url:
        env["PREFECT_API_URL"] = prefect_api_url
    proc = start_hpo_flow(
        ["run", str(config)],
        config.parent,
        env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True).start()
    return proc, lines


def _wait_for_a_running_trial(adapter: Any, lines: list[str], proc: Any, timeout: float = 180) -> SweepRef:
    """The sweep's handle from the flow's submit log line, once one of its trials runs."""
    deadline = time.monotonic() + timeout
    ref: SweepRef | None = None
    while time.monotonic() < deadline and proc.poll() is None:
        if ref is None:
            found = next((m for line in list(lines) if (m := _SUBMITTED.search(line))), None)
            if found:
                ref = SweepRef(backend=found["backend"], name=found["name"], workdir=found["workdir"])
        if ref is not None and any(t.status == TrialStatus.RUNNING for t in adapter.poll(ref).trials):
            return ref
        time.sleep(0.2)
    raise AssertionError("no trial started:\n" + "".join(lines)[-3000:])


def _exit_code(proc: Any, timeout: float) -> int | None:
    """The process's exit code, or None where it still runs after `timeout` (the assertion then shows its output)."""
    try:
        return int(proc.wait(timeout))
    except subprocess.TimeoutExpired:
        return None


def _stop_everything(proc: Any, lines: list[str], adapter: Any) -> None:
    """The test's `hpo-flow run`, if still alive, and every sweep it submitted."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    for left in (m for line in lines if (m := _SUBMITTED.search(line))):
        adapter.cancel(SweepRef(backend=left["backend"], name=left["name"], workdir=left["workdir"]))


_TEMPORARY_SERVER = re.compile(r"Starting a temporary Prefect server on (?P<url>http://\S+/api)")
_SUBMITTED = re.compile(
    r"sweep (?P<name>\S+) on (?P<backend>\w+) \(new, or re-attached if it existed\) (?P<workdir>/\S+)"
)


def test_hpo_flow_run_killed_with_sigkill_then_run_again_finishes_the_same_sweep(
    tmp_path: Path, mlflow_server: str, prefect_harness: None
) -> None:
    """Issue 9, check 2: `kill -9` leaves no hook to run; the detached runner goes on. Running the
    config again attaches to that sweep (it was never recorded): the same sweep, exactly max_jobs
    trials that count, one parent run in MLflow."""
    from hpo_flow.adapters.local import LocalAdapter

    killed_then_run_again(_config_file(tmp_path, mlflow_server, "killed"), mlflow_server, LocalAdapter())


def killed_then_run_again(config_path: Path, mlflow_server: str, adapter: Any) -> None:
    """`hpo-flow run` killed with SIGKILL while a trial runs, then the flow run again: the same sweep."""
    from prefect.settings import PREFECT_API_URL

    from hpo_flow.flows.hpo_sweep import hpo_sweep
    from tests.flow.flow_contract import _runs, first_generation

    proc, lines = _start_hpo_flow_run(config_path, str(PREFECT_API_URL.value()))
    try:
        ref = _wait_for_a_running_trial(adapter, lines, proc)
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
        assert not adapter.poll(ref).status.is_terminal, "the sweep should outlive the killed flow"

        outcome = hpo_sweep(config_path=str(config_path))
        assert outcome.sweep == ref.name and outcome.generation == 1
        assert "attaching to it" in (outcome.sweep_choice or "") or "first sweep" in (outcome.sweep_choice or "")
        state = adapter.poll(ref)
        config = first_generation(config_path)
        assert state.status == SweepStatus.COMPLETED
        assert len(state.trials) == config.tuning.max_jobs == outcome.trials
        runs = _runs(mlflow_server, config.experiment_name)
        parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        assert len(parents) == 1 and parents[0].data.tags["hpo.sweep_name"] == ref.name
        assert len(runs) == 1 + config.tuning.max_jobs
    finally:
        _stop_everything(proc, lines, adapter)


@pytest.mark.timeout(900)
def test_the_runner_killed_while_hpo_flow_run_lives_is_resumed_in_the_same_run(
    tmp_path: Path, mlflow_server: str, prefect_harness: None
) -> None:
    """Issue 21: the OOM killer's usual victim, the runner, killed with SIGKILL mid-sweep while the
    flow drives it: the flow resumes the same sweep (not a new generation), which ends with exactly
    max_jobs trials that count, one parent run and one child run per trial in MLflow."""
    from prefect.settings import PREFECT_API_URL

    from hpo_flow.adapters.local import LocalAdapter
    from hpo_flow.adapters.local.state import SweepPaths, read_runner_pid
    from tests.flow.flow_contract import _runs, first_generation

    config_path = _config_file(tmp_path, mlflow_server, "oom")
    proc, lines = _start_hpo_flow_run(config_path, str(PREFECT_API_URL.value()))
    adapter = LocalAdapter()
    try:
        ref = _wait_for_a_running_trial(adapter, lines, proc)
        runner = read_runner_pid(SweepPaths(Path(ref.workdir or "")))
        assert runner is not None
        os.kill(runner, signal.SIGKILL)
        # Generous: on a loaded 2-core CI machine the resumed runner's start-up alone took minutes.
        assert _exit_code(proc, 600) == 0, "".join(lines)[-3000:]
        output = "".join(lines)
        assert "was interrupted" in output and "resuming it" in output, output[-3000:]
        state = adapter.poll(ref)
        config = first_generation(config_path)
        assert state.status == SweepStatus.COMPLETED
        counted = [t for t in state.trials if not (t.failure_reason or "").startswith("runner died")]
        assert len(counted) == config.tuning.max_jobs, [(t.id, t.status, t.failure_reason) for t in state.trials]
        runs = _runs(mlflow_server, config.experiment_name)
        parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        assert len(parents) == 1 and parents[0].data.tags["hpo.sweep_name"] == ref.name
        assert len(runs) == 1 + len(state.trials)
        assert [r.info.run_id for r in runs if r.info.status == "RUNNING"] == []
    finally:
        _stop_everything(proc, lines, adapter)


def test_the_nightly_deployment_run_twice_tunes_twice(
    tmp_path: Path, mlflow_server: str, prefect_harness: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 9, check 5: the flow run the nightly schedule starts, with the deployment's own
    parameters (deployments/prefect.yaml), twice in a row: two sweeps, the second warm-started."""
    from hpo_flow.flows.hpo_sweep import hpo_sweep
    from tests.flow.flow_contract import _runs, first_generation

    deployments = yaml.safe_load((Path(__file__).parents[2] / "deployments" / "prefect.yaml").read_text())
    nightly = next(d for d in deployments["deployments"] if d["name"] == "nightly")
    assert nightly["schedules"], "the nightly deployment runs on a schedule"
    _config_file(tmp_path, mlflow_server, "nightly")  # config.yaml in the run's working directory, as on the worker
    monkeypatch.chdir(tmp_path)

    first = hpo_sweep(**nightly["parameters"])
    second = hpo_sweep(**nightly["parameters"])
    assert (first.generation, second.generation) == (1, 2)
    assert second.sweep == f"{first.sweep}-g2" and second.status == "COMPLETED"
    config = first_generation(tmp_path / nightly["parameters"]["config_path"])
    parents = [r for r in _runs(mlflow_server, config.experiment_name) if "mlflow.parentRunId" not in r.data.tags]
    assert sorted(p.data.tags["hpo.sweep_name"] for p in parents) == sorted([first.sweep, second.sweep])

"""Scale-out: a `hpo-flow worker` and the runner `submit` starts share one sweep through PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from hpo_flow.adapters.lifecycle import identify
from hpo_flow.adapters.local import LocalAdapter
from hpo_flow.adapters.local.state import RESULT_ATTR, RETRY_ATTR, RUN_ATTR, SweepPaths
from hpo_flow.adapters.local.storage import open_storage, storage_target
from hpo_flow.adapters.port import SweepRef, SweepStatus, TrialStatus
from hpo_flow.adapters.spec import HpoConfig
from tests.helpers import write_config
from tests.local.sweep_helpers import finish, local_config, local_config_dict, wait_for, write_trial_script

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

PG = "postgresql://postgres@127.0.0.1:5432"


def shared_sweep(tmp_path: Path, database: str, *, max_jobs: int, steps: int) -> tuple[Path, HpoConfig]:
    """A sweep in `database`, one trial per worker, whose trials wait at `tmp_path/gate` until it exists.

    The training code has a directory of its own: the workers' logs beside it are no part of the
    sweep's identity, which `hpo-flow worker` computes as `hpo-flow run` does."""
    code = tmp_path / "code"
    code.mkdir()
    write_trial_script(code)
    overrides = {
        "tuning.max_jobs": max_jobs,
        "tuning.max_parallel_jobs": 1,
        "backends.local.storage": database,
        "training.hyperparameters": {"steps": steps, "sleep": 0.1, "gate": str(tmp_path / "gate")},
    }
    path = write_config(tmp_path / "config.yaml", local_config_dict(code, overrides))
    return path, identify(local_config(code, overrides), path)


def test_a_worker_and_the_runner_share_one_sweep_without_repeating_a_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str
) -> None:
    monkeypatch.chdir(tmp_path)
    config, spec = shared_sweep(tmp_path, database, max_jobs=6, steps=3)
    adapter = LocalAdapter()
    ref = SweepRef(backend="local", name=spec.sweep_name(), workdir=str(SweepPaths.for_spec(spec).root))
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "hpo_flow.cli", "worker", str(config)], cwd=tmp_path, stdout=log, stderr=log
        )
    try:
        # Trials wait at the gate until the worker and the runner hold one each, so both surely take part.
        assert adapter.submit(spec) == ref
        wait_for(adapter, ref, lambda s: sum(t.status == TrialStatus.RUNNING for t in s.trials) == 2, timeout=90)
        (tmp_path / "gate").touch()
        state = finish(adapter, ref)
        assert worker.wait(timeout=60) == 0, (tmp_path / "worker.log").read_text()[-2000:]
    finally:
        if worker.poll() is None:
            worker.kill()
        adapter.cancel(ref)
    assert state.status == SweepStatus.COMPLETED, state.message
    assert [t.status for t in state.trials] == [TrialStatus.COMPLETED] * 6  # max_jobs, never more
    configurations = [tuple(sorted(t.params.items())) for t in state.trials]
    assert len(set(configurations)) == 6
    storage = open_storage(storage_target(spec, Path(ref.workdir)))  # type: ignore[arg-type]
    study = optuna.load_study(study_name=spec.sweep_name(), storage=storage)
    workers = {t.user_attrs[RUN_ATTR]["worker"] for t in study.trials}
    assert len(workers) == 2  # both took part


def _study_trials(spec: HpoConfig, tmp_path: Path) -> list[optuna.trial.FrozenTrial]:
    storage = open_storage(storage_target(spec, tmp_path))
    try:
        return optuna.load_study(study_name=spec.sweep_name(), storage=storage).get_trials(deepcopy=False)
    except KeyError:  # not created yet
        return []


def test_a_worker_killed_on_another_host_has_its_trial_retried_and_the_survivor_finishes_the_sweep(
    tmp_path: Path, database: str
) -> None:
    """The scale-out bug of issue 12: the survivor crashed in Optuna's stale-trial callback
    (UpdateFinishedTrialError) and the killed trial was never run again. `unshare -u` gives the
    victim its own host name, so only its stopped heartbeats can tell the survivor it is dead."""
    import os
    import shutil
    import signal
    import time

    if shutil.which("unshare") is None or subprocess.run(["unshare", "-u", "true"]).returncode != 0:
        pytest.skip("cannot make a UTS namespace here (unshare -u)")
    config, spec = shared_sweep(tmp_path, database, max_jobs=4, steps=2)
    env = dict(os.environ, HPO_FLOW_HEARTBEAT_GRACE_S="12")
    cli = [sys.executable, "-m", "hpo_flow.cli", "worker", str(config)]
    with open(tmp_path / "survivor.log", "wb") as log:
        survivor = subprocess.Popen(cli, cwd=tmp_path, stdout=log, stderr=log, env=env)
    with open(tmp_path / "victim.log", "wb") as log:
        victim = subprocess.Popen(
            ["unshare", "-u", "sh", "-c", 'hostname other-host && exec "$@"', "sh", *cli],
            cwd=tmp_path,
            stdout=log,
            stderr=log,
            env=env,
        )
    try:
        end = time.monotonic() + 90
        while True:
            hosts = {
                (t.user_attrs.get(RUN_ATTR) or {}).get("host")
                for t in _study_trials(spec, tmp_path)
                if t.state == optuna.trial.TrialState.RUNNING
            }
            if "other-host" in hosts and len(hosts) == 2:
                break
            assert time.monotonic() < end, (tmp_path / "victim.log").read_text()[-2000:]
            assert survivor.poll() is None and victim.poll() is None
            time.sleep(0.1)
        os.kill(victim.pid, signal.SIGKILL)  # mid-trial, on "another host"
        victim.wait(timeout=10)
        (tmp_path / "gate").touch()
        code = survivor.wait(timeout=120)
    finally:
        for proc in (survivor, victim):
            if proc.poll() is None:
                proc.kill()
    survivor_log = (tmp_path / "survivor.log").read_text()
    assert "Traceback" not in survivor_log, survivor_log[-3000:]
    assert code == 0, survivor_log[-3000:]
    trials = _study_trials(spec, tmp_path)
    completed = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    killed = [t for t in trials if (t.user_attrs.get(RUN_ATTR) or {}).get("host") == "other-host"]
    assert len(completed) == 4  # the whole budget, the killed trial's unit included
    assert [t.state for t in killed] == [optuna.trial.TrialState.FAIL]
    reason = killed[0].user_attrs[RESULT_ATTR]["reason"]
    assert "stopped sending heartbeats" in reason and "retried" in reason
    retries = [t for t in trials if t.user_attrs.get(RETRY_ATTR) == killed[0].number]
    assert len(retries) == 1 and retries[0].state == optuna.trial.TrialState.COMPLETE
    assert retries[0].params == killed[0].params

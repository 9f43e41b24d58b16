"""`backends.ray.address: null`: a Ray instance of the sweep's own on this machine, started by its
runner and gone with it, whether the sweep ends or the runner is killed."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from hpo_flow.adapters.local.process import process_alive, processes_with_env
from hpo_flow.adapters.local.state import SweepPaths, read_runner_pid
from hpo_flow.adapters.port import SweepStatus, TrialStatus
from hpo_flow.adapters.ray.adapter import RayAdapter
from hpo_flow.report import MODEL_DIR_VAR
from tests.local.sweep_helpers import finish, wait_for
from tests.ray.sweeps import ray_config, run_to_end

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _children(pid: int) -> set[int]:
    """Every process whose parent is `pid` (Ray's GCS, raylet, dashboard, ... for a driver that started them)."""
    found = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2 :].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _ray_processes_of(root: Path, adapter: RayAdapter, timeout: float = 120) -> tuple[int, set[int]]:
    """The runner's pid and the Ray processes it started, once the sweep's first trial runs."""
    runner = read_runner_pid(SweepPaths(root))
    assert runner is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        started = {p for p in _children(runner) if b"ray" in Path(f"/proc/{p}/cmdline").read_bytes()}
        if started:
            return runner, started
        time.sleep(0.2)
    raise AssertionError("the runner started no Ray process")


def _gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while (alive := {p for p in pids if process_alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive


def test_a_sweep_on_its_own_ray_instance_completes_and_takes_the_instance_with_it(project: Path) -> None:
    spec = ray_config(project, None, {"tuning.max_jobs": 4, "tuning.max_parallel_jobs": 2})
    adapter = RayAdapter()
    ref = adapter.submit(spec)
    try:
        runner, started = _ray_processes_of(Path(ref.workdir or ""), adapter)
        state = finish(adapter, ref, timeout=180)
    finally:
        adapter.cancel(ref)
    assert state.status == SweepStatus.COMPLETED, state.message
    assert [t.status for t in state.trials] == [TrialStatus.COMPLETED] * 4
    assert ref.url and ref.url.startswith("http://127.0.0.1:")  # this instance's own dashboard
    assert not _gone({runner, *started}, timeout=30)


def test_the_runner_killed_with_sigkill_takes_its_ray_instance_and_trials_with_it(project: Path) -> None:
    spec = ray_config(project, None, {"tuning.max_jobs": 2, "training.hyperparameters": {"seconds": 60.0}})
    adapter = RayAdapter()
    ref = adapter.submit(spec)
    try:
        runner, started = _ray_processes_of(Path(ref.workdir or ""), adapter)
        wait_for(adapter, ref, lambda s: any(t.status == TrialStatus.RUNNING for t in s.trials), timeout=120)
        trials = set(processes_with_env(MODEL_DIR_VAR, [str(ref.workdir)]))
        assert trials
        os.kill(runner, signal.SIGKILL)
        assert not _gone(started | trials, timeout=30), "Ray's processes or a trial outlived the runner"
    finally:
        adapter.cancel(ref)
    assert adapter.poll(ref).status == SweepStatus.STOPPED


def test_a_trial_that_no_node_can_hold_fails_the_sweep_saying_what_it_asks_for(project: Path) -> None:
    spec = ray_config(project, None, {"backends.ray.resources": {"TPU": 1}})
    *_, state = run_to_end(spec, timeout=120)
    assert state.status == SweepStatus.FAILED and not state.interrupted and not state.trials
    assert "no node of this machine's Ray instance can hold one trial" in (state.message or "")
    assert "'TPU': 1.0" in (state.message or "") and "backends.ray" in (state.message or "")


def test_a_runtime_env_ray_cannot_build_fails_the_sweep_with_its_cause(project: Path) -> None:
    """Every slot would fail the same way: the sweep ends FAILED at once, not retried, saying why."""
    spec = ray_config(project, None, {"backends.ray.runtime_env": {"conda": "hpo-flow-no-such-env"}})
    *_, state = run_to_end(spec, timeout=120)
    assert state.status == SweepStatus.FAILED and not state.interrupted and not state.trials
    assert "Ray could not set up backends.ray.runtime_env on a node" in (state.message or "")
    assert "conda" in (state.message or "").lower()  # the cause from the node, not Ray's first line

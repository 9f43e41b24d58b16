"""Issue 23's checks on a real Ray cluster of two nodes (tests/ray/cluster.py): placement across
both nodes within the resources, a node killed mid-trial, a cancel, and a killed runner."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from hpo_flow.adapters.local.process import process_alive, processes_with_env
from hpo_flow.adapters.local.state import RETRY_ATTR, SweepPaths, read_runner_pid
from hpo_flow.adapters.port import SweepStatus, TrialStatus
from hpo_flow.adapters.ray.adapter import RayAdapter
from hpo_flow.report import MODEL_DIR_VAR
from tests.local.sweep_helpers import finish, wait_for
from tests.ray.cluster import LocalRayCluster
from tests.ray.sweeps import most_at_once, ray_config, run_records, run_to_end, trial_seen

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


def _live_slots(cluster: LocalRayCluster) -> list[dict]:
    return cluster.state("actors", state="ALIVE", class_name="TrialSlot")


def _trial_processes(root: Path) -> list[int]:
    return processes_with_env(MODEL_DIR_VAR, [str(root)])


def test_twelve_trials_run_on_both_nodes_never_more_at_once_than_the_gpus_hold(
    project: Path, ray_cluster: LocalRayCluster
) -> None:
    """Check 1: 0.5 GPU per trial on two nodes of one GPU each is 4 trials at once, 2 per node, even
    with 8 allowed by max_parallel_jobs; all 12 are recorded, each with its model back in the sweep's folder."""
    spec = ray_config(project, ray_cluster, {"tuning.max_jobs": 12, "tuning.max_parallel_jobs": 8})
    adapter, ref, state = run_to_end(spec, timeout=240)
    assert state.status == SweepStatus.COMPLETED, state.message
    assert [t.status for t in state.trials] == [TrialStatus.COMPLETED] * 12
    assert ref.url == ray_cluster.dashboard  # where to look, printed with the sweep
    records = run_records(adapter, ref, spec)
    nodes = {n["node_id"] for n in ray_cluster.nodes()}
    assert {r["run"]["node_id"] for r in records.values()} == nodes
    seen = {n: trial_seen(ref, n) for n in records}
    assert {s["cuda"] for s in seen.values()} == {"0"}  # the GPU Ray gave the slot, on each node
    assert most_at_once([(s["start"], s["end"]) for s in seen.values()]) in (3, 4)
    for node in nodes:
        on_node = [(seen[n]["start"], seen[n]["end"]) for n, r in records.items() if r["run"]["node_id"] == node]
        assert most_at_once(on_node) <= 2
    assert not _live_slots(ray_cluster)


def test_a_node_killed_mid_trial_costs_a_retry_of_its_trials_and_no_finished_one(
    project: Path, ray_cluster: LocalRayCluster
) -> None:
    """Check 2: SIGKILL to the worker node (its raylet, its workers, its trials) while its trials run."""
    spec = ray_config(project, ray_cluster, {"tuning.max_jobs": 12, "training.hyperparameters": {"seconds": 3.0}})
    worker = next(n["node_id"] for n in ray_cluster.nodes() if not n.get("is_head_node"))
    adapter = RayAdapter()
    ref = adapter.submit(spec)
    try:

        def running_on_worker(_state: object) -> bool:
            return any(
                r["state"] == "RUNNING" and r["run"].get("node_id") == worker
                for r in run_records(adapter, ref, spec).values()
            )

        wait_for(adapter, ref, running_on_worker, timeout=120)
        before = run_records(adapter, ref, spec)
        finished_before = {n for n, r in before.items() if r["state"] == "COMPLETE"}
        on_worker = {n for n, r in before.items() if r["state"] == "RUNNING" and r["run"].get("node_id") == worker}
        ray_cluster.workers[-1].kill()
        state = finish(adapter, ref, timeout=240)
    finally:
        adapter.cancel(ref)
        ray_cluster.add_worker()
    assert state.status == SweepStatus.COMPLETED, state.message
    records = run_records(adapter, ref, spec)
    trials = {int(t.id.split("-")[1]): t for t in state.trials}
    lost = {n for n, t in trials.items() if t.status == TrialStatus.FAILED}
    assert on_worker <= lost and lost, [trials[n].failure_reason for n in lost]
    for number in lost:
        assert "Ray node" in (trials[number].failure_reason or "") and "died" in (trials[number].failure_reason or "")
        assert "retried" in (trials[number].failure_reason or "")
        retries = [n for n, r in records.items() if r["attrs"].get(RETRY_ATTR) == number]
        assert len(retries) == 1 and trials[retries[0]].status == TrialStatus.COMPLETED
        assert records[retries[0]]["params"] == records[number]["params"]
    assert all(trials[n].status == TrialStatus.COMPLETED for n in finished_before)
    assert sum(t.status == TrialStatus.COMPLETED for t in trials.values()) == 12
    assert len(trials) == 12 + len(lost)


def test_a_cancel_leaves_no_ray_actor_and_no_trial_process_within_ten_seconds(
    project: Path, ray_cluster: LocalRayCluster
) -> None:
    """Check 3, cancel: trials that would run a minute are stopped where they run."""
    spec = ray_config(project, ray_cluster, {"tuning.max_jobs": 8, "training.hyperparameters": {"seconds": 60.0}})
    adapter = RayAdapter()
    ref = adapter.submit(spec)
    root = Path(ref.workdir or "")
    try:
        wait_for(adapter, ref, lambda s: sum(t.status == TrialStatus.RUNNING for t in s.trials) >= 4, timeout=120)
        assert len(_trial_processes(root)) >= 4
        started = time.monotonic()
        adapter.cancel(ref)
        while (_live_slots(ray_cluster) or _trial_processes(root)) and time.monotonic() - started < 15:
            time.sleep(0.1)
        took = time.monotonic() - started
    finally:
        adapter.cancel(ref)
    assert not _live_slots(ray_cluster) and not _trial_processes(root)
    assert took <= 10, f"{took:.1f} s"
    print(f"cancel: no Ray actor or trial process left after {took:.1f} s")  # shown with pytest -s
    state = adapter.poll(ref)
    assert state.status == SweepStatus.STOPPED
    assert not [t for t in state.trials if t.status == TrialStatus.RUNNING]


def test_a_runner_killed_with_sigkill_takes_its_ray_trials_with_it_and_the_next_submit_resumes(
    project: Path, ray_cluster: LocalRayCluster
) -> None:
    """Check 3, kill -9: Ray ends the actors of a driver that died, and with them the trials; submitting
    the same config again attaches to the sweep, retries what was cut, and pays for nothing twice."""
    spec = ray_config(project, ray_cluster, {"tuning.max_jobs": 6, "training.hyperparameters": {"seconds": 20.0}})
    adapter = RayAdapter()
    ref = adapter.submit(spec)
    root = Path(ref.workdir or "")
    try:
        wait_for(adapter, ref, lambda s: sum(t.status == TrialStatus.RUNNING for t in s.trials) >= 2, timeout=120)
        runner = read_runner_pid(SweepPaths(root))
        assert runner is not None
        os.kill(runner, signal.SIGKILL)
        started = time.monotonic()
        while (_live_slots(ray_cluster) or _trial_processes(root)) and time.monotonic() - started < 30:
            time.sleep(0.2)
        assert not _live_slots(ray_cluster) and not _trial_processes(root)
        assert not process_alive(runner)
        again = adapter.submit(spec)
        assert again.name == ref.name and again.workdir == ref.workdir
        state = finish(adapter, again, timeout=240)
    finally:
        adapter.cancel(ref)
    assert state.status == SweepStatus.COMPLETED, state.message
    completed = [t for t in state.trials if t.status == TrialStatus.COMPLETED]
    cut = [t for t in state.trials if t.status == TrialStatus.FAILED]
    assert len(completed) == 6 and cut and all("runner died" in (t.failure_reason or "") for t in cut)


def test_a_local_config_run_with_backend_ray_places_its_trials_on_ray(
    project: Path, ray_cluster: LocalRayCluster
) -> None:
    """`--backend ray` on a config that says `tuning.backend: local`: the adapter that submits the
    sweep decides where its runner places the trials, not the key the flag overrides."""
    spec = ray_config(project, ray_cluster, {"tuning.backend": "local", "tuning.max_jobs": 2})
    adapter, ref, state = run_to_end(spec, timeout=120)
    assert state.status == SweepStatus.COMPLETED, state.message
    nodes = {n["node_id"] for n in ray_cluster.nodes()}
    assert all(r["run"].get("node_id") in nodes for r in run_records(adapter, ref, spec).values())

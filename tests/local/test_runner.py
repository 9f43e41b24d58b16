"""The local runner with real trial processes: budgets, failures, pruning, seeds, deadlines, cancel, kill -9."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from hpo_flow.adapters.local import LocalAdapter
from hpo_flow.adapters.local.state import END_ATTR, START_ATTR, SweepPaths, read_runner_pid
from hpo_flow.adapters.local.storage import open_storage, storage_target
from hpo_flow.adapters.port import SweepRef, SweepStatus, TrialStatus, best_trial
from tests.local.sweep_helpers import alive, finish, local_config, recorded_pids, wait_for, write_trial_script

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write_trial_script(tmp_path)
    return tmp_path


@pytest.fixture
def adapter() -> Iterator[LocalAdapter]:
    made = LocalAdapter()
    refs: list[SweepRef] = []
    original = made.submit

    def submit(spec):  # every sweep a test starts is cancelled at the end, whatever happened
        ref = original(spec)
        refs.append(ref)
        return ref

    made.submit = submit  # type: ignore[method-assign]
    yield made
    for ref in refs:
        made.cancel(ref)


def test_a_sweep_runs_max_jobs_trials_with_metrics_curves_logs_and_models(workdir: Path, adapter: LocalAdapter) -> None:
    spec = local_config(workdir, {"tuning.max_jobs": 5})
    state = finish(adapter, adapter.submit(spec))
    assert state.status == SweepStatus.COMPLETED, state.message
    assert [t.status for t in state.trials] == [TrialStatus.COMPLETED] * 5
    for t in state.trials:
        assert set(t.params) == {"x", "k"} and isinstance(t.params["k"], int)
        assert [s for s, _ in t.curves["accuracy"]] == [1, 2, 3]
        assert t.objective == t.curves["accuracy"][-1][1] == t.metrics["accuracy"]
        assert "loss" in t.metrics and len(t.curves["loss"]) == 3
        assert t.model_uri and (Path(t.model_uri) / "model.txt").is_file()
        assert t.log_path and "accuracy:" in Path(t.log_path).read_text()
        assert t.started_at and t.ended_at and t.started_at <= t.ended_at
    best = best_trial(state.trials, spec.objective)
    assert best is not None and best.objective == max(t.objective for t in state.trials)  # type: ignore[type-var]
    assert adapter.plan(spec)["first_trial"]["params"] == state.trials[0].params  # plan shows the real first trial
    again = adapter.submit(spec)  # a finished sweep is not started again
    assert adapter.poll(again).trials == state.trials


def test_each_failure_is_recorded_with_its_reason_and_the_grid_ends_the_sweep(
    workdir: Path, adapter: LocalAdapter
) -> None:
    spec = local_config(
        workdir,
        {
            "tuning.strategy": "Grid",
            "tuning.max_jobs": 10,  # more than the grid: the sweep must end when the grid is done
            "tuning.hyperparameter_ranges": {
                "mode": {"type": "categorical", "values": ["ok", "fail", "segv", "silent"]}
            },
            "training.hyperparameters": {"steps": 2},
        },
    )
    state = finish(adapter, adapter.submit(spec))
    assert state.status == SweepStatus.COMPLETED, state.message
    by_mode = {t.params["mode"]: t for t in state.trials}
    assert len(state.trials) == 4 and set(by_mode) == {"ok", "fail", "segv", "silent"}
    assert by_mode["ok"].status == TrialStatus.COMPLETED
    assert by_mode["fail"].status == TrialStatus.FAILED
    assert by_mode["fail"].failure_reason == "exit code 3: ValueError: boom"
    assert by_mode["fail"].curves["accuracy"] == [(1, 0.1)]  # what it printed before failing is kept
    assert by_mode["segv"].failure_reason.startswith("killed by SIGSEGV")  # type: ignore[union-attr]
    assert "without printing the objective metric 'accuracy'" in by_mode["silent"].failure_reason  # type: ignore[operator]


def test_a_hanging_trial_is_killed_at_its_timeout_and_the_sweep_goes_on(workdir: Path, adapter: LocalAdapter) -> None:
    spec = local_config(
        workdir,
        {
            "tuning.max_jobs": 2,
            "tuning.trial_timeout_seconds": 1,
            "training.hyperparameters": {"steps": 0, "mode": "stubborn", "pids": str(workdir / "pids")},
            "backends.local.kill_grace_seconds": 0.5,
        },
    )
    state = finish(adapter, adapter.submit(spec))
    assert state.status == SweepStatus.FAILED  # no trial produced an objective
    assert "no trial reported the objective metric" in (state.message or "")
    assert [t.failure_reason for t in state.trials] == ["timeout after 1s"] * 2
    assert not any(alive(pid) for pid in recorded_pids(workdir / "pids"))  # SIGTERM ignored, SIGKILL landed


def test_max_failed_trials_stops_the_sweep(workdir: Path, adapter: LocalAdapter) -> None:
    spec = local_config(
        workdir,
        {"tuning.max_jobs": 20, "tuning.max_failed_trials": 3, "training.hyperparameters": {"mode": "fail"}},
    )
    state = finish(adapter, adapter.submit(spec))
    assert state.status == SweepStatus.FAILED
    assert "tuning.max_failed_trials is 3" in (state.message or "")
    failed = [t for t in state.trials if t.status == TrialStatus.FAILED]
    assert 3 <= len(failed) <= 4 and len(state.trials) < 20  # the second slot's trial may have been under way


def test_early_stopping_stops_a_poor_trial_while_it_runs(workdir: Path, adapter: LocalAdapter) -> None:
    spec = local_config(
        workdir,
        {
            "tuning.max_jobs": 2,
            "tuning.max_parallel_jobs": 1,
            # truncation judges against one finished trial (median waits for five)
            "tuning.early_stopping": {"policy": "truncation", "truncation_percentage": 50, "delay_evaluation": 2},
            "training.hyperparameters": {"steps": 30, "sleep": 0.05, "mode": "order"},
        },
    )
    state = finish(adapter, adapter.submit(spec))
    first, second = state.trials
    assert first.status == TrialStatus.COMPLETED and len(first.curves["accuracy"]) == 30
    assert second.status == TrialStatus.PRUNED
    assert len(second.curves["accuracy"]) < 30  # stopped while it ran, not judged afterwards
    assert second.objective == second.curves["accuracy"][-1][1]


def test_the_same_seed_runs_the_same_trials(workdir: Path, adapter: LocalAdapter) -> None:
    common = {"tuning.strategy": "Bayesian", "tuning.max_jobs": 4, "tuning.max_parallel_jobs": 1}
    one = adapter.submit(local_config(workdir, {**common, "tuning.sweep_name": "seed-a"}))
    two = adapter.submit(local_config(workdir, {**common, "tuning.sweep_name": "seed-b"}))
    first, second = (finish(adapter, ref) for ref in (one, two))
    assert len(first.trials) == 4
    assert [t.params for t in first.trials] == [t.params for t in second.trials]
    assert [t.objective for t in first.trials] == [t.objective for t in second.trials]


def test_max_runtime_seconds_is_spent_to_its_end_and_never_exceeded(workdir: Path, adapter: LocalAdapter) -> None:
    """Slots keep starting trials until the deadline's margin; whatever runs then is stopped, and the
    sweep's end is recorded by the deadline. (How close to it: bench/time_budget.py.)"""
    budget = 5
    spec = local_config(
        workdir,
        {
            "tuning.max_jobs": 100,
            "tuning.max_runtime_seconds": budget,
            "training.hyperparameters": {"steps": 8, "sleep": 0.1},
        },
    )
    ref = adapter.submit(spec)
    state = finish(adapter, ref)
    assert state.status == SweepStatus.COMPLETED, state.message
    storage = open_storage(storage_target(spec, Path(ref.workdir)))  # type: ignore[arg-type]
    attrs = optuna.load_study(study_name=ref.name, storage=storage).user_attrs
    start, end = attrs[START_ATTR], attrs[END_ATTR]["at"]
    assert 2 <= len(state.trials) < 100
    slack = 1.0  # the loop notices an exit within a few ms; a loaded machine may take longer
    assert end <= start + budget + slack
    for t in state.trials:
        assert t.started_at is not None and t.ended_at is not None
        assert start <= t.started_at.timestamp()
        assert t.ended_at.timestamp() <= end
    assert any(t.status == TrialStatus.COMPLETED for t in state.trials)
    # The slots were busy at the deadline: the trials running then were stopped by it.
    cut = [t for t in state.trials if t.status == TrialStatus.STOPPED]
    assert cut and all("deadline" in (t.failure_reason or "") for t in cut), [t.failure_reason for t in cut]


def test_cancel_leaves_no_process_behind(workdir: Path, adapter: LocalAdapter) -> None:
    pids = workdir / "pids"
    spec = local_config(
        workdir,
        {
            "tuning.max_jobs": 4,
            # trials that ignore SIGTERM and start a child; kill_grace_seconds is capped on cancel
            "training.hyperparameters": {"steps": 0, "mode": "child", "pids": str(pids)},
            "backends.local.kill_grace_seconds": 30,
        },
    )
    ref = adapter.submit(spec)
    wait_for(adapter, ref, lambda s: sum(t.status == TrialStatus.RUNNING for t in s.trials) == 2)
    wait_for(adapter, ref, lambda s: len(list(pids.glob("*.child"))) == 2)
    runner = read_runner_pid(SweepPaths(Path(ref.workdir)))  # type: ignore[arg-type]
    adapter.cancel(ref)
    assert runner is not None and not alive(runner)
    assert recorded_pids(pids) and not any(alive(pid) for pid in recorded_pids(pids))
    state = adapter.poll(ref)
    assert state.status == SweepStatus.STOPPED
    assert [t.status for t in state.trials] == [TrialStatus.STOPPED] * 2
    adapter.cancel(ref)  # twice is fine
    assert adapter.submit(spec) == ref and adapter.poll(ref).status == SweepStatus.STOPPED  # stays stopped


def test_kill_9_of_the_runner_then_submit_resumes_the_sweep(workdir: Path, adapter: LocalAdapter) -> None:
    pids = workdir / "pids"
    spec = local_config(
        workdir,
        {
            "tuning.max_jobs": 5,
            "training.hyperparameters": {"steps": 10, "sleep": 0.15, "mode": "child", "pids": str(pids)},
        },
    )
    ref = adapter.submit(spec)
    before = wait_for(
        adapter,
        ref,
        lambda s: (
            sum(t.status == TrialStatus.COMPLETED for t in s.trials) >= 2
            and sum(t.status == TrialStatus.RUNNING and (pids / f"{t.id}.child").exists() for t in s.trials) == 2
        ),
    )
    runner = read_runner_pid(SweepPaths(Path(ref.workdir)))  # type: ignore[arg-type]
    assert runner is not None
    os.kill(runner, signal.SIGKILL)
    died = wait_for(adapter, ref, lambda s: s.status == SweepStatus.FAILED, timeout=10)
    assert "submitting the same config again resumes it" in (died.message or "") and died.interrupted
    interrupted = {t.id for t in died.trials if t.status == TrialStatus.RUNNING}
    assert len(interrupted) == 2
    trial_pids = [int((pids / f"{tid}.pid").read_text()) for tid in interrupted]
    deadline = time.monotonic() + 5
    while any(alive(p) for p in trial_pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in trial_pids)  # PR_SET_PDEATHSIG: trials die with their runner

    assert adapter.submit(spec) == ref
    after = finish(adapter, ref)
    assert after.status == SweepStatus.COMPLETED, after.message
    done_before = {t.id: t for t in before.trials if t.status == TrialStatus.COMPLETED}
    by_id = {t.id: t for t in after.trials}
    for tid, t in done_before.items():
        assert by_id[tid] == t  # finished trials are kept as they were
    for tid in interrupted:
        assert by_id[tid].status == TrialStatus.FAILED
        assert by_id[tid].failure_reason.startswith("runner died")  # type: ignore[union-attr]
        retries = [t for t in after.trials if t.params == by_id[tid].params and t.id != tid]
        assert [t.status for t in retries] == [TrialStatus.COMPLETED]
    assert sum(t.status == TrialStatus.COMPLETED for t in after.trials) == 5
    assert not any(alive(pid) for pid in recorded_pids(pids))  # the old runner's grandchildren too


def test_a_runner_the_kernel_is_still_starting_is_not_taken_for_dead(
    workdir: Path, adapter: LocalAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Right after Popen returns, a loaded kernel may not have set the runner's argv yet: its
    # /proc/PID/cmdline is empty. The first poll used to call such a sweep FAILED.
    monkeypatch.setattr("hpo_flow.adapters.local.process.process_cmdline", lambda pid: [])
    spec = local_config(workdir, {"tuning.max_jobs": 1})
    ref = adapter.submit(spec)
    first = adapter.poll(ref)
    assert first.status != SweepStatus.FAILED, first.message
    assert finish(adapter, ref).status == SweepStatus.COMPLETED

"""Limits judged from study trials, and how a study trial reads as a neutral Trial."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from hpo_flow.adapters.local import limits
from hpo_flow.adapters.local.state import RESULT_ATTR, RUN_ATTR, to_trial
from hpo_flow.adapters.port import SweepStatus, TrialStatus
from tests.helpers import make_config

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def trial(
    number: int,
    state: TrialState,
    value: float | None = None,
    *,
    result: dict[str, Any] | None = None,
    seconds: float = 10,
    system: dict[str, Any] | None = None,
) -> FrozenTrial:
    finished = state.is_finished()
    frozen = create_trial(
        state=state,
        value=value if state == TrialState.COMPLETE else None,
        params={"x": 0.5},
        distributions={"x": FloatDistribution(0, 1)},
        user_attrs={RESULT_ATTR: result} if result else {},
        system_attrs=system or {},
        intermediate_values={1: value} if value is not None and state == TrialState.PRUNED else {},
    )
    frozen.number = number
    frozen.datetime_start = T0 + timedelta(seconds=100 * number)
    frozen.datetime_complete = frozen.datetime_start + timedelta(seconds=seconds) if finished else None
    return frozen


OWN_FAULT = {"reason": "exit code 1", "counts": True}
RUNNER_DIED = {"reason": "runner died", "counts": False}


def test_the_budget_counts_finished_running_and_self_inflicted_failures_only() -> None:
    trials = [
        trial(0, TrialState.COMPLETE, 0.5),
        trial(1, TrialState.PRUNED, 0.1),
        trial(2, TrialState.FAIL, result=OWN_FAULT),
        trial(3, TrialState.FAIL, result=RUNNER_DIED),
        trial(4, TrialState.RUNNING),
        trial(5, TrialState.WAITING),
    ]
    assert limits.budget_used(trials) == 4
    assert [t.number for t in limits.failed_trials(trials)] == [2]


def test_max_failed_trials_fails_the_sweep() -> None:
    spec = make_config({"tuning.max_failed_trials": 2})
    one = [trial(0, TrialState.FAIL, result=OWN_FAULT), trial(1, TrialState.FAIL, result=RUNNER_DIED)]
    assert limits.verdict(spec, one) is None
    found = limits.verdict(spec, [*one, trial(2, TrialState.FAIL, result=OWN_FAULT)])
    assert found is not None and found.status == SweepStatus.FAILED
    assert found.message == "2 trials failed (tuning.max_failed_trials is 2); last: exit code 1"


@pytest.mark.parametrize(("objective", "target", "reached"), [("Maximize", 0.9, True), ("Minimize", 0.2, False)])
def test_target_objective_value(objective: str, target: float, reached: bool) -> None:
    spec = make_config(
        {"tuning.objective_type": objective, "tuning.completion_criteria.target_objective_value": target}
    )
    trials = [trial(0, TrialState.COMPLETE, 0.5), trial(1, TrialState.COMPLETE, 0.95)]
    found = limits.verdict(spec, trials)
    assert (found is not None) == reached
    if found:
        assert found.status == SweepStatus.COMPLETED and "trial 1 reached the target objective 0.9" in found.message


def test_max_jobs_not_improving_counts_trials_since_the_best() -> None:
    spec = make_config({"tuning.completion_criteria.max_jobs_not_improving": 3})
    trials = [
        trial(0, TrialState.COMPLETE, 0.5),
        trial(1, TrialState.COMPLETE, 0.7),  # best
        trial(2, TrialState.COMPLETE, 0.6),
        trial(3, TrialState.PRUNED, 0.9),  # a pruned trial never ran its budget: no improvement
        trial(4, TrialState.FAIL, result=OWN_FAULT),  # failures are not finished jobs
    ]
    assert limits.jobs_since_improvement(trials, spec.objective) == 2
    assert limits.verdict(spec, trials) is None
    found = limits.verdict(spec, [*trials, trial(5, TrialState.COMPLETE, 0.7)])  # equal is not better
    assert found is not None and "no improvement in the last 3 trials" in found.message


def test_grid_exhaustion_counts_started_grid_points() -> None:
    space = {"system": {"search_space": {"a": [1, 2], "b": ["x"]}}}
    started = [trial(0, TrialState.COMPLETE, 0.5, system={**space["system"], "grid_id": 0})]
    assert not limits.grid_exhausted(started)
    assert limits.grid_exhausted([*started, trial(1, TrialState.RUNNING, system={**space["system"], "grid_id": 1})])
    assert not limits.grid_exhausted([trial(0, TrialState.COMPLETE, 0.5)])  # not a grid sweep


def test_a_study_trial_as_a_neutral_trial() -> None:
    done = trial(3, TrialState.COMPLETE, 0.8)
    done.user_attrs = {
        RUN_ATTR: {"params": {"x": 0.5, "k": 2}, "model_dir": "/m/3", "log_path": "/l/3"},
        RESULT_ATTR: {"metrics": {"accuracy": 0.8, "loss": 0.2}, "curves": {"accuracy": [[1, 0.6], [2, 0.8]]}},
    }
    neutral = to_trial(done, "accuracy")
    assert neutral.id == "trial-0003" and neutral.status == TrialStatus.COMPLETED and neutral.objective == 0.8
    assert neutral.params == {"x": 0.5, "k": 2} and neutral.curves == {"accuracy": [(1, 0.6), (2, 0.8)]}
    assert neutral.model_uri is None  # the trial saved nothing into its model dir
    assert neutral.log_path == "/l/3" and neutral.started_at == T0 + timedelta(seconds=300)

    stopped = trial(4, TrialState.FAIL, result={"reason": "stopped: sweep deadline", "stopped": True})
    assert to_trial(stopped, "accuracy").status == TrialStatus.STOPPED
    failed = trial(5, TrialState.FAIL, result=OWN_FAULT)
    assert to_trial(failed, "accuracy").failure_reason == "exit code 1"
    assert to_trial(trial(6, TrialState.WAITING), "accuracy").status == TrialStatus.PENDING

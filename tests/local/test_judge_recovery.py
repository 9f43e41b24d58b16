"""The loop's seams alone: judging a finished trial, the trial record, recovery, Optuna's internals."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo_flow.adapters.local import optuna_access, recovery
from hpo_flow.adapters.local.journal import journal_file
from hpo_flow.adapters.local.judge import TrialExit, judge
from hpo_flow.adapters.local.state import RESULT_ATTR, RETRY_ATTR, RUN_ATTR, STOP_ATTR, TrialRecord

pytestmark = pytest.mark.unit


def judged(**seen: object) -> tuple[TrialState, float | None, TrialRecord]:
    base: dict[str, object] = {"exit_code": 0, "objective": 0.5}
    base.update(seen)
    verdict = judge(
        TrialExit(**base),  # type: ignore[arg-type]
        objective="accuracy",
        objective_regex="accuracy: ([0-9.]+)",
        trial_timeout_s=30,
        describe_exit="exit code 3",
    )
    return verdict.state, verdict.value, verdict.record


@pytest.mark.parametrize(
    ("seen", "state", "reason", "counts", "stopped"),
    [
        ({}, TrialState.COMPLETE, None, True, False),
        ({"pruned": True}, TrialState.PRUNED, "stopped early by the early-stopping policy", True, False),
        ({"timed_out": True, "exit_code": -9}, TrialState.FAIL, "timeout after 30s", True, False),
        (
            {"exit_code": 3, "last_stderr": "ValueError: boom"},
            TrialState.FAIL,
            "exit code 3: ValueError: boom",
            True,
            False,
        ),
        (
            {"objective": None},
            TrialState.FAIL,
            "exited 0 without printing the objective metric 'accuracy'",
            True,
            False,
        ),
        ({"objective": math.nan}, TrialState.FAIL, "objective accuracy is nan", True, False),
        # a stop wins over whatever the trial printed or did, and never uses the budget
        ({"stop_reason": "cancelled", "pruned": True}, TrialState.FAIL, "stopped: cancelled", False, True),
        ({"stop_reason": "worker left", "retry": True}, TrialState.FAIL, "stopped: worker left (it will", False, False),
    ],
)
def test_judge_decides_state_reason_and_budget_in_one_order(
    seen: dict[str, object], state: TrialState, reason: str | None, counts: bool, stopped: bool
) -> None:
    got_state, value, record = judged(**seen)
    assert got_state == state
    assert value == (0.5 if state == TrialState.COMPLETE else None)
    assert (record.reason is None) == (reason is None)
    assert record.reason is None or record.reason.startswith(reason)  # type: ignore[arg-type]
    assert (record.counts, record.stopped) == (counts, stopped)


def test_judge_masks_secrets_in_the_last_stderr_line() -> None:
    _, _, record = judged(exit_code=1, last_stderr="cannot connect to postgresql://u:hunter2secret@db/x")
    assert "hunter2secret" not in (record.reason or "")


def test_trial_record_round_trips_and_ignores_what_it_does_not_know() -> None:
    record = TrialRecord(reason="r", counts=True, metrics={"a": 1.0}, curves={"a": [[1, 1.0]]}, exit_code=0)
    frozen = optuna.trial.create_trial(state=TrialState.FAIL, user_attrs={RESULT_ATTR: {**record.to_attr(), "x": 1}})
    assert TrialRecord.of(frozen) == record
    assert TrialRecord.of(optuna.trial.create_trial(state=TrialState.FAIL)) == TrialRecord()


def _study(tmp_path: Path) -> optuna.Study:
    storage = optuna.storages.JournalStorage(journal_file(str(tmp_path / "j")))
    return optuna.create_study(storage=storage, study_name="s")


def _running(study: optuna.Study, run: dict[str, object] | None) -> optuna.trial.FrozenTrial:
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    if run is not None:
        trial.set_user_attr(RUN_ATTR, run)
    return study.get_trials(deepcopy=False)[trial.number]


def test_a_dead_trial_is_failed_with_its_reason_and_retried_once(tmp_path: Path) -> None:
    study = _study(tmp_path)
    frozen = _running(study, {"params": {"x": 0.25}, "host": "elsewhere", "worker": "w1"})
    dead = recovery.DeadTrial(frozen, "worker w1 on elsewhere stopped sending heartbeats")
    assert recovery.fail_and_retry(study, dead) is True
    assert recovery.fail_and_retry(study, dead) is False  # a second recoverer owes nothing
    trials = study.get_trials(deepcopy=False)
    assert trials[0].state == TrialState.FAIL
    record = TrialRecord.of(trials[0])
    assert record.reason == "worker w1 on elsewhere stopped sending heartbeats; retried as a new trial"
    assert not record.counts
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    assert len(waiting) == 1 and waiting[0].user_attrs[RETRY_ATTR] == 0
    assert waiting[0].system_attrs["fixed_params"] == trials[0].params


def test_a_trial_that_finished_meanwhile_is_left_alone(tmp_path: Path) -> None:
    """What crashed the survivor of issue 12: the trial is no longer running when recovery comes."""
    study = _study(tmp_path)
    frozen = _running(study, {"host": "elsewhere"})
    study.tell(frozen.number, state=TrialState.FAIL)
    assert recovery.fail_and_retry(study, recovery.DeadTrial(frozen, "gone")) is False
    assert len(study.get_trials(deepcopy=False)) == 1


def test_a_dead_trial_of_a_sweep_that_is_over_is_not_retried(tmp_path: Path) -> None:
    study = _study(tmp_path)
    study.set_user_attr(STOP_ATTR, {"reason": "cancel"})
    frozen = _running(study, None)
    assert recovery.fail_and_retry(study, recovery.DeadTrial(frozen, "runner died"))
    assert TrialRecord.of(study.get_trials()[0]).reason == "runner died; not retried: the sweep is over"
    assert len(study.get_trials()) == 1


def test_find_dead_names_trials_without_a_launch_record_and_leaves_live_ones(tmp_path: Path) -> None:
    study = _study(tmp_path)
    _running(study, None)  # claimer died between ask and launch
    _running(study, {"host": "here", "worker": "me"})  # this loop's own
    _running(study, {"host": "other", "worker": "w2"})  # a journal has no heartbeats: never judged stale
    dead = recovery.find_dead(study, study.get_trials(), host="here", worker_id="me", running_here=set())
    assert [d.trial.number for d in dead] == [0]


def test_the_optuna_internals_we_use_still_exist(tmp_path: Path) -> None:
    study = _study(tmp_path)
    frozen = _running(study, None)
    assert optuna_access.storage_id(frozen) == frozen._trial_id
    assert len(optuna_access.all_trials(study)) == 1
    assert optuna_access.set_trial_attr(study, frozen, "k", 1)
    assert optuna_access.fresh(study, frozen).user_attrs["k"] == 1
    assert optuna_access.fail_if_running(study, frozen)
    assert not optuna_access.fail_if_running(study, frozen)
    assert not optuna_access.set_trial_attr(study, frozen, "k", 2)
    assert optuna_access.stale_trial_ids(study) == set()  # no heartbeats in a journal
    assert hasattr(optuna_access.journal_backend(optuna_access.storage_of(study)), "sync")
    rdb = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'h.db'}", heartbeat_interval=10, grace_period=20)
    beating = optuna.create_study(storage=rdb)
    trial = beating.ask()
    optuna_access.record_heartbeat(beating, trial)
    assert optuna_access.heartbeats(beating) and optuna_access.stale_trial_ids(beating) == set()
    # The GP's internals (optuna._gp), checked at import from Optuna's source: nothing is missing, so
    # the Bayesian search fits MarginalGPSampler (tests/local/test_search.py has the fallbacks).
    assert optuna_access.MARGINAL_GP_MISSING == () and optuna_access.GP_SAMPLER_PRESENT
    # A distribution's range test, Optuna's own and the public-attribute fallback, agree.
    float_dist = optuna.distributions.FloatDistribution(0.0, 1.0, step=0.25)
    int_dist = optuna.distributions.IntDistribution(1, 9, step=2)
    choice = optuna.distributions.CategoricalDistribution(["a", "b"])
    for dist, values in ((float_dist, (0.5, 0.6, 1.5)), (int_dist, (3, 4, 11)), (choice, (0, 1, 2))):
        for value in values:
            expected = dist._contains(value)
            assert optuna_access.contains(dist, value) is expected
            bare = type("Bare", (), dict(vars(dist)))()  # the same attributes, no _contains
            assert optuna_access.contains(bare, value) is expected
